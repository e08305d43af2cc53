"""The shadow sampler: which answered requests are also answered by the other tier, within a daily budget.

A shadow answer is what learning pays to find out whether the other tier would have done as well: a small-tier
answer beside a large-tier one is cheap (before a learned policy serves, every request is the large tier's), a
large-tier answer beside a small-tier one costs a full large call. So the sampler draws each gradable request with
probability ``learning.shadow_rate`` while the large tier serves everything, and ``learning.guard_rate`` once a
learned policy serves, whichever tier answered it: uniform within each phase, so the outcome rows stay an
equal-weight sample of the traffic and the guard's rows a fair sample of what the policy serves. The generator is
seeded with ``learning.seed``; each row keeps the probability it was drawn with. Once the day's learning cost (UTC)
reaches ``learning.budget_usd_per_day`` the sampler draws nothing until the next day.
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

    def rate(self, learned: bool) -> float:
        """The draw probability: the guard's once a learned policy serves, else the learning rate."""
        return self.cfg.guard_rate if learned else self.cfg.shadow_rate

    def _roll_day(self, now: datetime) -> None:
        if now.date() != self.day:
            self.day, self.spent = now.date(), Decimal(0)

    @property
    def over_budget(self) -> bool:
        """True when today's learning cost has reached the daily budget."""
        return self.spent >= self.cfg.budget_usd_per_day

    def pick(self, *, learned: bool, now: datetime | None = None) -> float | None:
        """The probability with which this request was drawn when it is to be shadowed, else None."""
        self._roll_day(now or datetime.now(UTC))
        p = self.rate(learned)
        if p <= 0 or self.over_budget:
            return None
        return p if self._rng.random() < p else None

    def spend(self, usd: Decimal, now: datetime | None = None) -> None:
        """Count ``usd`` of learning cost against today's budget."""
        self._roll_day(now or datetime.now(UTC))
        self.spent += usd
