"""Which scenario to recommend, and how sure to be: dominance and the cost-quality frontier, the verdict's
sensitivity to every assumption, bootstrap confidence intervals, and rho against the "about 1/6" claim.

The verdict compares two deployments: S, the most profitable scenario that keeps requests small, and L,
LLM-only. Every assumption (B per task type, P, fixed costs, volume, the hardware's price and utilisation, the
large model's price) is moved alone while the scenarios' routing stays as measured, and the advantage
Delta = monthly profit(S) - monthly profit(L) is recomputed under the report's one demand model. Its
break-even value is where Delta changes sign: a "crossing" where Delta is continuous there (plugged back in,
the two profits are equal), a "step" where the demand model makes a task type's buyers drop out at once.
A dominated scenario (another is at least as good and at most as dear, one of them strictly) is never
recommended.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

import numpy as np

from smallfirst.costs.prices import hardware_usd_per_second
from smallfirst.economics.assumptions import EconConfig, task_key
from smallfirst.economics.maths import ONE, ZERO, Demand, RhoTarget, ScenarioResult, demand_of, rho_target

#: bootstrap resamples and the two-sided confidence level of every interval
RESAMPLES = 1000
LEVEL = 0.95


# --- records --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate and its bootstrap percentile interval at ``LEVEL``."""

    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of zero."""
        return self.low > 0 or self.high < 0


@dataclass(frozen=True, slots=True)
class Spread:
    """One scenario's sampled figures with intervals: quality (share of good answers, None if ungraded), and
    cost and value created in USD per 1,000 requests."""

    name: str
    n: int
    quality: Interval | None
    cost_per_1k: Interval
    value_per_1k: Interval


@dataclass(frozen=True, slots=True)
class Comparison:
    """``a`` minus ``b`` on one metric, with its interval; ``paired`` when both were resampled by prompt."""

    a: str
    b: str
    metric: str
    diff: Interval
    paired: bool

    @property
    def distinguishable(self) -> bool:
        """False when the interval of the difference contains zero: the sample cannot tell them apart."""
        return self.diff.excludes_zero


@dataclass(frozen=True, slots=True)
class Dominated:
    """``name`` is worse and dearer than ``by``: quality (share) and cost per request (USD) of both."""

    name: str
    by: str
    quality: float
    cost: Decimal
    by_quality: float
    by_cost: Decimal


@dataclass(frozen=True, slots=True)
class Assumption:
    """One assumption's sensitivity: its configured value, the stated range the tornado draws, the advantage
    Delta (USD a month) at each, and where the verdict flips.

    ``kind``: "crossing" (Delta is 0 at ``break_even``), "step" (Delta jumps across 0 at ``break_even``) or
    "never" (no value in ``domain`` flips it; ``break_even`` is None)."""

    key: str
    label: str
    unit: str
    base: Decimal
    low: Decimal
    high: Decimal
    delta_base: Decimal
    delta_low: Decimal
    delta_high: Decimal
    break_even: Decimal | None
    kind: str
    domain: tuple[Decimal, Decimal]
    note: str = ""
    #: ranked with the others and drawn in the tornado (False for the quality target, another scenario)
    ranked: bool = True

    @property
    def distance(self) -> Decimal | None:
        """|break-even - configured| in half-widths of the stated range: below 1, the flip lies inside it."""
        if self.break_even is None:
            return None
        half = (self.high - self.low) / 2
        return abs(self.break_even - self.base) / half if half > 0 else None

    @property
    def change(self) -> Decimal | None:
        """(break-even - configured) / configured, None when the configured value is 0 or nothing flips."""
        if self.break_even is None or self.base == 0:
            return None
        return (self.break_even - self.base) / self.base


@dataclass(frozen=True)
class Decision:
    """The report's recommendation and everything that qualifies it."""

    demand: Demand
    #: the most profitable scenario that is neither dominated nor excluded (the oracle bound)
    recommended: str
    #: S: the most profitable non-dominated scenario that keeps requests small; None when there is none
    small_first: str | None
    #: L: LLM-only
    llm: str
    #: monthly profit of S minus L (USD), at the configured assumptions
    delta: Decimal | None
    dominated: list[Dominated] = field(default_factory=list)
    dominated_models: list[Dominated] = field(default_factory=list)
    frontier: list[str] = field(default_factory=list)
    sensitivity: list[Assumption] = field(default_factory=list)
    spreads: dict[str, Spread] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    rho_targets: dict[str, RhoTarget] = field(default_factory=dict)

    @property
    def most_sensitive(self) -> Assumption | None:
        """The ranked assumption whose break-even lies nearest its configured value, in range half-widths."""
        flips = [a for a in self.sensitivity if a.ranked and a.distance is not None]
        return min(flips, key=lambda a: a.distance) if flips else None  # type: ignore[arg-type, return-value]

    def is_dominated(self, name: str) -> bool:
        """True when scenario ``name`` is dominated."""
        return any(d.name == name for d in self.dominated)


