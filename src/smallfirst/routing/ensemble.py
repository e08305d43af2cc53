"""A blend of routers whose scores estimate the same thing (the strong-over-weak quality gain)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from smallfirst.outcomes import Outcomes
from smallfirst.routing.factories import make_router
from smallfirst.routing.router import Router

__all__ = ["EnsembleRouter"]


class EnsembleRouter(Router):
    """``members``: router specs as dicts ``{"router": name, **params}``; ``weights``: one per member."""

    name = "ensemble"

    def __init__(self, members: Sequence[dict[str, Any]] = (
            {"router": "logistic", "features": ["static", "task"]},
            {"router": "knn", "features": ["static"], "k": 50}),
            weights: Sequence[float] | None = None) -> None:
        members = [dict(m) for m in members]
        super().__init__(members=members, weights=list(weights) if weights else [1.0] * len(members))
        self._routers = [make_router(m["router"], **{k: v for k, v in m.items() if k != "router"})
                         for m in members]

    def _fit(self, outcomes: Outcomes) -> None:
        for r in self._routers:
            r.fit(outcomes)

    def _score_batch(self, prompts: list[str], tasks: list[str] | None) -> np.ndarray:
        w = np.asarray(self.params["weights"], float)
        parts = [wi * r.score_batch(prompts, tasks) for wi, r in zip(w, self._routers, strict=True)]
        return np.sum(parts, axis=0) / w.sum()

    def get_state(self) -> Any:
        """Each member's fitted state, and the model names seen in training."""
        return {"routers": [r.get_state() for r in self._routers], "models": self.models}

    def set_state(self, state: Any) -> None:
        """Restore what :meth:`get_state` returned."""
        for r, s in zip(self._routers, state["routers"], strict=True):
            r.set_state(s)
            r.fitted = True
        self.models = tuple(state["models"])
