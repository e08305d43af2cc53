"""The price of one request: what it cost, what the baseline model would have cost, and where the prices came
from. Money is ``Decimal`` in US dollars throughout; rounding happens only at display."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

#: decimal places of a USD amount written as text: picodollars, the request log's own resolution (store/money.py)
USD_PLACES = 12


def usd_text(amount: Decimal) -> str:
    """``amount`` (USD) as fixed-point text with :data:`USD_PLACES` decimals, e.g. ``"0.000880000000"``: what the
    gateway's ``smallfirst`` object and ``ask --json`` print (a bare ``str(Decimal)`` can run to 28 digits or
    switch to exponent notation)."""
    return f"{amount:.{USD_PLACES}f}"


@dataclass(frozen=True, slots=True)
class Cost:
    """What one request cost (``amount``), what the baseline model would have cost (``baseline``), in
    ``currency`` (USD), and the price source."""

    amount: Decimal
    baseline: Decimal
    #: e.g. "genai-prices 0.0.48" or "hardware:2-core server".
    source: str
    baseline_model: str
    currency: str = "USD"

    @property
    def saving(self) -> Decimal:
        """baseline - amount."""
        return self.baseline - self.amount

    def __add__(self, other: Cost) -> Cost:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {self.currency} and {other.currency}")
        return Cost(self.amount + other.amount, self.baseline, self.source, self.baseline_model, self.currency)