# --- dominance ------------------------------------------------------------------------------------------------


def dominance(points: Mapping[str, tuple[float | None, Decimal]]) -> list[Dominated]:
    """Every point (quality, cost per request) that another point beats: quality at least as high and cost at
    most as high, one of them strictly. Points without a quality are never compared."""
    out = []
    graded = {k: (q, c) for k, (q, c) in points.items() if q is not None}
    for name, (q, c) in graded.items():
        better = [
            (k, qb, cb) for k, (qb, cb) in graded.items()
            if k != name and qb >= q and cb <= c and (qb > q or cb < c)  # type: ignore[operator]
        ]
        if better:
            k, qb, cb = max(better, key=lambda t: (t[1], -t[2]))
            out.append(Dominated(name, k, q, c, qb, cb))  # type: ignore[arg-type]
    return out


def frontier(points: Mapping[str, tuple[float | None, Decimal]]) -> list[str]:
    """The non-dominated graded points, from the cheapest to the dearest."""
    beaten = {d.name for d in dominance(points)}
    return sorted((k for k, (q, _) in points.items() if q is not None and k not in beaten),
                  key=lambda k: points[k][1])


# --- the profit model the sensitivity moves ----------------------------------------------------------------------


@dataclass(frozen=True)
class Levers:
    """Multipliers and values of the assumptions: B per config task type and P as multipliers, the market
    (requests a month), fixed costs (USD a month), the hardware-cost multiplier and the large model's price
    multiplier."""

    b: Mapping[str, Decimal]
    p: Decimal
    market: Decimal
    fixed_all: Decimal
    fixed_small: Decimal
    hardware: Decimal = ONE
    large: Decimal = ONE


@dataclass(frozen=True, slots=True)
class _Group:
    key: str
    n: int
    b: Decimal
    p: Decimal
    c: Decimal
    hw: Decimal
    large: Decimal


class ProfitModel:
    """A scenario's monthly profit as a function of the assumptions, its routing held as measured. Rows are
    summed once per task (the demand model's unit), so each evaluation costs one pass over the task types."""

    def __init__(self, result: ScenarioResult, config: EconConfig, large_model: str, fixed_demand: bool) -> None:
        acc: dict[str, list] = {}
        for r in result.rows:
            a = acc.setdefault(r.task, [task_key(config, r.task) or "", 0, ZERO, ZERO, ZERO, ZERO, ZERO])
            a[1] += 1
            a[2] += r.benefit
            a[3] += r.price
            a[4] += r.cost
            a[5] += r.hardware
            if r.model == large_model:
                a[6] += r.cost - r.overhead - r.wasted
        self.groups = [_Group(*a) for _, a in sorted(acc.items())]
        self.n = Decimal(len(result.rows))
        self.uses_small = result.uses_small
        self.fixed_demand = fixed_demand

    def profit(self, lv: Levers) -> Decimal:
        """V * M / n - F with every lever applied (USD a month)."""
        margin = ZERO
        for g in self.groups:
            p = g.p * lv.p
            if not self.fixed_demand and g.b * lv.b.get(g.key, ONE) < p:
                continue
            margin += p - g.c - (lv.hardware - ONE) * g.hw - (lv.large - ONE) * g.large
        return lv.market * margin / self.n - lv.fixed_all - (lv.fixed_small if self.uses_small else ZERO)

    @property
    def hardware_cost(self) -> Decimal:
        """Sum of the hardware part of the costs."""
        return sum((g.hw for g in self.groups), ZERO)

    @property
    def large_cost(self) -> Decimal:
        """Sum of the large model's part of the costs."""
        return sum((g.large for g in self.groups), ZERO)


