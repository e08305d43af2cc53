"""Routers join by registration, not by an edit to the core: ``register_router(name, factory)`` in code, or an
entry point in the ``smallfirst.routers`` group of an installed package (``name = "module:Factory"``), found
the first time a router of that name is asked for."""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Callable
from typing import Any

from smallfirst.errors import ConfigError
from smallfirst.routing.router import Router

__all__ = ["register_router", "make_router", "router_names"]

_FACTORIES: dict[str, Callable[..., Router]] = {}
_builtins_loaded = False


def register_router(name: str, factory: Callable[..., Router]) -> None:
    """Make ``make_router(name, **params)`` call ``factory(**params)``, which returns an unfitted Router."""
    _FACTORIES[name] = factory


def _entry_points() -> None:
    for ep in md.entry_points(group="smallfirst.routers"):
        _FACTORIES.setdefault(ep.name, ep.load())


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        from smallfirst.routing import builtin  # noqa: F401  (registers on import)


def router_names() -> list[str]:
    """Every registered router name, built-in and from entry points."""
    _load_builtins()
    _entry_points()
    return sorted(_FACTORIES)


def make_router(name: str, **params: Any) -> Router:
    """An unfitted router. Raises ConfigError for an unknown name or parameters its factory rejects."""
    _load_builtins()
    if name not in _FACTORIES:
        _entry_points()
    if name not in _FACTORIES:
        raise ConfigError(f"unknown router {name!r}", hint=f"known: {', '.join(sorted(_FACTORIES))}")
    try:
        return _FACTORIES[name](**params)
    except TypeError as exc:
        raise ConfigError(f"router {name!r} rejects its parameters {params}: {exc}") from None
