"""From a workload (an outcome data set, or rows of the request log) to the numbers of one economics report.

An outcome set becomes scenarios (LLM-only, SLM-only, the given hybrids and cascades, the max-profit policy
and the oracle bound), each a choice of model per prompt, priced into value-stick rows. Costs come from the
one cost model: ``costs.ledger.price_usage``, the function that prices the request log, called for every
(prompt, model) the data do not already carry a measured cost for. A log is read as it is: each tag is a
scenario and each cost is the ledger's measured one.
"""

from __future__ import annotations

import dataclasses
import platform
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import numpy as np

from smallfirst import tradeoff
from smallfirst.config import ModelSpec
from smallfirst.costs.ledger import price_usage
from smallfirst.costs.prices import hardware_usd_per_second
from smallfirst.economics.assumptions import EconConfig, ModelPrice, check_tasks, task_key
from smallfirst.economics.decision import Decision, decide
from smallfirst.economics.maths import (
    ZERO,
    RequestValue,
    ScenarioResult,
    ValueStick,
    analyse,
    benefit,
    by_period,
    dec,
    demand_of,
    in_period,
    price,
    profit_optimal_choice,
    within,
)
from smallfirst.errors import ConfigError, DataError
from smallfirst.models.completion import Usage
from smallfirst.outcomes import Outcomes
from smallfirst.store.request_record import RequestRecord

MAX_PROFIT = "hybrid (max profit)"
ORACLE = "oracle (upper bound)"
UNTAGGED = "untagged"


@dataclass(frozen=True)
class ThresholdCurve:
    """Value created and profit of a two-model router as its threshold sweeps from all-small to all-large.

    Arrays share one length (one entry per threshold); money is USD per 1,000 requests (float: the curve is
    drawn; a chosen threshold is priced again exactly as a scenario)."""

    thresholds: np.ndarray
    large_share: np.ndarray
    quality: np.ndarray
    #: per 1,000 requests, USD
    value_created: np.ndarray
    profit: np.ndarray
    cost: np.ndarray
    best: int
    #: (n_points, n_prompts) model index per prompt at each threshold
    choices: np.ndarray | None = field(default=None, repr=False)

    @property
    def best_threshold(self) -> float:
        """The threshold that creates the most value."""
        return float(self.thresholds[self.best])


@dataclass(frozen=True)
class RouterFit:
    """How a routed scenario's router was chosen, so the verdict can say why it routes as it does: the outcomes
    it was cross-fitted and calibrated on, its cross-fitted APGR there, and its threshold curve over those
    outcomes under the report's economics (value created, cost and quality per 1,000 requests at each
    threshold, from all-small to all-large).

    ``apgr`` and ``apgr_oracle`` follow ``tradeoff.apgr`` (RouteLLM's average performance gap recovered on the
    exact curve: random routing scores 0.5); None where the two models' qualities are equal. ``share`` is the
    large-model share (0..1) its calibrated threshold gave on those outcomes, None for a policy that is no
    single threshold."""

    #: the router's label, e.g. "logistic(static+task)"
    router: str
    #: where the outcomes come from, e.g. "local-ladder"
    source: str
    #: outcomes it was cross-fitted and calibrated on
    n: int
    curve: ThresholdCurve
    apgr: float | None = None
    apgr_oracle: float | None = None
    share: float | None = None
    #: True when no score came from a fit that saw its prompt's outcome
    cross_fitted: bool = True


def router_fit(
    outcomes: Outcomes,
    config: EconConfig,
    scores: np.ndarray,
    *,
    router: str,
    source: str,
    share: float | None = None,
    small: int = 0,
    large: int = -1,
    points: int | None = None,
    cross_fitted: bool = True,
) -> RouterFit:
    """The :class:`RouterFit` of a two-model router from its cross-fitted ``scores`` (n_prompts,; route to
    ``large`` when score >= threshold) on ``outcomes``, priced under ``config``. ``points`` None draws the exact
    curve (a point after every distinct score); a number samples that many score quantiles. ``share`` is the
    large-model share its calibrated threshold gave; ``cross_fitted`` False where a score may come from a fit that
    saw its prompt. Raises ConfigError or DataError when the outcomes cannot be priced."""
    q = outcomes.quality
    weak, strong = q[:, small], q[:, large]
    try:
        apgr = tradeoff.apgr(tradeoff.curve(scores, weak, strong))
        oracle = tradeoff.apgr(tradeoff.oracle_curve(weak, strong))
    except ValueError:  # equal qualities: there is no gap to recover
        apgr = oracle = None
    curve = threshold_curve(outcomes, config, scores, small=small, large=large, points=points)
    return RouterFit(router, source, len(outcomes), curve, apgr, oracle, share, cross_fitted)


