"""Names to Model objects. Backends join by registration, so a new one never edits this file's callers.

A backend is a factory ``(name, spec, settings) -> Model``, registered directly or as a lazy
``"module:function"`` string, so that importing smallfirst never imports llama.cpp, torch or onnxruntime.
Third-party packages register through the ``smallfirst.backends`` entry-point group.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata as md
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from smallfirst.errors import ConfigError, UnknownModelError
from smallfirst.models.catalog import CATALOG

if TYPE_CHECKING:
    from smallfirst.config import ModelSpec, Settings
    from smallfirst.models.model import BlockingModel, Model

Factory = Callable[[str, "ModelSpec", "Settings"], "Model | BlockingModel"]

_BACKENDS: dict[str, Factory | str] = {
    "gguf": "smallfirst.models.llama:build",
    "openai": "smallfirst.models.openai_http:build",
    "classifier": "smallfirst.specialize.tier:build",
    "kpi": "smallfirst.kpi.kpitier:build",
    "replay": "smallfirst.models.replay:build",
}

#: tiers every install serves without configuration, as ModelSpec fields; the config may redefine them
BUILTIN_TIERS: dict[str, dict[str, object]] = {
    # the sales-KPI pipeline over the shipped Northwind database (smallfirst.kpi.kpitier)
    "northwind-kpi": {"backend": "kpi"},
}


def register_backend(name: str, factory: Factory | str) -> None:
    """Make ``backend = name`` in a model's config build it with ``factory(name, spec, settings)``, which returns
    an async Model or a blocking backend; a ``"module:function"`` string is imported on first use."""
    _BACKENDS[name] = factory


def _factory(backend: str) -> Factory:
    if backend not in _BACKENDS:
        for ep in md.entry_points(group="smallfirst.backends"):
            _BACKENDS.setdefault(ep.name, f"{ep.value}")
    target = _BACKENDS.get(backend)
    if target is None:
        raise ConfigError(f"unknown backend {backend!r}", hint=f"known: {', '.join(sorted(_BACKENDS))}")
    if isinstance(target, str):
        module, func = target.split(":")
        target = getattr(importlib.import_module(module), func)
        _BACKENDS[backend] = target
    return target


def specs(settings: Settings) -> dict[str, ModelSpec]:
    """Every model a request may name: the catalogue, the built-in tiers, specialised tiers, then the config's own
    models (which win)."""
    from smallfirst.config import ModelSpec

    out = {name: ModelSpec(backend="gguf", catalog=name) for name in CATALOG}
    out.update({name: ModelSpec(**fields) for name, fields in BUILTIN_TIERS.items()})  # type: ignore[arg-type]
    out.update(registered_tiers(settings))
    out.update(settings.models)
    return out


def registered_tiers(settings: Settings) -> dict[str, ModelSpec]:
    """Specialised models register by writing ``<home>/specialized/<name>/tier.json`` last, after their
    artefact is complete, so a half-trained model is never routable."""
    import json

    from smallfirst.config import ModelSpec

    out: dict[str, ModelSpec] = {}
    for manifest in sorted((settings.home / "specialized").glob("*/tier.json")):
        try:
            data = json.loads(manifest.read_text())
            name = data.pop("name")
            out[name] = ModelSpec(**data)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{manifest} is not a valid tier manifest ({exc})",
                              hint="delete it or run `smallfirst specialize` again") from None
    return out


def resolve(name: str, settings: Settings, *, allow_paths: bool = True) -> ModelSpec:
    """The spec of model ``name``: a configured model, a registered tier, a catalogue entry, or (from the CLI and
    config, ``allow_paths``) a path to a ``.gguf`` file. The gateway passes ``allow_paths=False``: a request names
    models, never files on the server's disk. Raises UnknownModelError naming the known models."""
    from smallfirst.config import ModelSpec

    known = specs(settings)
    if name in known:
        return known[name]
    if allow_paths and name.endswith(".gguf"):
        if not Path(name).expanduser().exists():
            raise UnknownModelError(f"model file {name} does not exist", hint="give the path of a local .gguf file")
        return ModelSpec(backend="gguf", path=canonical_path(name))
    hint = f"known: {', '.join(known)}; run `smallfirst models`"
    raise UnknownModelError(f"unknown model {name!r}", hint=hint + ("" if not allow_paths else " or pass a .gguf path"))


def canonical_path(name: str) -> str:
    """A ``.gguf`` path as one spelling (absolute, symlinks and ``..`` resolved), so that one file is one model."""
    return str(Path(name).expanduser().resolve())


def model_file(spec: ModelSpec, settings: Settings) -> Path | None:
    """The local file a spec loads (a GGUF path, or a catalogue model's cached file), or None for an endpoint or
    a backend without one."""
    if spec.backend != "gguf":
        return None
    if spec.path:
        return Path(spec.path).expanduser().resolve()
    from smallfirst.models import catalog, files

    entry = catalog.CATALOG.get(spec.catalog or "")
    return files.cached_path(entry, settings.cache_dir).resolve() if entry is not None else None


def servable(name: str, spec: ModelSpec, settings: Settings) -> bool:
    """Whether a request for ``name`` can be answered here without a pull: endpoints and tiers are assumed so,
    a GGUF model when its file is on disk and starts with the GGUF magic bytes (one 4-byte read), and, for a
    catalogue model, is whole by its pinned size or its verification marker (``files.looks_whole``: a pull cut
    short is not listed). A file of your own that passes and still fails to load answers 503."""
    path = model_file(spec, settings)
    if path is None:
        return True
    try:
        with path.open("rb") as fh:
            if fh.read(4) != b"GGUF":
                return False
            if spec.path or not spec.catalog:
                return True
            from smallfirst.models import catalog, files

            entry = catalog.CATALOG.get(spec.catalog)
            return entry is None or files.looks_whole(entry, path)
    except OSError:  # missing, a directory, or unreadable
        return False


