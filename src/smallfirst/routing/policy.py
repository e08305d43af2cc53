"""Policies turn a router's score into a Decision. Two models: one threshold. More: a ladder."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from smallfirst.errors import ConfigError
from smallfirst.routing.base import Router
from smallfirst.routing.records import Decision

__all__ = ["ThresholdPolicy", "LadderPolicy"]


@dataclass
class ThresholdPolicy:
    """Route to ``models[-1]`` iff ``score >= threshold``, else ``models[0]``.

    ``models`` are the serving names (cheapest first); they may differ from the names in the outcome data
    the router learned from.
    """

    router: Router
    threshold: float
    models: tuple[str, ...]
    name: str = "auto"
    target: str | None = None

    def __post_init__(self) -> None:
        if len(self.models) < 2:
            raise ConfigError(f"a threshold policy needs two models, got {list(self.models)}")

    def decide(self, prompt: str, task: str | None = None) -> Decision:
        score = self.router.score(prompt, task)
        strong = score >= self.threshold
        model = self.models[-1] if strong else self.models[0]
        cmp = ">=" if strong else "<"
        return Decision(model=model, policy=self.name, score=score, threshold=self.threshold,
                        reason=f"{self.router.name}: score {score:.3f} {cmp} {self.threshold:.3f}"
                               + (f" ({self.target})" if self.target else ""))


@dataclass
class LadderPolicy:
    """Per-model utility: pick argmax of predicted quality minus ``cost_weight`` x relative cost.

    Needs a router with ``predict_quality`` (the learned ones). ``costs`` are per request, one per model.
    """

    router: Router
    models: tuple[str, ...]
    costs: tuple[float, ...]
    cost_weight: float = 1.0
    name: str = "auto"
    target: str | None = None
    _rel: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.costs) != len(self.models):
            raise ConfigError(f"ladder: {len(self.models)} models but {len(self.costs)} costs")
        if not hasattr(self.router, "predict_quality"):
            raise ConfigError(f"router {self.router.name!r} cannot estimate per-model quality",
                              hint="use a learned router (logistic, gbm, knn) for a ladder")
        c = np.asarray(self.costs, float)
        self._rel = c / c.max() if c.max() > 0 else c

    def utilities(self, prompt: str, task: str | None = None) -> np.ndarray:
        q = self.router.predict_quality([prompt], None if task is None else [task])[0]  # type: ignore[attr-defined]
        return q - self.cost_weight * self._rel

    def decide(self, prompt: str, task: str | None = None) -> Decision:
        u = self.utilities(prompt, task)
        j = int(np.argmax(u))
        return Decision(model=self.models[j], policy=self.name, score=float(u[j]), threshold=self.cost_weight,
                        reason=f"ladder: best utility {u[j]:.3f} of {len(u)} models at cost weight "
                               f"{self.cost_weight:g}")
