"""Scenarios on an outcome data set: LLM-only, SLM-only, hybrid routing and cascades, each a choice of model
per prompt, priced into value-stick rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from smallfirst.economics.config import EconConfig
from smallfirst.economics.costing import benefit_matrix, cost_matrix, price_matrix, tokens_matrix
from smallfirst.economics.stick import RequestValue
from smallfirst.economics.value import ZERO
from smallfirst.errors import DataError
from smallfirst.outcomes import Outcomes


@dataclass(frozen=True)
class Scenario:
    name: str
    #: model index per prompt
    choice: np.ndarray
    #: "single" (one model for all), "routing" (pays the routing overhead) or "cascade" (also pays every
    #: cheaper model tried before the chosen one)
    kind: str = "routing"
    note: str = ""


@dataclass(frozen=True)
class PricedOutcomes:
    """B, P and C per prompt and model, computed once and shared by every scenario."""

    outcomes: Outcomes
    benefit: np.ndarray
    price: np.ndarray
    cost: np.ndarray
    tokens: np.ndarray
    baseline: int
    extra: dict = field(default_factory=dict)


def price_outcomes(outcomes: Outcomes, config: EconConfig, baseline: str | None = None) -> PricedOutcomes:
    base = len(outcomes.models) - 1 if baseline is None else outcomes.model_index(baseline)
    return PricedOutcomes(
        outcomes,
        benefit_matrix(outcomes, config),
        price_matrix(outcomes, config),
        cost_matrix(outcomes, config),
        tokens_matrix(outcomes),
        base,
    )


def choice_array(outcomes: Outcomes, choice: Sequence[int | str] | np.ndarray) -> np.ndarray:
    arr = np.asarray([outcomes.model_index(c) if isinstance(c, str) else int(c) for c in choice], dtype=int)
    if len(arr) != len(outcomes):
        raise DataError(
            f"a routing decision per prompt is needed: got {len(arr)} for {len(outcomes)} prompts"
        )
    if arr.size and (arr.min() < 0 or arr.max() >= len(outcomes.models)):
        raise DataError(f"model index out of range 0..{len(outcomes.models) - 1}")
    return arr


def standard_scenarios(
    outcomes: Outcomes,
    hybrids: Mapping[str, Sequence[int | str] | np.ndarray] | None = None,
    *,
    cascades: Mapping[str, Sequence[int | str] | np.ndarray] | None = None,
    specialised: str | None = None,
    baseline: str | None = None,
    small: str | None = None,
) -> list[Scenario]:
    """LLM-only (the baseline, default the last model), SLM-only (default the first), the given hybrids
    and cascades, and a specialised small model where one is given."""
    n = len(outcomes)
    big = len(outcomes.models) - 1 if baseline is None else outcomes.model_index(baseline)
    little = 0 if small is None else outcomes.model_index(small)
    out = [
        Scenario("LLM-only", np.full(n, big), "single", outcomes.models[big]),
        Scenario("SLM-only", np.full(n, little), "single", outcomes.models[little]),
    ]
    for name, ch in (hybrids or {}).items():
        out.append(Scenario(name, choice_array(outcomes, ch), "routing"))
    for name, ch in (cascades or {}).items():
        out.append(Scenario(name, choice_array(outcomes, ch), "cascade"))
    if specialised:
        out.append(
            Scenario("specialised", np.full(n, outcomes.model_index(specialised)), "single", specialised)
        )
    return out


def scenario_rows(priced: PricedOutcomes, scenario: Scenario, config: EconConfig) -> list[RequestValue]:
    o = priced.outcomes
    overhead = config.overhead.per_request if scenario.kind in ("routing", "cascade") else ZERO
    wts_share = config.wts_share
    rows = []
    for i, j in enumerate(scenario.choice):
        j = int(j)
        wasted = sum((priced.cost[i, k] for k in range(j)), ZERO) if scenario.kind == "cascade" else ZERO
        cost = priced.cost[i, j] + wasted + overhead
        rows.append(
            RequestValue(
                task=o.tasks[i],
                model=o.models[j],
                benefit=priced.benefit[i, j],
                price=priced.price[i, j],
                cost=cost,
                baseline_cost=priced.cost[i, priced.baseline],
                small=j != priced.baseline,
                quality=float(o.quality[i, j]),
                tokens=int(priced.tokens[i, j]),
                wts=None if wts_share is None else cost * type(cost)(repr(wts_share)),
                wasted=wasted,
                overhead=overhead,
            )
        )
    return rows
