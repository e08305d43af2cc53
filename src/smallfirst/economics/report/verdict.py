"""The plain-language verdict: does small-model-first pay on this workload, who gets the value, which assumption
decides it, and what the sample cannot tell apart. Dominance is said first."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from smallfirst.economics.decision import Assumption, Decision, Dominated
from smallfirst.economics.maths import ScenarioResult
from smallfirst.economics.workload import ORACLE, EconomicsReport, RouterFit

#: a routed scenario that sends at least this share of its requests to one deployment's model is that deployment
#: in all but name
COLLAPSE_SHARE = 0.95


def usd(x: Decimal | float | None, places: int = 2) -> str:
    """Dollars with thousands separators; tiny amounts get six decimals so they do not read as zero."""
    if x is None:
        return "n/a"
    v = float(x)
    if v != 0 and abs(v) < 10**-places:
        return f"${v:,.6f}".replace("$-", "-$")
    return f"${v:,.{places}f}".replace("$-", "-$")


def volume(q: Decimal | None) -> str:
    """A break-even volume in words."""
    return "never (no margin at the configured price)" if q is None else f"{float(q):,.0f} requests/month"


def _is(r: ScenarioResult, name: str) -> bool:
    return r.name.lower().replace("_", "-") == name


def pick(
    results: Sequence[ScenarioResult], decision: Decision | None = None
) -> tuple[ScenarioResult, ScenarioResult | None, ScenarioResult | None]:
    """(LLM-only, SLM-only, best hybrid by value created), found by name, else by share kept small; a dominated
    hybrid is passed over while an undominated one exists."""
    llm = next((r for r in results if _is(r, "llm-only")), None) or min(results, key=lambda r: r.rho.f)
    slm = next((r for r in results if _is(r, "slm-only")), None)
    others = [r for r in results if r is not llm and r is not slm and r.name != ORACLE]
    if decision is not None:
        others = [r for r in others if not decision.is_dominated(r.name)] or others
    hybrid = max(others, key=lambda r: r.stick.value_created) if others else slm
    return llm, slm, hybrid


def _points(loss: float) -> str:
    """A quality difference against LLM-only, in words that stay right when it is a gain."""
    if abs(loss) < 0.05:
        return "matches LLM-only's quality"
    return f"loses {loss:.1f} points of quality" if loss > 0 else f"gains {-loss:.1f} points of quality"


def _dominated(d: Dominated, what: str) -> str:
    return (
        f"{what} {d.name} is dominated by {d.by}: {d.by} is at least as good ({d.by_quality * 100:.1f}% against "
        f"{d.quality * 100:.1f}%) and at most as dear ({usd(d.by_cost * 1000)} against {usd(d.cost * 1000)} "
        "per 1,000 requests)"
    )


def dominance_lines(decision: Decision) -> list[str]:
    """Dominated models first (then routing between them is pointless), then dominated scenarios."""
    out = []
    for d in decision.dominated_models:
        out.append(
            _dominated(d, "Model")
            + f"; use {d.by} for these requests: no routing between the two beats it on both cost and quality."
        )
    if decision.dominated:
        out.append(
            "; ".join(_dominated(d, "Scenario") for d in decision.dominated)
            + ". A dominated scenario is never recommended."
        )
    return out


def _pct(share: float) -> str:
    """A share as a percentage that never rounds a part up to the whole (or down to nothing)."""
    text = f"{share * 100:.0f}%"
    return f"{share * 100:.1f}%" if text in ("100%", "0%") and 0 < share < 1 else text


def _within_rounding(a: ScenarioResult, b: ScenarioResult) -> bool:
    """Quality within half a tenth of a point and cost within half a cent per 1,000 requests: the same figures
    as the report prints them."""
    qa, qb = a.stick.quality, b.stick.quality
    if qa is None or qb is None:
        return False
    cost = abs(a.stick.per_1k(a.stick.cost) - b.stick.per_1k(b.stick.cost))
    return abs(qa - qb) < 0.0005 and cost < Decimal("0.005")


def _change(saving: float, points: float, worth: float) -> str:
    """A move's cost and quality in words: ``saving`` in dollars per 1,000 requests (negative: it costs more),
    ``points`` of quality lost (negative: gained) and ``worth``, the value of the answers lost at the configured B
    in dollars per 1,000 requests (negative: gained)."""
    cost = f"save {usd(saving)}" if saving >= 0 else f"cost {usd(-saving)} more"
    if abs(points) < 0.05:
        quality = "keep the same mean quality"
    else:
        quality = f"{'lose' if points > 0 else 'gain'} {abs(points):.1f} points of quality"
    answers = f"answers worth {usd(abs(worth))} {'less' if worth >= 0 else 'more'} at the configured B"
    return f"{cost} per 1,000 requests and {quality} ({answers})"


def collapse_lines(report: EconomicsReport) -> list[str]:
    """One sentence per routed scenario that is LLM-only or SLM-only in all but name: it sends at least
    ``COLLAPSE_SHARE`` of its requests to that deployment's model, or matches its quality and cost within the
    report's rounding. Where the report carries the router's fit (:class:`RouterFit`), the sentence says why from
    its threshold curve and APGR, or says that the measured economics called for other routing."""
    real = [r for r in report.results if r.name != ORACLE]
    if len(real) < 2:
        return []
    llm, slm, _ = pick(real)
    ends = [(llm, "LLM-only", True)] + ([(slm, "SLM-only", False)] if slm is not None else [])
    out = []
    for r in real:
        if r is llm or r is slm or not r.stick.n:
            continue
        routed = r.name in report.routers or len(r.models) > 1
        for end, label, large in ends:
            model = max(end.models.items(), key=lambda kv: kv[1])[0]
            sent = r.models.get(model, 0)
            share = sent / r.stick.n
            if share < COLLAPSE_SHARE and not (routed and _within_rounding(r, end)):
                continue
            out.append(_collapse(r, end, label, model, sent, large, report.routers.get(r.name)))
            break
    return out


def _collapse(r: ScenarioResult, end: ScenarioResult, label: str, model: str, sent: int, large: bool,
              fit: RouterFit | None) -> str:
    share = sent / r.stick.n
    q, q_end = r.stick.quality, end.stick.quality
    figures = (
        (f"quality {q * 100:.1f}% against {q_end * 100:.1f}%, " if q is not None and q_end is not None else "")
        + f"cost {usd(r.stick.per_1k(r.stick.cost))} against {usd(end.stick.per_1k(end.stick.cost))} per 1,000 "
        "requests"
    )
    if share >= COLLAPSE_SHARE:
        line = (
            f"{r.name} sends {_pct(share)} of its requests ({sent:,} of {r.stick.n:,}) to {model}, {label}'s model, "
            f"so it is {label} in all but name ({figures})"
        )
    else:
        line = (
            f"{r.name} matches {label}'s quality and cost within rounding ({figures}) although it sends "
            f"{_pct(share)} of its requests to {model}"
        )
    if fit is None:
        return line + "; the report holds no record of how its router was calibrated, so it cannot say why."
    return line + (_why(fit, large) if share >= COLLAPSE_SHARE else "") + "."


def _why(fit: RouterFit, large: bool) -> str:
    """Why a router sends (almost) everything to one model, from its threshold curve: the best threshold that moves
    at least 1 - COLLAPSE_SHARE of requests to the other model, against sending them all to this one."""
    c = fit.curve
    ref = len(c.large_share) - 1 if large else 0
    moved_by = abs(c.large_share - c.large_share[ref])
    far = np.flatnonzero(moved_by >= 1 - COLLAPSE_SHARE - 1e-9)
    alt = int(far[np.argmax(c.value_created[far])])
    moved = float(moved_by[alt])
    # the curve is float (it is drawn): round away the summation noise before the signs are read
    gap = round(float(c.value_created[ref] - c.value_created[alt]), 6)  # value created lost by moving
    saving = round(float(c.cost[ref] - c.cost[alt]), 6)
    worth = round(gap + saving, 6)  # B lost: value created is B - C
    points = float(c.quality[ref] - c.quality[alt]) * 100
    this, other = ("large", "small") if large else ("small", "large")
    whom = (
        f"every request to the {other} model" if moved > 1 - 1e-9
        else f"the {_pct(moved)} of requests the router is {'surest' if large else 'least sure'} of to the "
        f"{other} model"
    )
    move = f"sends {whom}, which would {_change(saving, points, worth)}"
    where = f"on the {fit.n:,} outcomes its router was calibrated on ({fit.source})"
    if gap >= 0:
        text = (
            f": {where}, no threshold of the {len(c.thresholds):,} on its curve that moves "
            f"{_pct(1 - COLLAPSE_SHARE)} or more of requests to the {other} model creates more value than "
            f"sending all to the {this} one; the best of them {move}: {usd(gap)} per 1,000 requests less value "
            "created"
        )
    else:
        text = (
            f"; yet {where}, the threshold that {move}, creates {usd(-gap)} per 1,000 requests more value than "
            f"sending all to the {this} model"
            + (f" (its calibrated threshold sent {_pct(fit.share)} to the large model there)"
               if fit.share is not None else "")
            + ": its routing does not follow the measured economics"
        )
    if fit.apgr is not None:
        text += (
            f"; its router, {fit.router}, orders those requests with "
            f"{'a cross-fitted' if fit.cross_fitted else 'an'} APGR of {fit.apgr:.3f} "
            f"(random routing 0.500"
            + (f", an oracle {fit.apgr_oracle:.3f}" if fit.apgr_oracle is not None else "")
            + ")"
        )
    return text


def value_of(a: Assumption, x: Decimal | None) -> str:
    """An assumption's value in its unit."""
    if x is None:
        return "n/a"
    if a.unit == "x":
        return f"x{float(x):.3g}"
    if a.unit in ("USD", "USD/month"):
        return usd(x) + ("/month" if a.unit == "USD/month" else "")
    if a.unit == "share":
        return f"{float(x) * 100:.1f}%"
    return f"{float(x):,.0f} {a.unit}"


