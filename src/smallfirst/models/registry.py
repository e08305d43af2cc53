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
    from smallfirst.models.base import Model

Factory = Callable[[str, "ModelSpec", "Settings"], "Model"]

_BACKENDS: dict[str, Factory | str] = {
    "gguf": "smallfirst.models.llama:build",
    "openai": "smallfirst.models.openai_http:build",
    "classifier": "smallfirst.specialize.tier:build",
    "kpi": "smallfirst.kpi.kpitier:build",
}

#: tiers every install serves without configuration, as ModelSpec fields; the config may redefine them
BUILTIN_TIERS: dict[str, dict[str, object]] = {
    # the sales-KPI pipeline over the shipped Northwind database (smallfirst.kpi.kpitier)
    "northwind-kpi": {"backend": "kpi"},
}


def register_backend(name: str, factory: Factory | str) -> None:
    _BACKENDS[name] = factory


def _factory(backend: str) -> Factory:
    if backend not in _BACKENDS:
        for ep in md.entry_points(group="smallfirst.backends"):
            if ep.name == backend:
                _BACKENDS[backend] = ep.load()
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


def resolve(name: str, settings: Settings) -> ModelSpec:
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


def build(name: str, settings: Settings) -> Model:
    spec = resolve(name, settings)
    return _factory(spec.backend)(name, spec, settings)


class ModelPool:
    """Loaded models by name, built once and shared: loading a GGUF costs seconds and hundreds of MB."""

    def __init__(self, settings: Settings, wrap: Callable[[Model], Model] | None = None) -> None:
        self.settings = settings
        #: applied to each model once built, e.g. to memoise or instrument it
        self.wrap = wrap
        self._models: dict[str, Model] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Model:
        with self._lock:
            model = self._models.get(name)
            if model is None:
                model = build(name, self.settings)
                if self.wrap is not None:
                    model = self.wrap(model)
                self._models[name] = model
            return model

    def release(self, name: str) -> None:
        """Unload one model to free its memory."""
        with self._lock:
            model = self._models.pop(name, None)
        if model is not None:
            model.close()

    def loaded(self) -> list[str]:
        return list(self._models)

    def close(self) -> None:
        with self._lock:
            for model in self._models.values():
                model.close()
            self._models.clear()