@dataclass(frozen=True)
class EconomicsReport:
    """Everything one report shows: the scenarios, where the numbers come from, and the decision analysis."""

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
    decision: Decision | None = None
    #: how each routed scenario's router was chosen, by scenario name (where the report knows it)
    routers: dict[str, RouterFit] = field(default_factory=dict)

    def result(self, name: str) -> ScenarioResult | None:
        """The scenario called ``name``, or None."""
        return next((r for r in self.results if r.name == name), None)


# --- pricing an outcome set: B, P and C per prompt and model ---------------------------------------------------


def ledger_spec(name: str, spec: ModelPrice) -> ModelSpec:
    """The ledger's ModelSpec for an economics ``[models.<name>]`` entry, so both price a model the same way.
    Raises ConfigError when the entry names no price."""
    if spec.local:
        return ModelSpec(pricing="hardware")
    if spec.genai_prices:
        ref = spec.genai_prices
        provider, _, model = ref.partition(":") if ":" in ref else ("", "", ref)
        return ModelSpec(backend="openai", pricing="api", price_model=model, price_provider=provider or None)
    if spec.input_per_mtok is None or spec.output_per_mtok is None:
        raise ConfigError(
            f"model {name!r}: a model price needs input_per_mtok and output_per_mtok, genai_prices or local = true"
        )
    return ModelSpec(pricing="manual", input_usd_per_mtok=spec.input_per_mtok, output_usd_per_mtok=spec.output_per_mtok)


def price_sources(outcomes: Outcomes, config: EconConfig) -> dict[str, str]:
    """Where each model's cost comes from: measured in the data, "config" (or its ``source``) for manual
    prices, else the ledger's own label (genai-prices and its version, or the hardware profile)."""
    out = {}
    for m in outcomes.models:
        spec = config.models.get(m)
        if spec is None:
            out[m] = "measured (outcome data)"
        elif not spec.local and not spec.genai_prices:
            ledger_spec(m, spec)
            out[m] = spec.source or "config"
        else:
            out[m] = price_usage(m, ledger_spec(m, spec), Usage(1, 1), 0.0, config.hardware).source
    return out


def cost_matrix(outcomes: Outcomes, config: EconConfig) -> np.ndarray:
    """(n_prompts, n_models) object array of Decimal costs in USD. Config prices win over costs in the data, so
    a user can re-price the same outcomes; every config price goes through ``costs.ledger.price_usage``."""
    n, m = len(outcomes), len(outcomes.models)
    out = np.empty((n, m), dtype=object)
    for j, name in enumerate(outcomes.models):
        spec = config.models.get(name)
        if spec is None:
            out[:, j] = _measured(outcomes, j, name)
            continue
        lspec = ledger_spec(name, spec)
        if spec.local and name not in config.hardware.throughput:
            lat = _column(outcomes.latency_s, j, name, "latency_s", "a local model without a measured throughput "
                          f"([hardware.throughput.{name!r}]) is priced over its measured time")
            toks = _has(outcomes.prompt_tokens, j) and _has(outcomes.completion_tokens, j)
            out[:, j] = [
                price_usage(name, lspec, Usage(int(outcomes.prompt_tokens[i, j]), int(outcomes.completion_tokens[i, j]))
                            if toks else Usage(0, 0), float(x), config.hardware).usd  # type: ignore[index]
                for i, x in enumerate(lat)
            ]
            continue
        why = "local models are priced by their tokens over the measured throughput" if spec.local else \
            "API models are priced per token"
        pt = _column(outcomes.prompt_tokens, j, name, "prompt_tokens", why)
        ct = _column(outcomes.completion_tokens, j, name, "completion_tokens", why)
        lat = outcomes.latency_s[:, j] if _has(outcomes.latency_s, j) else np.zeros(n)
        out[:, j] = [
            price_usage(name, lspec, Usage(int(a), int(b)), float(s), config.hardware).usd
            for a, b, s in zip(pt, ct, lat, strict=True)
        ]
    return out


