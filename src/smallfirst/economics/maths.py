"""The economics' maths: the value stick, the one demand model, monthly profit, break-even, the profit-maximising
price, the cost ratio rho and its break-down. Money is Decimal in USD throughout; nothing here prices a model
(``costs/`` does) or reads a file.

The value stick (Brandenburger & Stuart 1996; Oberholzer-Gee, *Better, Simpler Strategy*, 2021), per request:
B the customer's benefit (willingness to pay), P the price, C the cost, WTS the supplier's willingness to sell::

    value created = B - C,   value captured = P - C,   customer surplus = B - P,   so created = captured + surplus.

The demand model (one per report, ``EconConfig.demand``): a task type's requests are bought when its
willingness to pay, the expected B of that task under the scenario, is at least its expected price; under a
``fixed`` demand every request is bought. With V the market (``volume_per_month``), n the workload's requests
and M the margin sum over the bought task types, monthly profit = V * M / n - F, break-even V* = F * n / M.

Cost ratio against LLM-only (textbook forms): rho = f*r + (1-f) + overhead for routing and rho = r + (1-f) +
overhead for a cascade (f: share kept small, r: small/large price ratio). Per-prompt token counts differ, so
the measured terms are weighted by the baseline cost of each request; the parts then add up to rho exactly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from smallfirst.economics.assumptions import EconConfig, PriceSpec, TaskValue
from smallfirst.errors import ConfigError, DataError

ZERO = Decimal(0)
ONE = Decimal(1)
THOUSAND = Decimal(1000)
#: the common claim that small-model-first costs about one sixth of sending everything to the large model
RHO_CLAIM = Decimal(1) / Decimal(6)


def dec(x: float | int | Decimal) -> Decimal:
    """A float measurement as Decimal through its shortest repr, so 0.1 stays 0.1."""
    return x if isinstance(x, Decimal) else Decimal(repr(float(x)))


# --- B and P of one request -------------------------------------------------------------------------------------


def benefit(spec: TaskValue, quality: float) -> Decimal:
    """Expected B in USD at a quality: binary quality is the probability of a good answer (q * value_good +
    (1 - q) * value_bad); graded quality goes through the score map, interpolated linearly and clamped."""
    if spec.score_map:
        return _interpolate(spec.score_map, quality)
    q = dec(quality)
    assert spec.value_good is not None
    return q * spec.value_good + (1 - q) * spec.value_bad


def _interpolate(points: list[tuple[float, Decimal]], x: float) -> Decimal:
    if x <= points[0][0]:
        return points[0][1]
    if x >= points[-1][0]:
        return points[-1][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if x0 <= x <= x1:
            t = (dec(x) - dec(x0)) / (dec(x1) - dec(x0))
            return y0 + t * (y1 - y0)
    raise AssertionError("unreachable")


def price(spec: PriceSpec, *, tokens: int, quality: float | None) -> Decimal:
    """P of one request in USD: per request, per 1,000 tokens, or a subscription over its requests. Outcome-based
    pricing charges the expected share of good answers; it raises ConfigError for an ungraded request."""
    if spec.per_request is not None:
        p = spec.per_request
    elif spec.per_1k_tokens is not None:
        p = spec.per_1k_tokens * Decimal(tokens) / THOUSAND
    else:
        assert spec.subscription_per_user_month is not None and spec.requests_per_user_month
        p = spec.subscription_per_user_month / Decimal(spec.requests_per_user_month)
    if spec.outcome_based:
        if quality is None:
            raise ConfigError(
                "outcome-based pricing needs graded requests",
                hint="grade the requests, or set outcome_based = false",
            )
        p = p * min(max(dec(quality), ZERO), ONE)
    return p


# --- the value stick ------------------------------------------------------------------------------------------


class _Split:
    """The three parts of the stick, for anything holding benefit (B), price (P) and cost (C)."""

    __slots__ = ()
    benefit: Decimal
    price: Decimal
    cost: Decimal

    @property
    def value_created(self) -> Decimal:
        """B - C."""
        return self.benefit - self.cost

    @property
    def value_captured(self) -> Decimal:
        """P - C: what the firm keeps."""
        return self.price - self.cost

    @property
    def customer_surplus(self) -> Decimal:
        """B - P: what the customer keeps."""
        return self.benefit - self.price


@dataclass(frozen=True, slots=True)
class RequestValue(_Split):
    """One request of one scenario, priced: B, P and C in USD, and the cost the baseline model would have had."""

    task: str
    model: str
    benefit: Decimal
    price: Decimal
    cost: Decimal
    baseline_cost: Decimal
    #: True when answered by a model other than the baseline (the "kept small" share f)
    small: bool
    quality: float | None = None
    tokens: int = 0
    wts: Decimal | None = None
    created_at: datetime | None = None
    #: cost of cheaper attempts a cascade made before this answer (already inside ``cost``)
    wasted: Decimal = ZERO
    #: routing overhead (already inside ``cost``)
    overhead: Decimal = ZERO
    #: the part of ``cost`` that is local hardware time (priced by the hardware profile)
    hardware: Decimal = ZERO
    #: a key shared by the same prompt in every scenario (pairs scenarios for the bootstrap); None if unknown
    item: str | None = None


@dataclass(frozen=True, slots=True)
class ValueStick(_Split):
    """Sums over a group of ``n`` requests, in USD; ``per_1k`` scales any of them to 1,000 requests."""

    n: int
    benefit: Decimal
    price: Decimal
    cost: Decimal
    baseline_cost: Decimal
    wts: Decimal | None
    quality: float | None

    @property
    def chain_value(self) -> Decimal | None:
        """B - WTS: the value created along the whole chain, supplier included."""
        return None if self.wts is None else self.benefit - self.wts

    @property
    def gross_margin(self) -> Decimal | None:
        """(P - C) / P, None when nothing is charged."""
        return None if self.price == 0 else (self.price - self.cost) / self.price

    @property
    def rho(self) -> Decimal | None:
        """C over the baseline's cost of the same requests."""
        return None if self.baseline_cost == 0 else self.cost / self.baseline_cost

    @property
    def capture_share(self) -> Decimal | None:
        """Share of the value created that the firm captures."""
        return None if self.value_created == 0 else self.value_captured / self.value_created

    @property
    def deal_possible(self) -> bool:
        """WTS <= C <= P <= B: every party is at least as well off as without the deal."""
        low = self.wts if self.wts is not None else self.cost
        return low <= self.cost <= self.price <= self.benefit

    def per_1k(self, amount: Decimal) -> Decimal:
        """``amount`` (a sum over the n requests) per 1,000 requests."""
        return amount * THOUSAND / self.n

    def per_request(self, amount: Decimal) -> Decimal:
        """``amount`` (a sum over the n requests) per request."""
        return amount / self.n


