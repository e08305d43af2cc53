"""Names to Model objects. Backends join by registration, so a new one never edits this file's callers.

A backend is a factory ``(name, spec, settings) -> Model``, registered directly or as a lazy
``"module:function"`` string, so that importing smallfirst never imports llama.cpp, torch or onnxruntime.
Third-party packages register through the ``smallfirst.backends`` entry-point group.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import threading
from collections.abc import Callable
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
    "replay": "smallfirst.models.replay:build",
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
    """Every model a request may name: the catalogue, then the config's own models (which win)."""
    from smallfirst.config import ModelSpec

    out = {name: ModelSpec(backend="gguf", catalog=name) for name in CATALOG}
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


def resolve(name: str, settings: Settings) -> ModelSpec:
    """The spec of model ``name``: a configured model, a registered tier, a catalogue entry, or (from the CLI and
    config) a path to a ``.gguf`` file. Raises UnknownModelError naming the known models."""
    from smallfirst.config import ModelSpec

    known = specs(settings)
    if name in known:
        return known[name]
    if name.endswith(".gguf"):
        if not Path(name).expanduser().exists():
            raise UnknownModelError(f"model file {name} does not exist", hint="give the path of a local .gguf file")
        return ModelSpec(backend="gguf", path=name)
    raise UnknownModelError(f"unknown model {name!r}",
                            hint=f"known: {', '.join(known)}; run `smallfirst models` or pass a .gguf path")


def build(name: str, settings: Settings) -> Model | BlockingModel:
    """The backend object for model ``name``: an async Model or a blocking in-process backend. Raises
    UnknownModelError, ConfigError, or ModelFileError (a file that is missing or not what it claims)."""
    spec = resolve(name, settings)
    return _factory(spec.backend)(name, spec, settings)


class ModelPool:
    """Loaded models by name, built once and shared (loading a GGUF costs seconds and hundreds of MB), each
    served through the async Model contract: blocking backends on worker threads of their own.

    ``wrap`` is applied to each model once built and made async, e.g. to memoise or instrument it."""

    def __init__(self, settings: Settings, wrap: Callable[[Model], Model] | None = None) -> None:
        from smallfirst.models.threads import Workers

        s = settings.server
        self.settings = settings
        self.wrap = wrap
        self.workers = Workers(s.workers_per_model, s.queue_size, s.overload_retry_after_s)
        self._models: dict[str, Model] = {}
        self._backends: dict[str, Model | BlockingModel] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Model:
        """The async model for ``name``, built on first use (which may take seconds: from async code, prefer
        :meth:`aget`)."""
        with self._lock:
            model = self._models.get(name)
            if model is None:
                from smallfirst.models.model import is_async
                from smallfirst.models.threads import Threaded

                backend = build(name, self.settings)
                model = backend if is_async(backend) else Threaded(backend, self.workers)  # type: ignore[arg-type]
                if self.wrap is not None:
                    model = self.wrap(model)
                self._backends[name] = backend
                self._models[name] = model
            return model

    async def aget(self, name: str) -> Model:
        """:meth:`get` without blocking the event loop while a model loads."""
        model = self._models.get(name)
        if model is not None:
            return model
        import asyncio

        return await asyncio.to_thread(self.get, name)

    def backend(self, name: str) -> Model | BlockingModel:
        """The backend object behind ``name`` (a LlamaModel, a ClassifierModel...), without the pool's wrappers."""
        self.get(name)
        return self._backends[name]

    def loaded(self) -> list[str]:
        """Names of the models built so far."""
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
            backends = list(self._backends.values())
            self._models.clear()
            self._backends.clear()
        self.workers.close()
        for backend in backends:
            close = getattr(backend, "close", None)
            if close is not None:
                close()
