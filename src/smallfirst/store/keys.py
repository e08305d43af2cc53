"""Gateway keys: create, list, revoke, look up by secret, and spend a budget atomically.

A key's secret is shown once at creation and stored only as its sha256 (the secret is 256 random bits, so
a fast hash is enough; there is nothing to brute-force). Budgets are enforced by reservation: before a
request runs, one conditional UPDATE adds a worst-case hold to ``spent_usd`` only if the sum stays within the
budget, so N concurrent requests can never together pass a budget that admits fewer. After the request the
hold is replaced by the real cost.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy import Engine, case, literal, or_, select, type_coerce, update
from sqlalchemy.orm import Session

from smallfirst.errors import ConfigError
from smallfirst.store.money import Money
from smallfirst.store.tables import ApiKey

Period = Literal["day", "week", "month", "total"]
PERIODS: tuple[str, ...] = ("day", "week", "month", "total")
SECRET_PREFIX = "sf-"


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A gateway key as callers see it (never its secret): ``prefix`` is the secret's first 10 characters, the
    budget is USD per ``budget_period`` (None: unlimited), ``spent_usd`` counts the current period only,
    ``rate_limit_rpm`` is requests per minute (None: unlimited), ``allowed_models`` empty means any."""

    id: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    budget_usd: Decimal | None
    budget_period: str
    #: spent in the current period
    spent_usd: Decimal
    rate_limit_rpm: int | None
    allowed_models: tuple[str, ...]

    @property
    def active(self) -> bool:
        """True until the key is revoked."""
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class Reservation:
    """A budget hold (USD) taken by ``reserve`` before a request runs, in the period starting at
    ``period_start`` (Unix seconds); ``settle`` replaces it with the real cost."""

    key_id: str
    hold_usd: Decimal
    period_start: int


def hash_secret(secret: str) -> str:
    """The hex sha256 of a key's secret: all the database keeps of it."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def period_bounds(period: str, now: datetime) -> tuple[int, int | None]:
    """Start and end (unix seconds, UTC calendar) of the period holding ``now``; "total" never ends."""
    now = now.astimezone(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        start, end = day, day + timedelta(days=1)
    elif period == "week":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    elif period == "month":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    elif period == "total":
        return 0, None
    else:
        raise ConfigError(f"unknown budget period {period!r}", hint=f"use one of {', '.join(PERIODS)}")
    return int(start.timestamp()), int(end.timestamp())


def create_key(
    engine: Engine,
    name: str,
    *,
    budget_usd: Decimal | None = None,
    period: str = "month",
    rate_limit_rpm: int | None = None,
    allowed_models: tuple[str, ...] = (),
) -> tuple[KeyRecord, str]:
    """Returns the record and the secret, which is never retrievable again."""
    period_bounds(period, datetime.now(UTC))  # validates the name
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        id="key_" + secrets.token_hex(6),
        name=name,
        secret_sha256=hash_secret(secret),
        prefix=secret[:10],
        created_at=datetime.now(UTC),
        revoked_at=None,
        budget_usd=budget_usd,
        budget_period=period,
        spent_usd=Decimal(0),
        period_start=0,
        rate_limit_rpm=rate_limit_rpm,
        allowed_models=list(allowed_models),
    )
    with Session(engine) as session, session.begin():
        session.add(row)
        session.flush()
        record = _record(row)
    return record, secret


def _record(row: ApiKey, now: datetime | None = None) -> KeyRecord:
    start, _ = period_bounds(row.budget_period, now or datetime.now(UTC))
    spent = Decimal(row.spent_usd or 0) if row.period_start >= start else Decimal(0)
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return KeyRecord(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=created,
        revoked_at=row.revoked_at,
        budget_usd=row.budget_usd,
        budget_period=row.budget_period,
        spent_usd=spent,
        rate_limit_rpm=row.rate_limit_rpm,
        allowed_models=tuple(row.allowed_models or ()),
    )


def list_keys(engine: Engine) -> list[KeyRecord]:
    """Every key, revoked ones included, oldest first."""
    with Session(engine) as session:
        return [_record(r) for r in session.scalars(select(ApiKey).order_by(ApiKey.created_at))]


def any_keys(engine: Engine) -> bool:
    """Whether any key was ever created (a revoked one counts): a loopback gateway runs open only while none
    exists."""
    with Session(engine) as session:
        return session.execute(select(ApiKey.id).limit(1)).first() is not None


def find_key(engine: Engine, secret: str) -> KeyRecord | None:
    """The active key with this secret, or None (unknown and revoked look the same to a caller)."""
    with Session(engine) as session:
        row = session.scalars(select(ApiKey).where(ApiKey.secret_sha256 == hash_secret(secret))).first()
        return _record(row) if row is not None and row.revoked_at is None else None


def revoke_key(engine: Engine, key_id: str) -> bool:
    """Revoke key ``key_id`` now; False when no active key has that id (unknown, or already revoked)."""
    with Session(engine) as session, session.begin():
        result = session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def reserve(
    engine: Engine, key: KeyRecord, hold_usd: Decimal, now: datetime | None = None
) -> Reservation | None:
    """Add ``hold_usd`` to the key's spend if that stays within its budget; None when it would not.

    One UPDATE whose WHERE clause re-reads the row, so the check and the spend are a single atomic step on
    SQLite and Postgres alike; a period that has rolled over starts again from zero in the same statement.
    """
    start, _ = period_bounds(key.budget_period, now or datetime.now(UTC))
    # Every operand is typed Money, so the comparison runs on integer picodollars in the database.
    hold = literal(hold_usd, Money())
    current = type_coerce(
        case((ApiKey.period_start < start, literal(Decimal(0), Money())), else_=ApiKey.spent_usd), Money()
    )
    stmt = (
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            ApiKey.revoked_at.is_(None),
            or_(ApiKey.budget_usd.is_(None), current + hold <= ApiKey.budget_usd),
        )
        .values(spent_usd=current + hold, period_start=start)
    )
    with Session(engine) as session, session.begin():
        if not session.execute(stmt).rowcount:  # type: ignore[attr-defined]
            return None
    return Reservation(key.id, hold_usd, start)


def settle(engine: Engine, reservation: Reservation, actual_usd: Decimal) -> None:
    """Replace the hold by what the request really cost (zero for a failed one)."""
    delta = actual_usd - reservation.hold_usd
    if delta == 0:
        return
    stmt = (
        update(ApiKey)
        .where(ApiKey.id == reservation.key_id, ApiKey.period_start == reservation.period_start)
        .values(spent_usd=ApiKey.spent_usd + literal(delta, Money()))
    )
    with Session(engine) as session, session.begin():
        session.execute(stmt)
