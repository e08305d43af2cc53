"""What learning keeps in the request-log database: graded outcome rows and policy versions, as frozen records.

An outcome row is born ``pending`` when a shadowed request's answers are in, and becomes ``graded`` (by gold,
feedback or the judge) or ``skipped`` with a note; it is never deleted, so no answer a request paid for is lost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from smallfirst.store.tables import OutcomeRow, PolicyVersion, Request

__all__ = ["LEARNING_SOURCES", "ModelSpend", "OutcomeRecord", "VersionRecord", "add_outcome", "add_version",
           "count_outcomes", "get_outcome", "graded_outcomes", "learning_spend", "outcome_for_request", "policy_spend",
           "serving_version", "set_outcome", "set_version", "versions"]

#: request-log sources whose cost is learning cost: shadow answers and judge calls
LEARNING_SOURCES = ("shadow", "judge")


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    """One outcome row. ``results`` is the outcome format's per-model object: model -> {quality (None while
    ungraded), prompt_tokens, completion_tokens, latency_s, cost_usd (a decimal string), answer}."""

    request_id: str
    created_at: datetime
    status: str
    prompt: str
    served_model: str
    results: dict[str, dict[str, Any]]
    task: str | None = None
    gold: str | None = None
    key_id: str | None = None
    policy_version: int | None = None
    sampled_p: float = 1.0
    graded_by: str | None = None
    graded_at: datetime | None = None
    note: str | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """One policy version (see ``store.tables.PolicyVersion``)."""

    created_at: datetime
    status: str
    policy: str
    router: str
    target: str
    n_outcomes: int
    last_outcome_id: int
    data_sha256: str
    reason: str
    metrics: dict[str, Any] = field(default_factory=dict)
    replaced: int | None = None
    ended_at: datetime | None = None
    document: str | None = field(default=None, repr=False)
    id: int | None = None


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite drops the zone; everything is written in UTC
        return value.replace(tzinfo=UTC)
    return value


def _outcome(row: OutcomeRow) -> OutcomeRecord:
    values = {f.name: getattr(row, f.name) for f in dataclasses.fields(OutcomeRecord)}
    values["created_at"] = _utc(values["created_at"])
    values["graded_at"] = _utc(values["graded_at"])
    values["results"] = dict(values["results"] or {})
    return OutcomeRecord(**values)


def _version(row: PolicyVersion) -> VersionRecord:
    values = {f.name: getattr(row, f.name) for f in dataclasses.fields(VersionRecord)}
    values["created_at"] = _utc(values["created_at"])
    values["ended_at"] = _utc(values["ended_at"])
    values["metrics"] = dict(values["metrics"] or {})
    return VersionRecord(**values)


def add_outcome(engine: Engine, record: OutcomeRecord) -> int:
    """Insert ``record`` (its ``id`` ignored) and return the new row's id."""
    values = {f.name: getattr(record, f.name) for f in dataclasses.fields(OutcomeRecord) if f.name != "id"}
    with Session(engine) as session, session.begin():
        row = OutcomeRow(**values)
        session.add(row)
        session.flush()
        return int(row.id)


def set_outcome(engine: Engine, outcome_id: int, **values: Any) -> None:
    """Update columns of one outcome row (status, graded_by, graded_at, note, results, gold)."""
    with Session(engine) as session, session.begin():
        session.execute(update(OutcomeRow).where(OutcomeRow.id == outcome_id).values(**values))


def get_outcome(engine: Engine, outcome_id: int) -> OutcomeRecord | None:
    """The outcome row with this id, or None."""
    with Session(engine) as session:
        row = session.get(OutcomeRow, outcome_id)
        return None if row is None else _outcome(row)


def outcome_for_request(engine: Engine, request_id: str) -> OutcomeRecord | None:
    """The outcome row of a served request, or None when it was not shadowed."""
    with Session(engine) as session:
        row = session.scalars(select(OutcomeRow).where(OutcomeRow.request_id == request_id)).first()
        return None if row is None else _outcome(row)


