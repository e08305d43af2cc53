"""Order prompts by expected quality gain per extra dollar, so a quality target is met as cheaply as possible.

A router's score is its estimate of what the strong model gains over the weak one on a prompt. Sending prompts to
the strong model in falling order of gain is the cheapest way to reach a quality level only when every strong call
costs the same extra. When they do not (a maths prompt with a long worked answer costs four times a multiple-choice
one), the cheapest way to reach a mean quality is the Lagrangian one: send a prompt to the strong model iff its
expected gain is at least lambda times the extra it costs, i.e. in falling order of gain per extra dollar (the
fractional knapsack). :class:`PerDollarRouter` wraps any router this way, with a cost model fitted on the same
outcomes: per model, cost = an intercept per task family + a rate per 1,000 prompt characters (least squares),
which the prompt's text and task give before any model runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from smallfirst.errors import DataError
from smallfirst.outcomes import Outcomes
from smallfirst.routing.router import Router

__all__ = ["CostModel", "PerDollarRouter"]


def _family(task: str | None) -> str:
    return (task or "").split("/")[0]


class CostModel:
    """Expected cost of a prompt on each of the outcomes' models (USD), from its task family and length.

    ``fit`` needs ``cost_usd`` for every prompt and model; unseen task families get the mean family intercept."""

    def __init__(self) -> None:
        self.families: list[str] = []
        self.coef: np.ndarray | None = None  # (n_families + 1, n_models)

    def _x(self, prompts: Sequence[str], tasks: Sequence[str] | None) -> np.ndarray:
        fams = [_family(t) for t in tasks] if tasks is not None else [""] * len(prompts)
        x = np.zeros((len(prompts), len(self.families) + 1))
        for i, f in enumerate(fams):
            if f in self.families:
                x[i, self.families.index(f)] = 1.0
            else:
                x[i, : len(self.families)] = 1.0 / max(len(self.families), 1)
        x[:, -1] = [len(p) / 1000.0 for p in prompts]
        return x

    def fit(self, outcomes: Outcomes) -> CostModel:
        """Least squares per model. Raises DataError when the outcomes carry no cost for some prompt."""
        cost = outcomes.cost_usd
        if cost is None or np.isnan(cost).any():
            raise DataError("ordering by gain per dollar needs every prompt's cost on every model (cost_usd)",
                            hint="use outcomes that record cost_usd (shadowed traffic and `smallfirst collect` "
                                 "do), or route by gain alone")
        self.families = sorted({_family(t) for t in outcomes.tasks})
        x = self._x(outcomes.prompts, outcomes.tasks)
        self.coef, *_ = np.linalg.lstsq(x, cost, rcond=None)
        return self

    def predict(self, prompts: Sequence[str], tasks: Sequence[str] | None) -> np.ndarray:
        """Expected cost per prompt and model, shape (n_prompts, n_models), USD."""
        if self.coef is None:
            raise DataError("the cost model is not fitted")
        return self._x(prompts, tasks) @ self.coef


class PerDollarRouter(Router):
    """``base`` (a registered router name) with ``base_params``; its score divided by the strong model's expected
    extra cost over the weak one (floored at ``floor`` times the median extra, so a prompt the cost model thinks
    free cannot jump the queue)."""

    name = "per-dollar"

    def __init__(self, base: str = "logistic", base_params: dict[str, Any] | None = None,
                 floor: float = 0.05) -> None:
        from smallfirst.routing.factories import make_router

        super().__init__(base=base, base_params=dict(base_params or {}), floor=floor)
        self.base = make_router(base, **(base_params or {}))
        self.costs = CostModel()
        self._min_extra = 0.0

    def _fit(self, outcomes: Outcomes) -> None:
        self.costs.fit(outcomes)
        self.base.fit(outcomes)
        extra = self._extra(outcomes.prompts, outcomes.tasks, floor=False)
        positive = extra[extra > 0]
        self._min_extra = float(np.median(positive) * self.params["floor"]) if len(positive) else 1e-12

    def _extra(self, prompts: Sequence[str], tasks: Sequence[str] | None, floor: bool = True) -> np.ndarray:
        c = self.costs.predict(prompts, tasks)
        extra = c[:, -1] - c[:, 0]
        return np.maximum(extra, self._min_extra) if floor else extra

    def _score_batch(self, prompts: list[str], tasks: list[str] | None) -> np.ndarray:
        return self.base.score_batch(prompts, tasks) / self._extra(prompts, tasks)

    def expected_costs(self, prompts: Sequence[str], tasks: Sequence[str] | None = None) -> np.ndarray:
        """The cost model's estimate per prompt and model, shape (n_prompts, n_models), USD."""
        return self.costs.predict(prompts, tasks)

    def get_state(self) -> Any:
        """The base router's state and the cost model (pickled into a saved policy)."""
        return {"base": self.base.get_state(), "base_models": self.base.models, "families": self.costs.families,
                "coef": self.costs.coef, "min_extra": self._min_extra}

    def set_state(self, state: Any) -> None:
        """Restore what :meth:`get_state` returned."""
        self.base.set_state(state["base"])
        self.base.models = tuple(state["base_models"])
        self.base.fitted = True
        self.costs.families = list(state["families"])
        self.costs.coef = state["coef"]
        self._min_extra = float(state["min_extra"])