def _sign(x: Decimal) -> int:
    return (x > 0) - (x < 0)


def find_flip(
    delta: Callable[[Decimal], Decimal], base: Decimal, lo: Decimal, hi: Decimal, steps: int = 48
) -> tuple[Decimal | None, str]:
    """The value nearest ``base`` in [lo, hi] where ``delta`` changes sign, and "crossing" (delta is 0 there, to
    Decimal precision) or "step" (it jumps across 0 there; the value returned is on the flipped side); (None,
    "never") when no scanned value flips it.

    Each side is scanned at ``steps`` points spaced geometrically from ``base`` towards its bound; the first
    sign change is narrowed by bisection and then solved by the secant, exact on a linear piece. A delta of
    exactly 0 counts as a flip (a tie) except at the bound itself."""
    d0 = delta(base)
    if d0 == 0:
        return base, "crossing"
    s0 = _sign(d0)
    found: list[tuple[Decimal, str]] = []
    for bound in (hi, lo):
        span = bound - base
        if span == 0:
            continue
        prev_x, prev_d = base, d0
        for k in range(steps + 1):
            t = Decimal(2) ** (k - steps) if k < steps else ONE
            x = base + span * t
            d = delta(x)
            # zero at the domain's edge is no flip (at zero volume every scenario earns the same nothing)
            if _sign(d) == -s0 or (d == 0 and k < steps):
                found.append(_narrow(delta, prev_x, prev_d, x, d, s0))
                break
            prev_x, prev_d = x, d
    if not found:
        return None, "never"
    return min(found, key=lambda f: abs(f[0] - base))


def _narrow(
    delta: Callable[[Decimal], Decimal], a: Decimal, da: Decimal, b: Decimal, db: Decimal, s0: int
) -> tuple[Decimal, str]:
    scale = abs(da) + abs(db)
    tol = scale * Decimal("1e-18") + Decimal("1e-18")
    for _ in range(200):
        if db == 0:
            return b, "crossing"
        x = a - da * (b - a) / (db - da)  # secant: exact where delta is linear between a and b
        dx = delta(x)
        if abs(dx) <= tol:
            return x, "crossing"
        m = (a + b) / 2
        dm = delta(m)
        if _sign(dm) == s0:
            a, da = m, dm
        else:
            b, db = m, dm
        if abs(b - a) <= abs(b) * Decimal("1e-24") + Decimal("1e-24"):
            return b, "step"
    return b, "step"