def graded_outcomes(engine: Engine, *, after_id: int = 0, policy_version: int | None = None,
                    limit: int | None = None, newest_first: bool = False) -> list[OutcomeRecord]:
    """Graded rows with id above ``after_id`` (of one serving ``policy_version`` when given), oldest first unless
    ``newest_first``; at most ``limit``."""
    stmt = select(OutcomeRow).where(OutcomeRow.status == "graded", OutcomeRow.id > after_id)
    if policy_version is not None:
        stmt = stmt.where(OutcomeRow.policy_version == policy_version)
    stmt = stmt.order_by(OutcomeRow.id.desc() if newest_first else OutcomeRow.id.asc())
    if limit is not None:
        stmt = stmt.limit(limit)
    with Session(engine) as session:
        return [_outcome(r) for r in session.scalars(stmt)]


def count_outcomes(engine: Engine) -> dict[str, int]:
    """Outcome rows by status (pending, graded, skipped), and by who graded them (``graded_by:gold``...)."""
    out: dict[str, int] = {"pending": 0, "graded": 0, "skipped": 0}
    with Session(engine) as session:
        for status, n in session.execute(select(OutcomeRow.status, func.count()).group_by(OutcomeRow.status)):
            out[status] = int(n)
        for by, n in session.execute(select(OutcomeRow.graded_by, func.count()).where(OutcomeRow.graded_by.is_not(None))
                                     .group_by(OutcomeRow.graded_by)):
            out[f"graded_by:{by}"] = int(n)
    return out


def add_version(engine: Engine, record: VersionRecord) -> int:
    """Insert a policy version and return its id."""
    values = {f.name: getattr(record, f.name) for f in dataclasses.fields(VersionRecord) if f.name != "id"}
    with Session(engine) as session, session.begin():
        row = PolicyVersion(**values)
        session.add(row)
        session.flush()
        return int(row.id)


def set_version(engine: Engine, version_id: int, **values: Any) -> None:
    """Update columns of one policy version (status, ended_at, reason, metrics)."""
    with Session(engine) as session, session.begin():
        session.execute(update(PolicyVersion).where(PolicyVersion.id == version_id).values(**values))


def versions(engine: Engine, *, ids: Sequence[int] | None = None) -> list[VersionRecord]:
    """Every policy version (or those with ``ids``), oldest first."""
    stmt = select(PolicyVersion).order_by(PolicyVersion.id.asc())
    if ids is not None:
        stmt = stmt.where(PolicyVersion.id.in_(list(ids)))
    with Session(engine) as session:
        return [_version(r) for r in session.scalars(stmt)]


def serving_version(engine: Engine, policy: str) -> VersionRecord | None:
    """The version of ``policy`` that serves now, or None (the large tier serves)."""
    stmt = (select(PolicyVersion).where(PolicyVersion.status == "serving", PolicyVersion.policy == policy)
            .order_by(PolicyVersion.id.desc()))
    with Session(engine) as session:
        row = session.scalars(stmt).first()
        return None if row is None else _version(row)


@dataclass(frozen=True, slots=True)
class ModelSpend:
    """Successful requests answered by one model: how many, their tokens, and their cost (USD)."""

    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal


def policy_spend(engine: Engine, policy: str, *, since: datetime | None = None) -> list[ModelSpend]:
    """Per answering model, the successful requests that asked for ``policy`` (learning's own calls excluded)."""
    stmt = (select(Request.model, func.count(), func.sum(Request.prompt_tokens), func.sum(Request.completion_tokens),
                   func.sum(Request.cost_usd))
            .where(Request.requested_model == policy, Request.status == "ok",
                   Request.source.not_in(LEARNING_SOURCES))
            .group_by(Request.model))
    if since is not None:
        stmt = stmt.where(Request.created_at >= since)
    with Session(engine) as session:
        return [ModelSpend(m, int(n), int(pt or 0), int(ct or 0), Decimal(c or 0))
                for m, n, pt, ct, c in session.execute(stmt)]


def learning_spend(engine: Engine, *, since: datetime | None = None) -> tuple[int, Decimal]:
    """Learning's own calls (shadow answers and judge calls) since ``since``: how many, and their cost (USD)."""
    stmt = select(func.count(), func.sum(Request.cost_usd)).where(Request.source.in_(LEARNING_SOURCES))
    if since is not None:
        stmt = stmt.where(Request.created_at >= since)
    with Session(engine) as session:
        n, cost = session.execute(stmt).one()
    return int(n or 0), Decimal(cost or 0)