log = logging.getLogger("smallfirst.models")


def build(name: str, settings: Settings) -> Model | BlockingModel:
    """The backend object for model ``name``: an async Model or a blocking in-process backend. Raises
    UnknownModelError, ConfigError, or ModelFileError (a file that is missing or not what it claims)."""
    spec = resolve(name, settings)
    return _factory(spec.backend)(name, spec, settings)


class ModelPool:
    """Loaded models by name, built once and shared (loading a GGUF costs seconds and hundreds of MB), each
    served through the async Model contract: blocking backends on worker threads of their own.

    One file is loaded once, whatever the names that point at it. Loaded files are bounded by ``max_bytes``
    (``server.max_model_bytes``, default half the machine's memory): beyond it, the least recently used model
    that no request is using is freed. A load is logged as its own event (``smallfirst.models`` logger, and
    ``load_observers`` with the name and seconds), never as part of a request.

    ``wrap`` is applied to each model once built and made async, e.g. to memoise or instrument it."""

    def __init__(self, settings: Settings, wrap: Callable[[Model], Model] | None = None) -> None:
        from smallfirst.models.threads import Workers

        s = settings.server
        self.settings = settings
        self.wrap = wrap
        self.workers = Workers(s.workers_per_model, s.queue_size, s.overload_retry_after_s)
        self.max_bytes = s.max_model_bytes or _half_memory()
        self.load_observers: list[Callable[[str, float], None]] = []
        self._models: OrderedDict[str, Model] = OrderedDict()
        self._backends: dict[str, Model | BlockingModel] = {}
        self._files: dict[str, str] = {}  # name -> the file it loaded (canonical path)
        self._sizes: dict[str, int] = {}  # file -> bytes
        self._in_use: dict[str, int] = {}
        self._lock = threading.RLock()

    def get(self, name: str) -> Model:
        """The async model for ``name``, built on first use (which may take seconds: from async code, prefer
        :meth:`aget`)."""
        with self._lock:
            model = self._models.get(name)
            if model is not None:
                self._models.move_to_end(name)
                return model
            from smallfirst.models.model import is_async
            from smallfirst.models.threads import Threaded

            spec = resolve(name, self.settings)
            path = model_file(spec, self.settings)
            key = str(path) if path is not None else None
            shared = next((n for n, f in self._files.items() if key is not None and f == key), None)
            start = time.perf_counter()
            backend = self._backends[shared] if shared is not None else _factory(spec.backend)(name, spec,
                                                                                                 self.settings)
            seconds = time.perf_counter() - start
            if is_async(backend):
                model = backend  # type: ignore[assignment]
            else:
                model = Threaded(backend, self.workers, name=name)  # type: ignore[arg-type]
            if self.wrap is not None:
                model = self.wrap(model)
            self._backends[name] = backend
            self._models[name] = model
            if key is not None:
                self._files[name] = key
                self._sizes.setdefault(key, path.stat().st_size if path is not None and path.exists() else 0)
            if shared is None:
                log.info("loaded model %s in %.2f s", name, seconds)
                for observe in self.load_observers:
                    observe(name, seconds)
            self._evict(keep=name)
            return model

    async def aget(self, name: str) -> Model:
        """:meth:`get` without blocking the event loop while a model loads."""
        model = self._models.get(name)
        if model is not None:
            return model
        import asyncio

        return await asyncio.to_thread(self.get, name)

    @contextlib.asynccontextmanager
    async def using(self, name: str) -> AsyncIterator[Model]:
        """The model for ``name``, kept loaded (never evicted) until the block ends."""
        with self._lock:
            self._in_use[name] = self._in_use.get(name, 0) + 1
        try:
            yield await self.aget(name)
        finally:
            with self._lock:
                self._in_use[name] -= 1

    def _evict(self, keep: str) -> None:
        """Free least recently used idle models while the loaded files exceed ``max_bytes``."""
        def loaded_bytes() -> int:
            return sum(self._sizes[f] for f in set(self._files.values()))

        for name in list(self._models):
            if loaded_bytes() <= self.max_bytes:
                return
            if name == keep or self._in_use.get(name, 0) or name not in self._files:
                continue
            backend = self._backends.pop(name)
            del self._models[name]
            file = self._files.pop(name)
            if file not in self._files.values():  # no other name shares the file
                del self._sizes[file]
                close = getattr(backend, "close", None)
                if close is not None:
                    close()
                log.info("freed model %s (over server.max_model_bytes)", name)

    def backend(self, name: str) -> Model | BlockingModel:
        """The backend object behind ``name`` (a LlamaModel, a ClassifierModel...), without the pool's wrappers."""
        self.get(name)
        return self._backends[name]

    def loaded(self) -> list[str]:
        """Names of the models loaded now."""
        return list(self._models)

    async def aclose_sessions(self) -> None:
        """Close what the natively async backends (endpoints) opened on the running event loop: their HTTP
        sessions belong to it. Blocking backends hold threads and memory instead, which :meth:`close` frees."""
        from smallfirst.models.model import is_async

        for backend in list(self._backends.values()):
            if is_async(backend):
                await backend.aclose()  # type: ignore[union-attr]

    def close(self) -> None:
        """Free every in-process backend and stop the worker threads. Endpoint sessions are closed by their
        event loop (``Service.close``)."""
        with self._lock:
            backends = list({id(b): b for b in self._backends.values()}.values())
            self._models.clear()
            self._backends.clear()
            self._files.clear()
            self._sizes.clear()
        self.workers.close()
        for backend in backends:
            close = getattr(backend, "close", None)
            if close is not None:
                close()


def _half_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError):
        return 8 << 30
