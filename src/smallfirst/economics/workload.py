"""From a workload (an outcome data set or rows of the request log) to the numbers of one economics report."""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from smallfirst.economics.analysis import ScenarioResult, analyse
from smallfirst.economics.config import EconConfig
from smallfirst.economics.costing import price_sources, to_float
from smallfirst.economics.log import rows_by_scenario
from smallfirst.economics.policy import ThresholdCurve, profit_optimal_choice, profit_utility, threshold_curve
from smallfirst.economics.quality_prior import predicted_quality
from smallfirst.economics.scenarios import Scenario, price_outcomes, scenario_rows, standard_scenarios
from smallfirst.economics.stick import ValueStick, by_period, in_period, within
from smallfirst.outcomes import Outcomes
from smallfirst.store.request_record import RequestRecord

MAX_PROFIT = "hybrid (max profit)"
ORACLE = "oracle (upper bound)"


@dataclass(frozen=True)
class EconomicsReport:
    title: str
    source: str
    results: list[ScenarioResult]
    baseline: str
    prices: dict[str, str]
    hardware: str
    notes: list[str] = field(default_factory=list)
    curve: ThresholdCurve | None = None
    periods: dict[str, dict[str, ValueStick]] = field(default_factory=dict)
    config: EconConfig | None = None

    def result(self, name: str) -> ScenarioResult | None:
        return next((r for r in self.results if r.name == name), None)


def _hardware(config: EconConfig, local_used: bool = True) -> str:
    if not local_used:
        return f"none: no local model in this workload (built on {platform.machine()} {platform.system()})"
    hw = config.hardware
    return (
        f"{hw.name}: purchase ${hw.purchase} over {hw.lifetime_months} months at {hw.utilisation:.0%} "
        f"utilisation, {hw.watts} W, ${hw.energy_per_kwh}/kWh, PUE {hw.pue}; "
        f"report built on {platform.machine()} {platform.system()}"
    )


def from_outcomes(
    outcomes: Outcomes,
    config: EconConfig,
    *,
    title: str = "smallfirst economics",
    hybrids: Mapping[str, Sequence[int | str] | np.ndarray] | None = None,
    cascades: Mapping[str, Sequence[int | str] | np.ndarray] | None = None,
    predicted: np.ndarray | None = None,
    specialised: str | None = None,
    baseline: str | None = None,
    notes: Sequence[str] = (),
) -> EconomicsReport:
    """Scenarios side by side on one outcome set. Without given hybrids, the max-profit policy routes on
    ``predicted`` quality (default: a cross-fitted task and length prior), and the oracle marks the bound."""
    priced = price_outcomes(outcomes, config, baseline)
    scenarios = standard_scenarios(
        outcomes, hybrids, cascades=cascades, specialised=specialised, baseline=baseline
    )
    extra_notes = list(notes)
    curve = None
    if len(outcomes.models) >= 2:
        if predicted is None:
            predicted = predicted_quality(outcomes)
            extra_notes.append(
                "hybrid (max profit) routes on quality predicted by a 5-fold cross-fitted prior "
                "over task type and prompt length; any router's predictions can replace it"
            )
        utility = profit_utility(config)
        guess = dataclasses.replace(outcomes, quality=predicted)
        scenarios.append(
            Scenario(
                MAX_PROFIT, profit_optimal_choice(utility(guess)), "routing", "argmax E[B|model] - C_model"
            )
        )
        scenarios.append(
            Scenario(
                ORACLE,
                profit_optimal_choice(to_float(priced.benefit - priced.cost)),
                "single",
                "best model per prompt with hindsight",
            )
        )
        score = predicted[:, priced.baseline] - predicted[:, 0]
        curve = threshold_curve(outcomes, config, score, small=0, large=priced.baseline)
    results = [analyse(scenario_rows(priced, s, config), config, s.name, s.note) for s in scenarios]
    return EconomicsReport(
        title=title,
        source=f"outcome data: {len(outcomes)} prompts, models {', '.join(outcomes.models)}",
        results=results,
        baseline=outcomes.models[priced.baseline],
        prices=price_sources(outcomes, config),
        hardware=_hardware(
            config, any(config.models.get(m) and config.models[m].local for m in outcomes.models)
        ),
        notes=extra_notes,
        curve=curve,
        config=config,
    )


def from_log(
    records: Sequence[RequestRecord],
    config: EconConfig,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    period: str = "month",
    title: str = "smallfirst economics: request log",
    notes: Sequence[str] = (),
) -> EconomicsReport:
    """Each tag of the log is a scenario; costs are the ledger's measured ones."""
    grouped = rows_by_scenario(records, config)
    if since is not None or until is not None:
        grouped = {
            k: in_period(v, since, until)
            for k, v in grouped.items()
            if any(within(r, since, until) for r in v)
        }
        if not grouped:
            in_period([], since, until)  # raises the empty-period error
    results = [analyse(rows, config, name) for name, rows in grouped.items()]
    prices = sorted({f"{r.model}: {r.price_source}" for r in records if r.price_source and r.model})
    baselines = sorted({r.baseline_model for r in records if r.baseline_model})
    return EconomicsReport(
        title=title,
        source=f"request log: {len(records)} requests, tags {', '.join(grouped)}",
        results=results,
        baseline=", ".join(baselines) or "(the ledger's baseline)",
        prices=dict(p.split(": ", 1) for p in prices),
        hardware=_hardware(config),
        notes=list(notes),
        periods={name: by_period(list(r.rows), period) for name, r in zip(grouped, results, strict=True)},
        config=config,
    )