def local_models(outcomes: Outcomes, config: EconConfig) -> np.ndarray:
    """(n_models,) True where a model's cost is local hardware time."""
    return np.array([bool(config.models.get(m) and config.models[m].local) for m in outcomes.models])


def _has(arr: np.ndarray | None, j: int) -> bool:
    return arr is not None and not np.isnan(arr[:, j]).any()


def _measured(outcomes: Outcomes, j: int, name: str) -> list[Decimal]:
    col = _column(
        outcomes.cost_usd,
        j,
        name,
        "cost_usd",
        f"or price it: add [models.{name!r}] with genai_prices, input/output_per_mtok or local = true",
    )
    return [dec(x) for x in col]


def _column(arr: np.ndarray | None, j: int, name: str, fld: str, why: str) -> np.ndarray:
    if arr is None or np.isnan(arr[:, j]).any():
        raise DataError(f"model {name!r} lacks {fld} for some prompts", hint=why)
    return arr[:, j]


def benefit_matrix(outcomes: Outcomes, config: EconConfig, quality: np.ndarray | None = None) -> np.ndarray:
    """Expected B per prompt and model (object array of Decimal, USD); ``quality`` may be a router's predicted
    quality instead of the observed one. ConfigError for a task without a value."""
    check_tasks(config, outcomes.tasks)
    q = outcomes.quality if quality is None else quality
    out = np.empty(q.shape, dtype=object)
    for i, task in enumerate(outcomes.tasks):
        spec = config.tasks[task_key(config, task)]  # type: ignore[index]
        out[i, :] = [benefit(spec, float(x)) for x in q[i]]
    return out


def tokens_matrix(outcomes: Outcomes) -> np.ndarray:
    """(n_prompts, n_models) prompt plus completion tokens, 0 where unknown."""
    total = np.zeros(outcomes.quality.shape)
    for arr in (outcomes.prompt_tokens, outcomes.completion_tokens):
        if arr is not None:
            total = total + np.nan_to_num(arr)
    return total.astype(int)


def price_matrix(outcomes: Outcomes, config: EconConfig, quality: np.ndarray | None = None) -> np.ndarray:
    """P per prompt and model (object array of Decimal, USD); DataError when per-token pricing lacks tokens."""
    q = outcomes.quality if quality is None else quality
    toks = tokens_matrix(outcomes)
    out = np.empty(q.shape, dtype=object)
    for i, task in enumerate(outcomes.tasks):
        spec = config.price_for(task_key(config, task))  # type: ignore[arg-type]
        if spec.per_1k_tokens is not None and outcomes.prompt_tokens is None:
            raise DataError("per-1,000-token pricing needs token counts in the workload")
        out[i, :] = [price(spec, tokens=int(toks[i, j]), quality=float(q[i, j])) for j in range(q.shape[1])]
    return out


def to_float(arr: np.ndarray) -> np.ndarray:
    """An object array of Decimal as floats (for drawing and for argmax, never for the report's sums)."""
    return np.vectorize(float, otypes=[float])(arr) if arr.size else np.zeros(arr.shape)


def profit_utility(econ_config: EconConfig):  # noqa: ANN201  (Callable[[Outcomes], np.ndarray])
    """A callable giving the (n_prompts, n_models) float array of expected benefit minus cost in USD, the
    utility of routing calibration's ``MaxProfit`` target.

    Pass outcomes whose ``quality`` holds predicted quality (a router's probability of a good answer) to
    get E[B | model]; with observed quality it is the realised value."""

    def utility(outcomes: Outcomes) -> np.ndarray:
        """(n_prompts, n_models) E[B | model] - C_model in USD for ``outcomes``."""
        return to_float(benefit_matrix(outcomes, econ_config) - cost_matrix(outcomes, econ_config))

    return utility


