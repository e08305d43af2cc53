"""Money in the database as an integer count of picodollars (1e-12 USD): exact, summable in SQL on both
SQLite and Postgres, and fine-grained enough for a single small-model request."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy.types import TypeDecorator

PICO = Decimal("1e-12")


class Money(TypeDecorator[Decimal]):
    """A Decimal USD amount stored as a BIGINT of picodollars, rounded half to even (the largest amount a signed
    64-bit column holds is about 9.2 million USD)."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> int | None:
        """USD (anything ``Decimal`` accepts) to integer picodollars; None stays NULL."""
        if value is None:
            return None
        return int((Decimal(value) / PICO).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        """Integer picodollars back to exact Decimal USD; NULL stays None."""
        return None if value is None else Decimal(int(value)) * PICO