def stick(rows: Sequence[RequestValue]) -> ValueStick:
    """Sum B, P, C, the baseline cost and WTS over ``rows``, with their mean graded quality; DataError if empty."""
    if not rows:
        raise DataError("no requests to sum", hint="check the period, tag or workload filter")
    wts = None if any(r.wts is None for r in rows) else sum((r.wts for r in rows), ZERO)  # type: ignore[misc]
    graded = [r.quality for r in rows if r.quality is not None]
    return ValueStick(
        n=len(rows),
        benefit=sum((r.benefit for r in rows), ZERO),
        price=sum((r.price for r in rows), ZERO),
        cost=sum((r.cost for r in rows), ZERO),
        baseline_cost=sum((r.baseline_cost for r in rows), ZERO),
        wts=wts,
        quality=sum(graded) / len(graded) if graded else None,
    )


def group(rows: Iterable[RequestValue], key: Callable[[RequestValue], str]) -> dict[str, ValueStick]:
    """One stick per value of ``key``, sorted by key."""
    buckets: dict[str, list[RequestValue]] = defaultdict(list)
    for r in rows:
        buckets[key(r)].append(r)
    return {k: stick(v) for k, v in sorted(buckets.items())}


def by_task(rows: Iterable[RequestValue]) -> dict[str, ValueStick]:
    """One stick per task."""
    return group(rows, lambda r: r.task)


_PERIOD_FORMATS = {"day": "%Y-%m-%d", "week": "%G-W%V", "month": "%Y-%m"}


