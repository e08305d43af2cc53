"""The routing policies a fresh install serves, built from the config.

``auto`` is the configured policy file when there is one, else the large tier for every request: from the first
request, quality is the large model's. Nothing goes to a smaller model on a guess; the gateway's learning
(``smallfirst.learning``) replaces it with a learned policy once it has measured that one meets the target, and
writes that policy to ``<home>/learning/serving.json``, which ``auto`` then serves here too. (A
log-probability cascade at -0.6 served here before: on the project's own outcomes it measured no better than random,
APGR 0.467 against 0.466; see docs/cascade.md.) ``cascade`` is the built-in cascade from the small to the large tier,
gated on ``routing.cascade_signal``. Tasks named in
``routing.specialists`` (by default ``kpi``, to the ``northwind-kpi`` tier) go to their specialised model first,
whatever ``auto`` is otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from smallfirst.routing.cascade import Cascade
from smallfirst.routing.policy import FixedPolicy

if TYPE_CHECKING:
    from smallfirst.config import Settings


def default_policies(settings: Settings) -> dict[str, Any]:
    """Policy name -> policy: ``cascade``, ``auto``, and each saved policy in ``<home>/policies/*.json``."""
    r = settings.routing

    def _cascade(name: str) -> Cascade:
        return Cascade(r.small, r.large, r.cascade_threshold, r.cascade_signal, name=name, samples=r.cascade_samples)

    policies: dict[str, Any] = {"cascade": _cascade("cascade")}
    auto: Any = FixedPolicy(r.large, "auto", f"no routing policy learned yet: {r.large}, the large tier, answers "
                                             "every request")
    learned = settings.home / "learning" / "serving.json"
    if r.policy:
        path = Path(r.policy).expanduser()
        from smallfirst.routing.policy_store import load_policy

        auto = load_policy(path, settings=settings)
    elif settings.learning.enabled and learned.exists():
        from smallfirst.routing.policy_store import load_policy

        auto = load_policy(learned, settings=settings)
    policies["auto"] = with_specialists(auto, settings)
    for path in sorted((settings.home / "policies").glob("*.json")):
        from smallfirst.routing.policy_store import load_policy

        policies.setdefault(path.stem, load_policy(path, settings=settings))
    return policies


def with_specialists(policy: Any, settings: Settings) -> Any:
    """``policy`` behind the specialists of ``routing.specialists`` (task family -> tier): requests of those tasks go
    to their tier first, every other request to ``policy``. Returns ``policy`` itself when none are configured."""
    if not settings.routing.specialists:
        return policy
    from smallfirst.routing.specialists import SpecialistPolicy, configured_threshold

    return SpecialistPolicy(getattr(policy, "name", "auto"), dict(settings.routing.specialists), policy,
                            lambda name: configured_threshold(name, settings))
