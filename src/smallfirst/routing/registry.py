"""Routers join by registration, not by an edit to the core: ``register_router(name, factory)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smallfirst.errors import ConfigError
from smallfirst.routing.base import Router

__all__ = ["register_router", "make_router", "router_names"]

_FACTORIES: dict[str, Callable[..., Router]] = {}
_builtins_loaded = False


def register_router(name: str, factory: Callable[..., Router]) -> None:
    _FACTORIES[name] = factory


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        from smallfirst.routing import builtin  # noqa: F401  (registers on import)


def router_names() -> list[str]:
    _load_builtins()
    return sorted(_FACTORIES)


def make_router(name: str, **params: Any) -> Router:
    _load_builtins()
    if name not in _FACTORIES:
        raise ConfigError(f"unknown router {name!r}", hint=f"known: {', '.join(sorted(_FACTORIES))}")
    try:
        return _FACTORIES[name](**params)
    except TypeError as exc:
        raise ConfigError(f"router {name!r} rejects its parameters {params}: {exc}") from None