# --- scenarios on an outcome set ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A deployment on an outcome set: the model index chosen per prompt."""

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
    #: (n_models,) True where the model's cost is local hardware time
    local: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def price_outcomes(outcomes: Outcomes, config: EconConfig, baseline: str | None = None) -> PricedOutcomes:
    """Price every (prompt, model) once; the baseline is the last model unless named."""
    base = len(outcomes.models) - 1 if baseline is None else outcomes.model_index(baseline)
    return PricedOutcomes(
        outcomes,
        benefit_matrix(outcomes, config),
        price_matrix(outcomes, config),
        cost_matrix(outcomes, config),
        tokens_matrix(outcomes),
        base,
        local_models(outcomes, config),
    )


def choice_array(outcomes: Outcomes, choice: Sequence[int | str] | np.ndarray) -> np.ndarray:
    """Model indices from indices or names, one per prompt; DataError for a wrong length or index."""
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
    """One priced row per prompt: the chosen model's B, P and C, plus the routing overhead and, for a cascade,
    the cost of every cheaper model tried first."""
    o = priced.outcomes
    overhead = config.overhead.per_request if scenario.kind in ("routing", "cascade") else ZERO
    wts_share = config.wts_share
    local = priced.local if len(priced.local) else np.zeros(len(o.models), dtype=bool)
    rows = []
    for i, j in enumerate(scenario.choice):
        j = int(j)
        tried = range(j) if scenario.kind == "cascade" else range(0)
        wasted = sum((priced.cost[i, k] for k in tried), ZERO)
        cost = priced.cost[i, j] + wasted + overhead
        hardware = sum((priced.cost[i, k] for k in (*tried, j) if local[k]), ZERO)
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
                hardware=hardware,
                item=o.ids[i],
            )
        )
    return rows


def threshold_curve(
    outcomes: Outcomes,
    config: EconConfig,
    scores: np.ndarray,
    *,
    small: int = 0,
    large: int = -1,
    points: int | None = 101,
    overhead: bool = True,
) -> ThresholdCurve:
    """Send a prompt to ``large`` when its score >= threshold, for thresholds at ``points`` score quantiles
    (None: at every distinct score, the exact curve), from all-small to all-large. Floats are fine here: the
    curve is drawn; the chosen threshold is priced again exactly as a scenario."""
    b = to_float(benefit_matrix(outcomes, config))
    p = to_float(price_matrix(outcomes, config))
    c = to_float(cost_matrix(outcomes, config)) + (float(config.overhead.per_request) if overhead else 0.0)
    q = outcomes.quality
    cuts = np.unique(scores if points is None else np.quantile(scores, np.linspace(0, 1, points)))
    ts = np.concatenate([cuts, [np.inf]])[::-1]  # from all-small (inf) to all-large
    n = len(outcomes)
    idx = np.arange(n)
    rows, choices = [], []
    for t in ts:
        big = scores >= t
        j = np.where(big, large % q.shape[1], small)
        choices.append(j)
        rows.append(
            (
                big.mean(),
                q[idx, j].mean(),
                (b[idx, j] - c[idx, j]).sum(),
                (p[idx, j] - c[idx, j]).sum(),
                c[idx, j].sum(),
            )
        )
    arr = np.array(rows)
    scale = 1000.0 / n
    vc = arr[:, 2] * scale
    return ThresholdCurve(
        ts, arr[:, 0], arr[:, 1], vc, arr[:, 3] * scale, arr[:, 4] * scale, int(np.argmax(vc)), np.array(choices)
    )


def predicted_quality(outcomes: Outcomes, *, folds: int = 5, seed: int = 0) -> np.ndarray:
    """(n_prompts, n_models) quality predicted by the task-and-length prior router (``routing.prior``),
    cross-fitted in ``folds`` interleaved folds so that no prompt is scored by a fit that saw it; the length
    cuts are taken over all prompts (a feature, not a label). A single prompt is scored by a fit on itself."""
    from smallfirst.evaluate.crossfit import cross_fit_quality, interleaved_folds
    from smallfirst.routing.prior import QualityPriorRouter, length_cuts

    cuts = length_cuts(outcomes.prompts, outcomes.tasks)
    make = lambda: QualityPriorRouter(cuts=cuts)  # noqa: E731
    if len(outcomes) < 2:
        return make().fit(outcomes).predict_quality(outcomes.prompts, outcomes.tasks)
    return cross_fit_quality(make, outcomes, splits=interleaved_folds(len(outcomes), folds, seed))