def by_period(rows: Sequence[RequestValue], period: str = "month") -> dict[str, ValueStick]:
    """One stick per day, ISO week or month of ``created_at``; DataError for another period or a row without
    a timestamp."""
    if period not in _PERIOD_FORMATS:
        raise DataError(f"unknown period {period!r}", hint=f"use one of {', '.join(_PERIOD_FORMATS)}")
    if any(r.created_at is None for r in rows):
        raise DataError(
            "requests without a timestamp cannot be grouped by period",
            hint="periods need the request log, not an outcome data set",
        )
    fmt = _PERIOD_FORMATS[period]
    return group(rows, lambda r: r.created_at.strftime(fmt))  # type: ignore[union-attr]


def _utc(moment: datetime | None) -> datetime | None:
    """The log stores UTC; a moment given without a zone is read as UTC too."""
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def within(row: RequestValue, since: datetime | None, until: datetime | None) -> bool:
    """since <= created_at < until, either bound optional; a row without a timestamp is never within."""
    lo, hi, at = _utc(since), _utc(until), _utc(row.created_at)
    return at is not None and (lo is None or at >= lo) and (hi is None or at < hi)


def in_period(
    rows: Sequence[RequestValue], since: datetime | None, until: datetime | None
) -> list[RequestValue]:
    """Rows with since <= created_at < until; an empty period is an error, not a zero."""
    kept = [r for r in rows if within(r, since, until)]
    if not kept:
        raise DataError(
            f"the period {since or '...'} to {until or '...'} has no requests",
            hint="widen --since/--until, or check that the log holds requests of that time",
        )
    return kept


# --- the demand model -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Demand:
    """The one demand model of a report: ``kind`` ("willingness-to-pay" or "fixed") and the ``market``, requests
    a month (at a price of zero under willingness-to-pay; sold at any price under fixed)."""

    kind: str
    market: Decimal

    @property
    def fixed(self) -> bool:
        """True when volume does not respond to price."""
        return self.kind == "fixed"

    def describe(self) -> str:
        """The model in one sentence, as every figure of the report uses it."""
        if self.fixed:
            return (
                f"fixed volume: {float(self.market):,.0f} requests a month are bought at any price "
                "(there is then no profit-maximising price)"
            )
        return (
            f"willingness to pay: a market of {float(self.market):,.0f} requests a month, of which a task type's "
            "requests are bought when their expected benefit B under the scenario is at least their expected "
            "price P, and not at all above it"
        )


def demand_of(config: EconConfig) -> Demand:
    """The config's demand model."""
    return Demand(config.demand, Decimal(config.volume_per_month))


@dataclass(frozen=True, slots=True)
class TaskSums:
    """One task type's requests in one scenario: count and sums of B, P and C in USD."""

    n: int
    benefit: Decimal
    price: Decimal
    cost: Decimal

    @property
    def wtp(self) -> Decimal:
        """Willingness to pay per request: the expected B of the task type under the scenario."""
        return self.benefit / self.n

    @property
    def unit_price(self) -> Decimal:
        """Expected P per request."""
        return self.price / self.n

    def bought(self, demand: Demand) -> bool:
        """Whether the task type's requests are bought at their configured price."""
        return demand.fixed or self.wtp >= self.unit_price


def task_sums(rows: Iterable[RequestValue]) -> dict[str, TaskSums]:
    """Rows summed per task (the unit whose willingness to pay the demand model compares with its price)."""
    acc: dict[str, list] = {}
    for r in rows:
        a = acc.setdefault(r.task, [0, ZERO, ZERO, ZERO])
        a[0] += 1
        a[1] += r.benefit
        a[2] += r.price
        a[3] += r.cost
    return {k: TaskSums(a[0], a[1], a[2], a[3]) for k, a in sorted(acc.items())}


def willingness_to_pay(rows: Sequence[RequestValue]) -> list[Decimal]:
    """Each request's WTP is the expected B of its task type under this scenario: a customer knows what kind
    of question they ask and how good the service is on average, not whether this one answer will be right."""
    sums = task_sums(rows)
    return [sums[r.task].wtp for r in rows]