def sensitivity(
    s: ScenarioResult, llm: ScenarioResult, config: EconConfig, demand: Demand
) -> list[Assumption]:
    """Every assumption's break-even and tornado range for the advantage of ``s`` over ``llm``."""
    large_model = next(iter(llm.models), "")
    fixed = demand.fixed
    ms, ml = (ProfitModel(r, config, large_model, fixed) for r in (s, llm))
    keys = sorted({g.key for g in (*ms.groups, *ml.groups)})
    base = Levers(
        b={k: ONE for k in keys},
        p=ONE,
        market=demand.market,
        fixed_all=config.fixed.per_month(),
        fixed_small=config.fixed_small.per_month(),
    )

    def _run(key: str, label: str, unit: str, x0: Decimal, lo: Decimal, hi: Decimal,
            rng: tuple[Decimal, Decimal], move: Callable[[Decimal], Levers], note: str = "") -> Assumption:
        def _delta(x: Decimal) -> Decimal:
            lv = move(x)
            return ms.profit(lv) - ml.profit(lv)

        be, kind = find_flip(_delta, x0, lo, hi)
        return Assumption(key, label, unit, x0, rng[0], rng[1], _delta(x0), _delta(rng[0]), _delta(rng[1]),
                          be, kind, (lo, hi), note)

    out: list[Assumption] = []
    big = Decimal(100)
    for k in keys:
        spec = config.tasks.get(k)
        shown = (f"value_good ${spec.value_good}, value_bad ${spec.value_bad}"
                 if spec is not None and spec.value_good is not None else "its score map")
        out.append(_run(f"b:{k}", f"B of {k} answers ({shown}), as a multiple", "x", ONE, ZERO, big,
                       (Decimal("0.5"), Decimal("1.5")),
                       lambda x, k=k: replace(base, b={**base.b, k: x}),
                       "" if not fixed else "under a fixed demand B moves value created, not profit"))
    out.append(_run("p", "price P of every task type, as a multiple", "x", ONE, ZERO, big,
                   (Decimal("0.5"), Decimal("1.5")), lambda x: replace(base, p=x)))
    fs = base.fixed_small
    d0 = ms.profit(base) - ml.profit(base)
    top = max(fs * 2, abs(d0) * 2, ONE)
    out.append(_run("fixed_small", "fixed costs of the small-model stack", "USD/month", fs, ZERO,
                   fs + 1000 * top, (ZERO, top), lambda x: replace(base, fixed_small=x),
                   "" if s.uses_small != llm.uses_small else "carried by both scenarios"))
    fa = base.fixed_all
    out.append(_run("fixed_all", "fixed costs of every scenario", "USD/month", fa, ZERO, fa + 1000 * max(fa, ONE),
                   (fa / 2, fa * 2 if fa else ONE), lambda x: replace(base, fixed_all=x),
                   "carried by both scenarios alike: moves profit, never the choice"))
    v = base.market
    out.append(_run("volume", "volume (requests a month" + ("" if fixed else " in the market") + ")",
                   "requests/month", v, ZERO, v * 1000, (v / 2, v * 2), lambda x: replace(base, market=x)))
    hw = config.hardware
    rate = hardware_usd_per_second(hw)
    if rate > 0 and (ms.hardware_cost > 0 or ml.hardware_cost > 0):
        def _at(**change: Decimal) -> Decimal:
            return hardware_usd_per_second(hw.model_copy(update=change)) / rate

        price0 = hw.price_usd
        out.append(_run("hw_price", f"hardware purchase price ({hw.name})", "USD", price0, ZERO,
                       max(price0, ONE) * 1000, (price0 / 2, price0 * 2),
                       lambda x: replace(base, hardware=_at(price_usd=x))))
        u0 = hw.utilisation
        out.append(_run("hw_utilisation", f"hardware utilisation ({hw.name})", "share", u0, Decimal("0.001"), ONE,
                       (max(u0 / 2, Decimal("0.01")), min(u0 * 2, ONE)),
                       lambda x: replace(base, hardware=_at(utilisation=x))))
    if ms.large_cost > 0 or ml.large_cost > 0:
        out.append(_run("large", f"price of the large model ({large_model}), as a multiple", "x", ONE, ZERO, big,
                       (Decimal("0.5"), Decimal("1.5")), lambda x: replace(base, large=x)))
    return out


