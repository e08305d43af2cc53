"""The plain-language verdict: does small-model-first pay on this workload, and who gets the value?"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from smallfirst.economics.analysis import ScenarioResult
from smallfirst.economics.workload import ORACLE, EconomicsReport


def usd(x: Decimal | float | None, places: int = 2) -> str:
    if x is None:
        return "n/a"
    v = float(x)
    if v != 0 and abs(v) < 10**-places:
        return f"${v:,.6f}".replace("$-", "-$")
    return f"${v:,.{places}f}".replace("$-", "-$")


def volume(q: Decimal | None) -> str:
    return "never (price at or below variable cost)" if q is None else f"{float(q):,.0f} requests/month"


def _is(r: ScenarioResult, name: str) -> bool:
    return r.name.lower().replace("_", "-") == name


def pick(
    results: Sequence[ScenarioResult],
) -> tuple[ScenarioResult, ScenarioResult | None, ScenarioResult | None]:
    """(LLM-only, SLM-only, best hybrid by value created), found by name, else by share kept small."""
    llm = next((r for r in results if _is(r, "llm-only")), None) or min(results, key=lambda r: r.rho.f)
    slm = next((r for r in results if _is(r, "slm-only")), None)
    others = [r for r in results if r is not llm and r is not slm and r.name != ORACLE]
    hybrid = max(others, key=lambda r: r.stick.value_created) if others else slm
    return llm, slm, hybrid


def _points(loss: float) -> str:
    """A quality difference against LLM-only, in words that stay right when it is a gain."""
    if abs(loss) < 0.05:
        return "matches LLM-only's quality"
    return f"loses {loss:.1f} points of quality" if loss > 0 else f"gains {-loss:.1f} points of quality"


def verdict(report: EconomicsReport) -> list[str]:
    llm, slm, hybrid = pick(report.results)
    out: list[str] = []
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
        f"Break-even at {volume(hybrid.break_even)} with fixed costs of {usd(hybrid.fixed_per_month)} "
        "a month."
    )
    if hybrid.fixed_small_per_month > 0:
        out.append(
            f"Owning the small-model stack pays against LLM-only from "
            f"{volume(hybrid.break_even_local_vs_api)}."
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
    out.append(
        f"The profit-maximising price for {hybrid.name} is {usd(bp.price, 4)} per request "
        f"({float(bp.buyers):,.0f} requests/month buy at it; profit {usd(bp.profit)} a month)."
    )
    out.append(_bottom_line(report.results, llm))
    return out


def _bottom_line(results: Sequence[ScenarioResult], llm: ScenarioResult) -> str:
    """Which scenario earns most a month, at the configured price and at each scenario's best price."""
    real = [r for r in results if r.name != ORACLE]
    top = max(real, key=lambda r: r.monthly_profit)
    top_best = max(real, key=lambda r: r.best_price.profit)
    small_first = top is not llm and top.monthly_profit > 0
    word = "pays" if small_first else "does not pay"
    line = (
        f"Verdict: at {top.volume_per_month:,} requests a month small-model-first {word} here: "
        f"{top.name} earns the most at the configured price, {usd(top.monthly_profit)} a month "
        f"(LLM-only: {usd(llm.monthly_profit)})"
    )
    if top_best is not top:
        line += (
            f"; priced at what its customers will pay, {top_best.name} earns most, "
            f"{usd(top_best.best_price.profit)} a month at {usd(top_best.best_price.price, 4)}"
        )
    return line + "."