def margin_per_request(rows: Sequence[RequestValue], demand: Demand) -> tuple[Decimal, Decimal]:
    """(M / n, share bought): the margin P - C summed over the bought requests, per request of the workload, and
    the share of the workload's requests bought at the configured price."""
    sums = task_sums(rows)
    n = sum(s.n for s in sums.values())
    bought = [s for s in sums.values() if s.bought(demand)]
    margin = sum((s.price - s.cost for s in bought), ZERO)
    return margin / n, Decimal(sum(s.n for s in bought)) / Decimal(n)


# --- break-even and price -------------------------------------------------------------------------------------


def break_even_volume(fixed: Decimal, price: Decimal, variable_cost: Decimal) -> Decimal | None:
    """Requests per period to cover ``fixed`` at a unit margin P - c: Q* = F / (P - c); 0 without fixed costs,
    None when no volume ever does. DataError for negative fixed costs."""
    if fixed < 0:
        raise DataError(f"fixed costs {fixed} are below zero")
    margin = price - variable_cost
    if fixed == 0:
        return Decimal(0)
    return fixed / margin if margin > 0 else None


def local_vs_api_volume(fixed_local: Decimal, cost_api: Decimal, cost_local: Decimal) -> Decimal | None:
    """Requests per period from which owning the local stack is cheaper than paying the API:
    Q* = F_local / (c_API - c_local)."""
    return break_even_volume(fixed_local, cost_api, cost_local)


def profit(volume: Decimal, price: Decimal, variable_cost: Decimal, fixed: Decimal) -> Decimal:
    """Q (P - c) - F."""
    return volume * (price - variable_cost) - fixed


@dataclass(frozen=True, slots=True)
class PriceOptimum:
    """The profit-maximising uniform price per request (USD), the requests a month bought at it, and the
    monthly profit (USD)."""

    price: Decimal
    #: customers (or requests) buying at that price, scaled to the volume asked for
    buyers: Decimal
    profit: Decimal


def optimal_price(
    wtp: Sequence[Decimal],
    unit_cost: Decimal | Sequence[Decimal],
    fixed: Decimal = ZERO,
    volume: Decimal | None = None,
) -> PriceOptimum:
    """Best uniform price for a sample of willingness to pay: argmax_P (sum over buyers of P - c_i) * scale - F,
    buyers being the requests with WTP >= P. Profit is stepwise in P and jumps down just above each sample value,
    so the optimum is one of the sample values themselves.

    ``unit_cost`` is one cost for every request or one per request, aligned with ``wtp``; ``volume`` scales the
    sample to a market size (default: the sample is the market). Raises DataError for an empty sample or a
    negative cost.
    """
    if not wtp:
        raise DataError("no willingness-to-pay sample", hint="give at least one value of B")
    costs = [unit_cost] * len(wtp) if isinstance(unit_cost, Decimal) else list(unit_cost)
    if len(costs) != len(wtp):
        raise DataError(f"{len(wtp)} willingness-to-pay values but {len(costs)} costs")
    if any(c < 0 for c in costs):
        raise DataError(f"unit cost {min(costs)} is below zero")
    scale = Decimal(1) if volume is None else volume / Decimal(len(wtp))
    ordered = sorted(zip(wtp, costs, strict=True), key=lambda wc: wc[0], reverse=True)
    best: PriceOptimum | None = None
    spent = ZERO
    for k, (p, c) in enumerate(ordered, 1):
        spent += c
        if p < 0 or (k < len(ordered) and ordered[k][0] == p):
            continue  # buyers at p are counted at the last tie
        q = Decimal(k) * scale
        pi = (p * Decimal(k) - spent) * scale - fixed
        if best is None or pi > best.profit:
            best = PriceOptimum(p, q, pi)
    if best is None or best.profit < -fixed:
        return PriceOptimum(ZERO, ZERO, -fixed)  # not selling beats every price
    return best


def optimal_price_dist(
    survival: Callable[[float], float],
    unit_cost: Decimal,
    fixed: Decimal,
    volume: Decimal,
    grid: Sequence[float],
) -> PriceOptimum:
    """Best price on a grid for a WTP distribution given by its survival function P(B >= p):
    argmax_p (p - c) * volume * S(p) - F. DataError for an empty grid or a negative price on it."""
    if not grid:
        raise DataError("empty price grid")
    best: PriceOptimum | None = None
    for g in grid:
        p = dec(g)
        if p < 0:
            raise DataError(f"price {p} on the grid is below zero")
        q = volume * dec(survival(g))
        pi = (p - unit_cost) * q - fixed
        if best is None or pi > best.profit:
            best = PriceOptimum(p, q, pi)
    assert best is not None
    return best