def quality_target(
    curve_quality: np.ndarray, curve_profit: Callable[[int], Decimal], llm: ScenarioResult
) -> Assumption | None:
    """The quality target of a threshold router on the same scores (quality as a share of LLM-only's): where the
    router's monthly profit equals LLM-only's, interpolating between neighbouring thresholds (a randomised
    threshold mixes the two). Its base is the most profitable threshold. Not ranked: it is another scenario."""
    lq = llm.stick.quality
    if not lq or len(curve_quality) < 2:
        return None
    rel = [Decimal(repr(float(q))) / Decimal(repr(float(lq))) for q in curve_quality]
    lp = llm.monthly_profit
    deltas = [curve_profit(i) - lp for i in range(len(rel))]
    best = max(range(len(rel)), key=lambda i: deltas[i])
    order = sorted(range(len(rel)), key=lambda i: rel[i])

    def _at(x: Decimal) -> Decimal:
        for a, b in zip(order, order[1:], strict=False):
            if rel[a] <= x <= rel[b]:
                t = ZERO if rel[b] == rel[a] else (x - rel[a]) / (rel[b] - rel[a])
                return deltas[a] + t * (deltas[b] - deltas[a])
        return deltas[order[0]] if x < rel[order[0]] else deltas[order[-1]]

    lo, hi = rel[order[0]], rel[order[-1]]
    x0 = rel[best]
    be, kind = find_flip(_at, x0, lo, hi)
    rng = (max(lo, x0 - Decimal("0.05")), min(hi, x0 + Decimal("0.05")))
    return Assumption("quality_target", "quality target of a threshold router (share of LLM-only's quality)",
                      "share", x0, rng[0], rng[1], _at(x0), _at(rng[0]), _at(rng[1]), be, kind, (lo, hi),
                      "a threshold router on the hybrid's scores, not the recommended scenario", ranked=False)


# --- uncertainty ---------------------------------------------------------------------------------------------


