"""The routing policies a fresh install serves, built from the config.

``auto`` is the configured policy file when there is one, else a cascade from the small to the large
local model gated on the small model's mean token log-probability.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smallfirst.models.records import Completion
from smallfirst.routing.records import Decision

if TYPE_CHECKING:
    from smallfirst.config import Settings


@dataclass
class LogprobCascade:
    """Answer with ``small``; keep the answer when its mean token log-probability clears ``threshold``."""

    name: str
    small: str
    large: str
    threshold: float

    def decide(self, prompt: str, task: str | None = None) -> Decision:
        return Decision(model=self.small, policy=self.name, threshold=self.threshold,
                        reason=f"cascade: try {self.small} first")

    def accept(self, completion: Completion, prompt: str, task: str | None = None) -> tuple[bool, float, str]:
        conf = completion.mean_logprob
        if conf is None:
            return False, float("-inf"), f"cascade: {completion.model} gave no log-probabilities; escalated"
        if conf >= self.threshold:
            return True, conf, f"cascade: mean logprob {conf:.3f} >= {self.threshold:g}; kept {completion.model}"
        return False, conf, f"cascade: mean logprob {conf:.3f} < {self.threshold:g}; escalated to {self.large}"


def default_policies(settings: Settings) -> dict[str, Any]:
    r = settings.routing
    cascade = LogprobCascade("cascade", r.small, r.large, r.cascade_threshold)
    policies: dict[str, Any] = {"cascade": cascade}
    auto: Any = LogprobCascade("auto", r.small, r.large, r.cascade_threshold)
    if r.policy:
        path = Path(r.policy).expanduser()
        from smallfirst.routing.policy_store import load_policy

        auto = load_policy(path, settings=settings)
    policies["auto"] = auto
    for path in sorted((settings.home / "policies").glob("*.json")):
        from smallfirst.routing.policy_store import load_policy

        policies.setdefault(path.stem, load_policy(path, settings=settings))
    return policies
