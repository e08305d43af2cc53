"""Write and read the request log."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, String, Text, case, func, select, update
from sqlalchemy import insert as sa_insert
from sqlalchemy.orm import Session

from smallfirst.redact import redact
from smallfirst.store.request_record import RequestRecord
from smallfirst.store.tables import Request

_FIELDS = [f.name for f in dataclasses.fields(RequestRecord)]


def insert(engine: Engine, record: RequestRecord) -> None:
    """Write one row of the request log (its error text redacted)."""
    insert_many(engine, [record])


def insert_many(engine: Engine, records: list[RequestRecord], *, skip_existing: bool = False) -> None:
    """One Core ``INSERT ... executemany`` in one transaction: about a third of the ORM unit of work's CPU,
    which matters because the gateway's log writer shares the GIL with its event loop. Every row is first made to
    fit its columns (:func:`fit_columns`), so SQLite and Postgres store the same row and neither refuses one.
    ``skip_existing`` leaves rows whose id is already logged alone (replaying a journal)."""
    rows = [row_values(record) for record in records]
    stmt = sa_insert(Request)
    if skip_existing:
        stmt = _on_conflict_do_nothing(engine, stmt)
    with engine.begin() as conn:
        conn.execute(stmt, rows)


def row_values(record: RequestRecord) -> dict[str, Any]:
    """The column values of ``record`` as written: error text redacted, and every text fitted to its column."""
    values = {name: getattr(record, name) for name in _FIELDS}
    values["attempted"] = [_clean(a, 200) for a in record.attempted]
    values["error"] = redact(record.error)
    return fit_columns(values)


def fit_columns(values: dict[str, Any]) -> dict[str, Any]:
    """Make text values storable identically on SQLite and Postgres: NUL characters (which Postgres text cannot
    hold) become U+FFFD, and a value longer than its column's width is cut to fit, ending in "…" so a reader
    can tell. SQLite does not enforce widths and Postgres refuses the whole row, so the rule is applied here."""
    for name, width in _WIDTHS.items():
        value = values.get(name)
        if isinstance(value, str):
            values[name] = _clean(value, width)
    return values


def _clean(value: str, width: int | None) -> str:
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if width is not None and len(value) > width:
        value = value[: width - 1] + "…"
    return value


#: column -> its width in characters (None: unbounded text)
_WIDTHS: dict[str, int | None] = {
    c.name: getattr(c.type, "length", None) for c in Request.__table__.columns
    if isinstance(c.type, String | Text)
}


def _on_conflict_do_nothing(engine: Engine, stmt: Any) -> Any:
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(Request).on_conflict_do_nothing(index_elements=["id"])
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(Request).on_conflict_do_nothing(index_elements=["id"])
    return stmt.prefix_with("IGNORE")


def logged_ids(engine: Engine, ids: list[str]) -> set[str]:
    """Which of ``ids`` are rows of the request log."""
    out: set[str] = set()
    with Session(engine) as session:
        for i in range(0, len(ids), 500):
            out.update(session.scalars(select(Request.id).where(Request.id.in_(ids[i:i + 500]))))
    return out


def _to_record(row: Request) -> RequestRecord:
    values = {name: getattr(row, name) for name in _FIELDS}
    values["attempted"] = tuple(row.attempted or ())
    if values["created_at"].tzinfo is None:  # SQLite drops the zone; everything is written in UTC
        values["created_at"] = values["created_at"].replace(tzinfo=UTC)
    return RequestRecord(**values)


def list_requests(engine: Engine, *, since: datetime | None = None, until: datetime | None = None,
                  tag: str | None = None, limit: int | None = None, newest_first: bool = False,
                  source: str | None = None) -> list[RequestRecord]:
    """Rows created in [``since``, ``until``), optionally of one ``tag`` or ``source``, oldest first (or newest
    first), at most ``limit``. Times are compared in UTC; returned ``created_at`` values are zone-aware."""
    stmt = select(Request)
    if since is not None:
        stmt = stmt.where(Request.created_at >= since)
    if until is not None:
        stmt = stmt.where(Request.created_at < until)
    if tag is not None:
        stmt = stmt.where(Request.tag == tag)
    if source is not None:
        stmt = stmt.where(Request.source == source)
    stmt = stmt.order_by(Request.created_at.desc() if newest_first else Request.created_at.asc())
    if limit is not None:
        stmt = stmt.limit(limit)
    with Session(engine) as session:
        return [_to_record(r) for r in session.scalars(stmt)]


def get_request(engine: Engine, request_id: str) -> RequestRecord | None:
    """The request-log row with this id, or None."""
    with Session(engine) as session:
        row = session.get(Request, request_id)
        return None if row is None else _to_record(row)


def set_quality(engine: Engine, request_id: str, quality: float) -> None:
    """Record the graded quality (0..1) of a logged answer, e.g. once its gold answer is known; an unknown id
    changes nothing."""
    with Session(engine) as session, session.begin():
        session.execute(update(Request).where(Request.id == request_id).values(quality=quality))


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over a slice of the log: requests, failed ones, tokens, and cost and baseline cost in Decimal USD."""

    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    baseline_usd: Decimal

    @property
    def saving_usd(self) -> Decimal:
        """Baseline cost minus actual cost, USD."""
        return self.baseline_usd - self.cost_usd


def totals(engine: Engine, *, since: datetime | None = None, key_id: str | None = None,
           tag: str | None = None) -> Totals:
    """Totals of the rows since ``since``, optionally of one key or tag, summed in SQL (money exactly, in
    picodollars)."""
    stmt = select(func.count(), func.sum(case((Request.status != "ok", 1), else_=0)), func.sum(Request.prompt_tokens),
                  func.sum(Request.completion_tokens), func.sum(Request.cost_usd), func.sum(Request.baseline_usd))
    if since is not None:
        stmt = stmt.where(Request.created_at >= since)
    if key_id is not None:
        stmt = stmt.where(Request.key_id == key_id)
    if tag is not None:
        stmt = stmt.where(Request.tag == tag)
    with Session(engine) as session:
        n, errors, pt, ct, cost, base = session.execute(stmt).one()
    return Totals(int(n or 0), int(errors or 0), int(pt or 0), int(ct or 0),
                  Decimal(cost or 0), Decimal(base or 0))
