"""The routing policies a fresh install serves, built from the config.

``auto`` is the configured policy file when there is one, else a cascade from the small to the large
local model gated on ``routing.cascade_signal`` (default: the small model's mean token log-probability). Tasks
named in ``routing.specialists`` (by default ``kpi``, to the ``northwind-kpi`` tier) go to their specialised model
first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from smallfirst.routing.cascade import Cascade

if TYPE_CHECKING:
    from smallfirst.config import Settings


def default_policies(settings: Settings) -> dict[str, Any]:
    """Policy name -> policy: ``cascade``, ``auto``, and each saved policy in ``<home>/policies/*.json``."""
    r = settings.routing

    def _cascade(name: str) -> Cascade:
        return Cascade(r.small, r.large, r.cascade_threshold, r.cascade_signal, name=name, samples=r.cascade_samples)

    policies: dict[str, Any] = {"cascade": _cascade("cascade")}
    auto: Any = _cascade("auto")
    if r.policy:
        path = Path(r.policy).expanduser()
        from smallfirst.routing.policy_store import load_policy

        auto = load_policy(path, settings=settings)
    if r.specialists:
        from smallfirst.routing.specialists import SpecialistPolicy, configured_threshold

        auto = SpecialistPolicy("auto", dict(r.specialists), auto, lambda name: configured_threshold(name, settings))
    policies["auto"] = auto
    for path in sorted((settings.home / "policies").glob("*.json")):
        from smallfirst.routing.policy_store import load_policy

        policies.setdefault(path.stem, load_policy(path, settings=settings))
    return policies
