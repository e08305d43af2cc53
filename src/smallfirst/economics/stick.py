"""The value stick (Brandenburger & Stuart; Oberholzer-Gee): B, P, C and WTS per request and summed.

value created = B - C, value captured = P - C, customer surplus = B - P; so created = captured + surplus.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from smallfirst.economics.value import THOUSAND, ZERO
from smallfirst.errors import DataError


class _Split:
    """The three parts of the stick, for anything holding benefit (B), price (P) and cost (C)."""

    __slots__ = ()
    benefit: Decimal
    price: Decimal
    cost: Decimal

    @property
    def value_created(self) -> Decimal:
        return self.benefit - self.cost

    @property
    def value_captured(self) -> Decimal:
        return self.price - self.cost

    @property
    def customer_surplus(self) -> Decimal:
        return self.benefit - self.price


@dataclass(frozen=True, slots=True)
class RequestValue(_Split):
    """One request of one scenario, priced."""

    task: str
    model: str
    benefit: Decimal
    price: Decimal
    cost: Decimal
    baseline_cost: Decimal
    #: True when answered by a model other than the baseline (the "kept small" share f)
    small: bool
    quality: float | None = None
    tokens: int = 0
    wts: Decimal | None = None
    created_at: datetime | None = None
    #: cost of cheaper attempts a cascade made before this answer (already inside ``cost``)
    wasted: Decimal = ZERO
    #: routing overhead (already inside ``cost``)
    overhead: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class ValueStick(_Split):
    """Sums over a group of requests; ``per_1k`` scales any of them to 1,000 requests."""

    n: int
    benefit: Decimal
    price: Decimal
    cost: Decimal
    baseline_cost: Decimal
    wts: Decimal | None
    quality: float | None

    @property
    def chain_value(self) -> Decimal | None:
        """B - WTS: the value created along the whole chain, supplier included."""
        return None if self.wts is None else self.benefit - self.wts

    @property
    def gross_margin(self) -> Decimal | None:
        return None if self.price == 0 else (self.price - self.cost) / self.price

    @property
    def rho(self) -> Decimal | None:
        return None if self.baseline_cost == 0 else self.cost / self.baseline_cost

    @property
    def capture_share(self) -> Decimal | None:
        """Share of the value created that the firm captures."""
        return None if self.value_created == 0 else self.value_captured / self.value_created

    @property
    def deal_possible(self) -> bool:
        """WTS <= C <= P <= B: every party is at least as well off as without the deal."""
        low = self.wts if self.wts is not None else self.cost
        return low <= self.cost <= self.price <= self.benefit

    def per_1k(self, amount: Decimal) -> Decimal:
        return amount * THOUSAND / self.n

    def per_request(self, amount: Decimal) -> Decimal:
        return amount / self.n


def stick(rows: Sequence[RequestValue]) -> ValueStick:
    if not rows:
        raise DataError("no requests to sum", hint="check the period, tag or workload filter")
    wts = None if any(r.wts is None for r in rows) else sum((r.wts for r in rows), ZERO)  # type: ignore[misc]
    graded = [r.quality for r in rows if r.quality is not None]
    return ValueStick(
        n=len(rows),
        benefit=sum((r.benefit for r in rows), ZERO),
        price=sum((r.price for r in rows), ZERO),
        cost=sum((r.cost for r in rows), ZERO),
        baseline_cost=sum((r.baseline_cost for r in rows), ZERO),
        wts=wts,
        quality=sum(graded) / len(graded) if graded else None,
    )


def group(rows: Iterable[RequestValue], key: Callable[[RequestValue], str]) -> dict[str, ValueStick]:
    buckets: dict[str, list[RequestValue]] = defaultdict(list)
    for r in rows:
        buckets[key(r)].append(r)
    return {k: stick(v) for k, v in sorted(buckets.items())}


def by_task(rows: Iterable[RequestValue]) -> dict[str, ValueStick]:
    return group(rows, lambda r: r.task)


_PERIOD_FORMATS = {"day": "%Y-%m-%d", "week": "%G-W%V", "month": "%Y-%m"}


def by_period(rows: Sequence[RequestValue], period: str = "month") -> dict[str, ValueStick]:
    if period not in _PERIOD_FORMATS:
        raise DataError(f"unknown period {period!r}", hint=f"use one of {', '.join(_PERIOD_FORMATS)}")
    if any(r.created_at is None for r in rows):
        raise DataError(
            "requests without a timestamp cannot be grouped by period",
            hint="periods need the request log, not an outcome data set",
        )
    fmt = _PERIOD_FORMATS[period]
    return group(rows, lambda r: r.created_at.strftime(fmt))  # type: ignore[union-attr]


def _utc(moment: datetime | None) -> datetime | None:
    """The log stores UTC; a moment given without a zone is read as UTC too."""
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def within(row: RequestValue, since: datetime | None, until: datetime | None) -> bool:
    lo, hi, at = _utc(since), _utc(until), _utc(row.created_at)
    return at is not None and (lo is None or at >= lo) and (hi is None or at < hi)


def in_period(
    rows: Sequence[RequestValue], since: datetime | None, until: datetime | None
) -> list[RequestValue]:
    """Rows with since <= created_at < until; an empty period is an error, not a zero."""
    kept = [r for r in rows if within(r, since, until)]
    if not kept:
        raise DataError(
            f"the period {since or '...'} to {until or '...'} has no requests",
            hint="widen --since/--until, or check that the log holds requests of that time",
        )
    return kept
