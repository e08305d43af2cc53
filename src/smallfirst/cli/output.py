"""How the CLI shows money, errors and the one-line cost summary."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def usd(amount: Decimal, places: int = 6) -> str:
    return f"${amount:.{places}f}"


def saving_pct(cost: Decimal, baseline: Decimal) -> str:
    if baseline <= 0:
        return "n/a"
    return f"{(baseline - cost) / baseline * 100:.0f}%"
