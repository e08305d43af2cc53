"""How the CLI shows money, errors and the one-line cost summary."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def usd(amount: Decimal, places: int = 6) -> str:
    """``amount`` (USD) as ``$0.000123``, rounded to ``places`` decimals."""
    return f"${amount:.{places}f}"


def saving_pct(cost: Decimal, baseline: Decimal) -> str:
    """The saving against the baseline as a whole percentage, (baseline - cost) / baseline, e.g. "97%" (negative
    when dearer); "n/a" when the baseline cost nothing."""
    if baseline <= 0:
        return "n/a"
    return f"{(baseline - cost) / baseline * 100:.0f}%"