def flip_words(a: Assumption) -> str:
    """Where an assumption flips the verdict, and how far that is from its configured value."""
    if a.break_even is None:
        return f"does not flip it anywhere from {value_of(a, a.domain[0])} to {value_of(a, a.domain[1])}"
    how = "flips it" if a.kind == "crossing" else "flips it in one step (a task type's buyers drop out)"
    change = a.change
    moved = (
        f"{float(change) * 100:+.1f}%" if change is not None
        else f"{value_of(a, a.break_even - a.base)} from {value_of(a, a.base)}"
    )
    return f"{how} at {value_of(a, a.break_even)} (configured {value_of(a, a.base)}, a change of {moved})"


def verdict(report: EconomicsReport) -> list[str]:
    """The verdict as sentences, dominance first and the bottom line last."""
    d = report.decision
    llm, slm, hybrid = pick(report.results, d)
    out: list[str] = dominance_lines(d) if d is not None else []
    out += collapse_lines(report)
    if hybrid is None:
        hybrid = llm
    s = hybrid.stick
    created = s.per_1k(s.value_created)
    base_created = llm.stick.per_1k(llm.stick.value_created)
    out.append(
        f"{hybrid.name} creates {usd(created)} of value per 1,000 requests (LLM-only: {usd(base_created)}), "
        f"at rho = {float(hybrid.rho.rho):.3f} of what serving every request on {report.baseline} costs."
    )
    share = s.capture_share
    captured, kept = usd(s.per_1k(s.value_captured)), usd(s.per_1k(s.customer_surplus))
    if s.value_created > 0 and share is not None:
        out.append(
            f"At a price of {usd(hybrid.unit_price, 4)} per request you capture {float(share) * 100:.0f}% of it "
            f"(value captured {captured} per 1,000; customers keep {kept})."
        )
    else:  # a share of a loss means nothing: say who pays for it
        out.append(
            f"It creates no value at these willingness-to-pay figures, so nothing is shared: at a price of "
            f"{usd(hybrid.unit_price, 4)} per request you still take {captured} per 1,000 and customers "
            f"keep {kept}, paying more than the answers are worth to them."
        )
    out.append(
        f"Break-even at {volume(hybrid.break_even)} with fixed costs of {usd(hybrid.fixed_per_month)} a month."
    )
    if hybrid.fixed_small_per_month > 0:
        out.append(
            f"Owning the small-model stack pays against LLM-only from {volume(hybrid.break_even_local_vs_api)}."
        )
    if slm is not None and slm.stick.quality is not None and llm.stick.quality is not None:
        gap = (llm.stick.quality - slm.stick.quality) * 100
        out.append(
            f"SLM-only {_points(gap)} ({slm.stick.quality * 100:.1f}% against "
            f"{llm.stick.quality * 100:.1f}%)"
            + (
                f"; {hybrid.name} {_points((llm.stick.quality - s.quality) * 100)}."
                if hybrid is not slm and s.quality is not None
                else "."
            )
        )
    bp = hybrid.best_price
    if bp is not None:
        out.append(
            f"The profit-maximising price for {hybrid.name} is {usd(bp.price, 4)} per request "
            f"({float(bp.buyers):,.0f} requests/month buy at it; profit {usd(bp.profit)} a month)."
        )
    out.append(bottom_line(report))
    return out


