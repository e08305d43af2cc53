"""The plain-language verdict: does small-model-first pay on this workload, who gets the value, which assumption
decides it, and what the sample cannot tell apart. Dominance is said first."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from smallfirst.economics.decision import Assumption, Decision, Dominated
from smallfirst.economics.maths import ScenarioResult
from smallfirst.economics.workload import ORACLE, EconomicsReport


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