def _curve_profit(priced: PricedOutcomes, config: EconConfig, curve: ThresholdCurve):  # noqa: ANN202
    """Monthly profit (USD, under the demand model) of the router at each point of ``curve``: what ``analyse``
    gives for the scenario of that choice, summed per task without building its rows."""
    o = priced.outcomes
    demand = demand_of(config)
    n = len(o)
    idx = np.arange(n)
    by_task: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(o.tasks):
        by_task[t].append(i)
    groups = [np.array(v) for _, v in sorted(by_task.items())]
    overhead = config.overhead.per_request
    fixed_all, fixed_small = config.fixed.per_month(), config.fixed_small.per_month()

    def _profit(point: int) -> Decimal:
        j = curve.choices[point]  # type: ignore[index]
        b, p, c = priced.benefit[idx, j], priced.price[idx, j], priced.cost[idx, j]
        margin = ZERO
        for g in groups:
            sb, sp = sum(b[g], ZERO), sum(p[g], ZERO)
            if demand.fixed or sb >= sp:
                margin += sp - sum(c[g], ZERO) - overhead * len(g)
        small = bool((j != priced.baseline).any())
        return demand.market * (margin / n) - fixed_all - (fixed_small if small else ZERO)

    return _profit


def _hardware(config: EconConfig, local_used: bool = True) -> str:
    if not local_used:
        return f"none: no local model in this workload (built on {platform.machine()} {platform.system()})"
    hw = config.hardware
    per_hour = hardware_usd_per_second(hw) * 3600
    rates = ", ".join(
        f"{m} {float(t.prefill_tokens_per_s):,.0f}/{float(t.decode_tokens_per_s):,.0f} tok/s"
        for m, t in sorted(hw.throughput.items())
    )
    return (
        f"{hw.name}: purchase ${hw.price_usd} over {hw.amortisation_years} years at {float(hw.utilisation):.0%} "
        f"utilisation, {hw.watts} W, ${hw.electricity_usd_per_kwh}/kWh, PUE {hw.pue}: ${float(per_hour):.4f} per "
        f"occupied hour; local requests priced by occupancy, tokens over sustained prefill/decode throughput "
        f"({rates or 'none measured: wall time'}); report built on {platform.machine()} {platform.system()}"
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
    seed: int = 0,
) -> EconomicsReport:
    """Scenarios side by side on one outcome set, with the decision analysis. Without given hybrids, the
    max-profit policy routes on ``predicted`` quality (default: the cross-fitted prior router), and the oracle
    marks the bound. Raises ConfigError or DataError for a config or data set that cannot be priced."""
    priced = price_outcomes(outcomes, config, baseline)
    scenarios = standard_scenarios(
        outcomes, hybrids, cascades=cascades, specialised=specialised, baseline=baseline
    )
    extra_notes = list(notes)
    curve = None
    routers: dict[str, RouterFit] = {}
    given = predicted
    if len(outcomes.models) >= 2:
        if predicted is None:
            predicted = predicted_quality(outcomes)
            extra_notes.append(
                "hybrid (max profit) routes on quality predicted by the prior router (task type and prompt "
                "length), cross-fitted in 5 folds; any router's predictions can replace it"
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
        fit = router_fit(
            outcomes,
            config,
            score,
            router="the prior router (task type and prompt length)" if given is None else "the given predictions",
            source="this workload",
            large=priced.baseline,
            points=101,
            cross_fitted=given is None,
        )
        curve = fit.curve
        routers[MAX_PROFIT] = fit
    results = [analyse(scenario_rows(priced, s, config), config, s.name, s.note) for s in scenarios]
    models = {
        m: (float(outcomes.quality[:, j].mean()), sum(priced.cost[:, j], ZERO) / len(outcomes))
        for j, m in enumerate(outcomes.models)
    }
    return EconomicsReport(
        title=title,
        source=f"outcome data: {len(outcomes)} prompts, models {', '.join(outcomes.models)}",
        results=results,
        baseline=outcomes.models[priced.baseline],
        prices=price_sources(outcomes, config),
        hardware=_hardware(config, bool(priced.local.any())),
        notes=extra_notes,
        curve=curve,
        config=config,
        routers=routers,
        decision=decide(
            results,
            config,
            models=models,
            curve_quality=None if curve is None else curve.quality,
            curve_profit=None if curve is None else _curve_profit(priced, config, curve),
            exclude=(ORACLE,),
            seed=seed,
        ),
    )


# --- the request log ------------------------------------------------------------------------------------------


def rows_by_scenario(records: Sequence[RequestRecord], config: EconConfig) -> dict[str, list[RequestValue]]:
    """Value-stick rows per tag (a tag is a scenario); DataError for an empty selection or an ungraded request
    with no graded sibling to take its expected quality from."""
    if not records:
        raise DataError(
            "the request log holds no requests for this selection",
            hint="run some requests first (smallfirst ask / demo), or widen --since/--until/--tag",
        )
    check_tasks(config, (r.task for r in records))
    expected = _expected_quality(records)
    out: dict[str, list[RequestValue]] = defaultdict(list)
    for rec in records:
        out[rec.tag or UNTAGGED].append(_log_row(rec, config, expected))
    return dict(out)


def _expected_quality(records: Sequence[RequestRecord]) -> dict[tuple[str | None, str, str], float]:
    """Mean graded quality per scenario, task and model: the expected quality of an ungraded request."""
    sums: dict[tuple[str | None, str, str], list[float]] = defaultdict(list)
    for r in records:
        if r.quality is not None and r.status == "ok":
            sums[(r.tag, r.task or "", r.model)].append(r.quality)
    return {k: sum(v) / len(v) for k, v in sums.items()}


def _log_row(rec: RequestRecord, config: EconConfig, expected: dict) -> RequestValue:
    key = task_key(config, rec.task)
    assert key is not None
    ok = rec.status == "ok"
    quality = rec.quality if rec.quality is not None else expected.get((rec.tag, rec.task or "", rec.model))
    if not ok:
        quality = 0.0
    if quality is None:
        raise DataError(
            f"request {rec.id} ({rec.task}, {rec.model}) has no graded quality, and no graded request "
            "of the same scenario, task and model to take the expected quality from",
            hint="grade a sample of each scenario's requests",
        )
    tokens = rec.prompt_tokens + rec.completion_tokens
    # a failed request delivers nothing, so nothing is charged for it
    p = price(config.price_for(key), tokens=tokens, quality=quality) if ok else ZERO
    routed = rec.policy is not None and rec.policy not in ("", "fixed")
    overhead = config.overhead.per_request if routed else ZERO
    cost = rec.cost_usd + overhead
    small = rec.model != rec.baseline_model if rec.baseline_model else rec.cost_usd < rec.baseline_usd
    # an escalated cascade paid the baseline answer plus the attempts before it
    wasted = max(rec.cost_usd - rec.baseline_usd, ZERO) if len(rec.attempted) > 1 and not small else ZERO
    return RequestValue(
        task=rec.task or "",
        model=rec.model or "(none)",
        benefit=benefit(config.tasks[key], quality),
        price=p,
        cost=cost,
        baseline_cost=rec.baseline_usd,
        small=small,
        quality=quality,
        tokens=tokens,
        wts=None if config.wts_share is None else cost * Decimal(repr(config.wts_share)),
        created_at=rec.created_at,
        wasted=wasted,
        overhead=overhead,
        hardware=rec.cost_usd if (rec.price_source or "").startswith("hardware:") else ZERO,
        item=None if rec.prompt is None else f"{rec.task}\x1f{rec.prompt}",
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
    seed: int = 0,
    routers: Mapping[str, RouterFit] | None = None,
) -> EconomicsReport:
    """Each tag of the log is a scenario; costs are the ledger's measured ones; ``routers`` says, by tag, how a
    routed scenario's router was chosen (the verdict reads it). DataError for an empty period."""
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
    local_used = any((r.price_source or "").startswith("hardware:") for r in records)
    return EconomicsReport(
        title=title,
        source=f"request log: {len(records)} requests, tags {', '.join(grouped)}",
        results=results,
        baseline=", ".join(baselines) or "(the ledger's baseline)",
        prices=dict(p.split(": ", 1) for p in prices),
        hardware=_hardware(config, local_used),
        notes=list(notes),
        periods={name: by_period(list(r.rows), period) for name, r in zip(grouped, results, strict=True)},
        config=config,
        routers={k: v for k, v in (routers or {}).items() if k in grouped},
        decision=decide(results, config, seed=seed),
    )