def bottom_line(report: EconomicsReport) -> str:
    """The verdict sentence: under the named demand model, the recommended scenario, small-first against LLM-only
    in monthly profit, the assumption the verdict is most sensitive to, and what the sample cannot tell apart."""
    d = report.decision
    real = [r for r in report.results if r.name != ORACLE]
    llm = next((r for r in real if d is not None and r.name == d.llm), None) or pick(real)[0]
    rec = next((r for r in real if d is not None and r.name == d.recommended), None) or max(
        real, key=lambda r: r.monthly_profit
    )
    s = next((r for r in real if d is not None and r.name == d.small_first), None)
    demand = rec.demand
    if s is None:
        line = (
            f"Verdict: no scenario keeps requests small here; LLM-only earns {usd(llm.monthly_profit)} a month "
            f"({demand.kind} demand)"
        )
        return line + "."
    ahead = s.monthly_profit - llm.monthly_profit
    if ahead > 0 and s.monthly_profit > 0:
        word = "pays"
    elif ahead > 0:
        word = "beats LLM-only but does not pay at this volume"
    else:
        word = "does not pay"
    line = (
        f"Verdict: under the {demand.kind} demand model ({float(demand.market):,.0f} requests a month) "
        f"small-model-first {word} here: {s.name} earns {usd(s.monthly_profit)} a month against LLM-only's "
        f"{usd(llm.monthly_profit)} ({usd(abs(ahead))} a month {'more' if ahead >= 0 else 'less'})"
    )
    if rec is not s:
        line += f"; the scenario to run is {rec.name}, {usd(rec.monthly_profit)} a month"
    bp = s.best_price
    if bp is not None and bp.profit > s.monthly_profit:
        line += (
            f"; priced at what its customers will pay, {usd(bp.price, 4)} per request, {s.name} would earn "
            f"{usd(bp.profit)} a month under the same demand model"
        )
    if d is not None:
        most = d.most_sensitive
        if most is not None:
            line += f". It is most sensitive to {most.label}, which {flip_words(most)}"
        else:
            line += ". No assumption flips it within a thousandfold of its configured value"
        same = [c for c in d.comparisons if c.a == rec.name and c.b in (llm.name, s.name) and not c.distinguishable]
        if same:
            line += f". {same[0].a} and {same[0].b} cannot be told apart at this sample size on " + "; nor on ".join(
                f"{c.metric} (difference {c.diff.estimate:+.4g}, 95% interval {c.diff.low:+.4g} to {c.diff.high:+.4g})"
                for c in same if c.b == same[0].b
            )
    return line + "."
