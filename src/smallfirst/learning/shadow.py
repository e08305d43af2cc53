"""The shadow sampler: which answered requests are also answered by the other tier, within a daily budget.

A shadow answer is what learning pays to find out whether the other tier would have done as well: a small-tier
answer beside a large-tier one is cheap, a large-tier answer beside a small-tier one costs a full large call. So the
sampler draws a request the large tier answered with probability ``learning.shadow_rate``, and one the small tier
answered with ``learning.guard_rate`` (before a learned policy serves, every request is the large tier's), from a
generator seeded with ``learning.seed``. Each outcome row keeps its probability: weighted by 1/p (Horvitz-Thompson),
the rows estimate the whole gradable traffic, whichever tier answered it. Once the day's learning cost (UTC) reaches
``learning.budget_usd_per_day`` the sampler draws nothing until the next day.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from smallfirst.config import LearningSettings

__all__ = ["ShadowSampler"]


@dataclass
class ShadowSampler:
    """Draws shadowed requests. ``spent`` is the learning cost of ``day`` so far (USD)."""

    cfg: LearningSettings
    spent: Decimal = Decimal(0)
    day: date | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.cfg.seed)
        self.day = self.day or datetime.now(UTC).date()

    def rate(self, served_by_large: bool) -> float:
        """The draw probability of a request the large tier (else the small tier) answered."""
        return self.cfg.shadow_rate if served_by_large else self.cfg.guard_rate

    def _roll_day(self, now: datetime) -> None:
        if now.date() != self.day:
            self.day, self.spent = now.date(), Decimal(0)

    @property
    def over_budget(self) -> bool:
        """True when today's learning cost has reached the daily budget."""
        return self.spent >= self.cfg.budget_usd_per_day

    def pick(self, *, served_by_large: bool, now: datetime | None = None) -> float | None:
        """The probability with which this request was drawn when it is to be shadowed, else None."""
        self._roll_day(now or datetime.now(UTC))
        p = self.rate(served_by_large)
        if p <= 0 or self.over_budget:
            return None
        return p if self._rng.random() < p else None

    def spend(self, usd: Decimal, now: datetime | None = None) -> None:
        """Count ``usd`` of learning cost against today's budget."""
        self._roll_day(now or datetime.now(UTC))
        self.spent += usd
