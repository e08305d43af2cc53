"""What a router decided for one request, as recorded in the request log."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    """The chosen model and why. ``score`` is the router's estimate that the request needs the larger
    model (higher means harder); ``threshold`` is the cut it was compared with."""

    model: str
    policy: str
    reason: str
    score: float | None = None
    threshold: float | None = None
    #: Models tried before ``model`` answered (a cascade's escalation, or fallbacks).
    attempted: tuple[str, ...] = ()