# --- rho ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RhoBreakdown:
    """rho = sum C / sum C_baseline and its terms, each over the baseline cost (dimensionless)."""

    rho: Decimal
    kind: str  # "routing" or "cascade"
    #: share of requests answered by a small model
    f: Decimal
    #: the same share weighted by baseline cost, the f that makes the identity exact
    f_weighted: Decimal
    #: small/large price ratio on the requests it applies to (all requests for a cascade)
    r: Decimal
    small_term: Decimal
    large_term: Decimal
    wasted_term: Decimal
    overhead_term: Decimal

    @property
    def formula(self) -> str:
        """The textbook identity with the measured terms filled in."""
        if self.kind == "cascade":
            return (
                f"rho = r + (1-f) + overhead = {self.r:.3f} + {self.large_term:.3f} + "
                f"{self.overhead_term:.3f} = {self.rho:.3f}"
            )
        return (
            f"rho = f*r + (1-f) + overhead = {self.f_weighted:.3f}*{self.r:.3f} + {self.large_term:.3f} + "
            f"{self.overhead_term:.3f} = {self.rho:.3f}"
        )


def rho_breakdown(rows: Sequence[RequestValue]) -> RhoBreakdown:
    """rho of a scenario and its terms; DataError when the baseline costs nothing on these requests."""
    base = sum((r.baseline_cost for r in rows), ZERO)
    if not rows or base == 0:
        raise DataError(
            "rho needs requests with a non-zero baseline cost",
            hint="price the baseline (LLM-only) model for these requests",
        )
    small = [r for r in rows if r.small]
    large = [r for r in rows if not r.small]
    core_small = sum((r.cost - r.overhead - r.wasted for r in small), ZERO)
    core_large = sum((r.cost - r.overhead - r.wasted for r in large), ZERO)
    wasted = sum((r.wasted for r in rows), ZERO)
    overhead = sum((r.overhead for r in rows), ZERO)
    base_small = sum((r.baseline_cost for r in small), ZERO)
    cascade = wasted > 0
    # a cascade runs the small model on every request, so its r is taken over all of them
    r_ratio = (core_small + wasted) / base if cascade else (core_small / base_small if base_small else ZERO)
    return RhoBreakdown(
        rho=(core_small + core_large + wasted + overhead) / base,
        kind="cascade" if cascade else "routing",
        f=Decimal(len(small)) / Decimal(len(rows)),
        f_weighted=base_small / base,
        r=r_ratio,
        small_term=core_small / base,
        large_term=core_large / base,
        wasted_term=wasted / base,
        overhead_term=overhead / base,
    )


@dataclass(frozen=True, slots=True)
class RhoTarget:
    """What it would take for a scenario's rho to reach ``target``, computed from its own break-down.

    ``f_needed``: the (cost-weighted) share kept small at the measured r; ``r_needed``: the small/large price
    ratio at the measured f. Either is None when no value in its range (f in [0, 1], r >= 0) reaches it."""

    target: Decimal
    rho: Decimal
    f: Decimal
    r: Decimal
    f_needed: Decimal | None
    r_needed: Decimal | None

    @property
    def reached(self) -> bool:
        """True when the measured rho is at or below the target."""
        return self.rho <= self.target