def _arrays(r: ScenarioResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    q = np.array([np.nan if x.quality is None else x.quality for x in r.rows], dtype=float)
    c = np.array([float(x.cost) for x in r.rows])
    v = np.array([float(x.benefit - x.cost) for x in r.rows])
    return q, c, v


def _interval(estimate: float, samples: np.ndarray) -> Interval:
    a = (1 - LEVEL) / 2 * 100
    lo, hi = np.percentile(samples, [a, 100 - a])
    return Interval(float(estimate), float(lo), float(hi))


def spread(r: ScenarioResult, rng: np.random.Generator, resamples: int = RESAMPLES) -> Spread:
    """Bootstrap intervals (percentile, resampling requests with replacement) of one scenario's figures."""
    q, c, v = _arrays(r)
    n = len(c)
    graded = not np.isnan(q).any()
    qs, cs, vs = np.empty(resamples), np.empty(resamples), np.empty(resamples)
    for k in range(resamples):
        idx = rng.integers(0, n, n)
        qs[k] = q[idx].mean() if graded else np.nan
        cs[k], vs[k] = c[idx].mean() * 1000, v[idx].mean() * 1000
    return Spread(r.name, n, _interval(q.mean(), qs) if graded else None,
                  _interval(c.mean() * 1000, cs), _interval(v.mean() * 1000, vs))


def _keyed(r: ScenarioResult) -> dict[str, int] | None:
    keys = [x.item for x in r.rows]
    if any(k is None for k in keys) or len(set(keys)) != len(keys):
        return None
    return {k: i for i, k in enumerate(keys)}  # type: ignore[misc]


def compare(a: ScenarioResult, b: ScenarioResult, rng: np.random.Generator,
            resamples: int = RESAMPLES) -> list[Comparison]:
    """a - b in quality and in value created per 1,000 requests, with bootstrap intervals: paired by prompt when
    both scenarios served the same prompts once each, else each resampled on its own."""
    qa, _, va = _arrays(a)
    qb, _, vb = _arrays(b)
    ka, kb = _keyed(a), _keyed(b)
    paired = ka is not None and kb is not None and ka.keys() == kb.keys()
    if paired:
        order = list(ka)  # type: ignore[union-attr]
        ia = np.array([ka[k] for k in order])  # type: ignore[index]
        ib = np.array([kb[k] for k in order])  # type: ignore[index]
        qa, va, qb, vb = qa[ia], va[ia], qb[ib], vb[ib]
    graded = not (np.isnan(qa).any() or np.isnan(qb).any())
    dq, dv = np.empty(resamples), np.empty(resamples)
    for k in range(resamples):
        i = rng.integers(0, len(va), len(va))
        j = i if paired else rng.integers(0, len(vb), len(vb))
        dq[k] = qa[i].mean() - qb[j].mean() if graded else np.nan
        dv[k] = (va[i].mean() - vb[j].mean()) * 1000
    out = [Comparison(a.name, b.name, "value created per 1,000 requests (USD)",
                      _interval((va.mean() - vb.mean()) * 1000, dv), paired)]
    if graded:
        out.insert(0, Comparison(a.name, b.name, "quality (share of good answers)",
                                 _interval(qa.mean() - qb.mean(), dq), paired))
    return out


# --- the decision ----------------------------------------------------------------------------------------------


def llm_only(results: Sequence[ScenarioResult]) -> ScenarioResult:
    """LLM-only by name, else the scenario that keeps the fewest requests small."""
    named = [r for r in results if r.name.lower().replace("_", "-") == "llm-only"]
    return named[0] if named else min(results, key=lambda r: r.rho.f)


def decide(
    results: Sequence[ScenarioResult],
    config: EconConfig,
    *,
    models: Mapping[str, tuple[float, Decimal]] | None = None,
    curve_quality: np.ndarray | None = None,
    curve_profit: Callable[[int], Decimal] | None = None,
    exclude: Sequence[str] = (),
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> Decision:
    """Recommend a scenario and qualify it. ``models``: each model's (quality, cost per request) on the whole
    workload, for model dominance; ``curve_quality``/``curve_profit``: a threshold router's quality at each
    point of its sweep and the monthly profit there (USD), for the quality target; ``exclude``: scenarios never
    recommended (the oracle bound)."""
    demand = demand_of(config)
    real = [r for r in results if r.name not in exclude]
    points = {r.name: (r.stick.quality, r.unit_cost) for r in real}
    dominated = dominance(points)
    beaten = {d.name for d in dominated}
    open_ = [r for r in real if r.name not in beaten] or real
    recommended = max(open_, key=lambda r: (r.monthly_profit, -r.unit_cost))
    llm = llm_only(real)
    small = [r for r in open_ if r.uses_small and r is not llm]
    s = recommended if recommended.uses_small and recommended is not llm else (
        max(small, key=lambda r: (r.monthly_profit, -r.unit_cost)) if small else None)
    rows: list[Assumption] = []
    if s is not None:
        rows = sensitivity(s, llm, config, demand)
        if curve_quality is not None and curve_profit is not None:
            qt = quality_target(curve_quality, curve_profit, llm)
            if qt is not None:
                rows.append(qt)
    rng = np.random.default_rng(seed)
    spreads = {r.name: spread(r, rng, resamples) for r in results}
    comparisons = [c for r in real if r is not recommended for c in compare(recommended, r, rng, resamples)]
    return Decision(
        demand=demand,
        recommended=recommended.name,
        small_first=None if s is None else s.name,
        llm=llm.name,
        delta=None if s is None else s.monthly_profit - llm.monthly_profit,
        dominated=dominated,
        dominated_models=dominance(models) if models else [],
        frontier=frontier(points),
        sensitivity=rows,
        spreads=spreads,
        comparisons=comparisons,
        rho_targets={r.name: rho_target(r.rho) for r in results if r.uses_small},
    )