def rho_target(b: RhoBreakdown, target: Decimal = RHO_CLAIM) -> RhoTarget:
    """Solve the textbook identity for f and for r at a target rho, holding the other measured terms:

    routing: target = f*r + (1-f) + o  gives  f = (1 + o - target) / (1 - r)  and  r = (target - o - (1 - f)) / f;
    cascade: target = r + (1-f) + o    gives  f = 1 + r + o - target          and  r = target - o - (1 - f),

    with o the overhead (and, for routing, any wasted-attempt) term and f the cost-weighted share kept small."""
    o = b.overhead_term + (b.wasted_term if b.kind == "routing" else ZERO)
    f = b.f_weighted
    if b.kind == "cascade":
        f_needed: Decimal | None = ONE + b.r + o - target
        r_needed: Decimal | None = target - o - (ONE - f)
    else:
        f_needed = (ONE + o - target) / (ONE - b.r) if b.r < 1 else None
        r_needed = (target - o - (ONE - f)) / f if f > 0 else None
    if f_needed is not None and not ZERO <= f_needed <= ONE:
        f_needed = None
    if r_needed is not None and r_needed < 0:
        r_needed = None
    return RhoTarget(target, b.rho, f, b.r, f_needed, r_needed)


# --- one scenario ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioResult:
    """All the report says about one scenario under the report's demand model; money in USD."""

    name: str
    rows: tuple[RequestValue, ...]
    stick: ValueStick
    tasks: dict[str, ValueStick]
    rho: RhoBreakdown
    #: fixed costs per month this scenario carries
    fixed_per_month: Decimal
    #: fixed costs per month that only scenarios using a small model carry
    fixed_small_per_month: Decimal
    #: market requests per month to cover the fixed costs at the configured price
    break_even: Decimal | None
    #: requests per month from which the small-model stack beats sending everything to the baseline
    break_even_local_vs_api: Decimal | None
    #: the profit-maximising uniform price; None under a fixed demand
    best_price: PriceOptimum | None
    volume_per_month: int
    models: dict[str, int]
    demand: Demand
    #: margin P - C over the bought requests, per request of the workload
    margin: Decimal
    #: share of the workload's requests bought at the configured price
    bought: Decimal
    note: str = ""

    @property
    def unit_price(self) -> Decimal:
        """Mean P per request served."""
        return self.stick.per_request(self.stick.price)

    @property
    def unit_cost(self) -> Decimal:
        """Mean C per request served."""
        return self.stick.per_request(self.stick.cost)

    @property
    def uses_small(self) -> bool:
        """True when some request is answered by a model other than the baseline."""
        return any(r.small for r in self.rows)

    @property
    def monthly_profit(self) -> Decimal:
        """V * M / n - F under the demand model, at the configured price."""
        return self.demand.market * self.margin - self.fixed_per_month


def _family(r: RequestValue) -> str:
    return r.task.split("/", 1)[0]


def analyse(rows: Sequence[RequestValue], config: EconConfig, name: str, note: str = "") -> ScenarioResult:
    """The value stick, rho, fixed costs, break-even and best price of one scenario's priced requests."""
    s = stick(rows)
    demand = demand_of(config)
    uses_small = any(r.small for r in rows)
    fixed_small = config.fixed_small.per_month() if uses_small else Decimal(0)
    fixed = config.fixed.per_month() + fixed_small
    unit_cost = s.per_request(s.cost)
    margin, bought = margin_per_request(rows, demand)
    models: dict[str, int] = {}
    for r in rows:
        models[r.model] = models.get(r.model, 0) + 1
    return ScenarioResult(
        name=name,
        rows=tuple(rows),
        stick=s,
        tasks=group(rows, _family),
        rho=rho_breakdown(rows),
        fixed_per_month=fixed,
        fixed_small_per_month=fixed_small,
        break_even=break_even_volume(fixed, margin, ZERO),
        break_even_local_vs_api=(
            local_vs_api_volume(fixed_small, s.per_request(s.baseline_cost), unit_cost) if uses_small else None
        ),
        best_price=None
        if demand.fixed
        else optimal_price(willingness_to_pay(rows), [r.cost for r in rows], fixed, demand.market),
        volume_per_month=config.volume_per_month,
        models=dict(sorted(models.items(), key=lambda kv: -kv[1])),
        demand=demand,
        margin=margin,
        bought=bought,
        note=note,
    )


# --- the profit-maximising routing policy -------------------------------------------------------------------


def profit_optimal_choice(utility: np.ndarray) -> np.ndarray:
    """The best model per prompt from an (n_prompts, n_models) utility (E[B | model] - C_model, RouterBench's
    willingness-to-pay rule with B in money); ties go to the cheaper (earlier) model."""
    return np.argmax(utility, axis=1)
