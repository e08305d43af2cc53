"""Table definitions. Schema changes go through a new Alembic revision in ``migrations/versions``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from smallfirst.store.money import Money


class Base(DeclarativeBase):
    """The declarative base of smallfirst's tables; Alembic compares migrations against its metadata."""


class Request(Base):
    """The request log, one row per request: the columns of ``RequestRecord``; money in picodollars."""

    __tablename__ = "requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    source: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str | None] = mapped_column(String(64), index=True)
    requested_model: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int] = mapped_column(Integer, default=200)
    policy: Mapped[str | None] = mapped_column(String(200))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    attempted: Mapped[list[str]] = mapped_column(JSON, default=list)
    task: Mapped[str | None] = mapped_column(String(100))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    #: usage details (``models.completion.Usage``): part of prompt_tokens / completion_tokens, priced apart
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(Integer, default=0)
    audio_prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    audio_completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    ttft_s: Mapped[float | None] = mapped_column(Float)
    cost_usd: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    baseline_usd: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    baseline_model: Mapped[str | None] = mapped_column(String(200))
    price_source: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    tag: Mapped[str | None] = mapped_column(String(100), index=True)
    quality: Mapped[float | None] = mapped_column(Float)
    prompt: Mapped[str | None] = mapped_column(Text)
    response: Mapped[str | None] = mapped_column(Text)
    #: the request's ``user`` (or ``safety_identifier``): the end user the client names
    end_user: Mapped[str | None] = mapped_column(String(256))

    __table_args__ = (Index("ix_requests_model_created", "model", "created_at"),)


class ApiKey(Base):
    """A gateway key. Only the sha256 of the secret is kept; ``prefix`` lets a person tell keys apart.
    Money columns count picodollars, so a budget check is one integer comparison inside an UPDATE."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    budget_usd: Mapped[Decimal | None] = mapped_column(Money)
    #: "day", "week", "month" (UTC calendar periods) or "total"
    budget_period: Mapped[str] = mapped_column(String(8), default="month")
    spent_usd: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    #: unix seconds at which the period that ``spent_usd`` counts began
    period_start: Mapped[int] = mapped_column(BigInteger, default=0)
    rate_limit_rpm: Mapped[int | None] = mapped_column(Integer)
    #: model and policy names this key may request; empty means any
    allowed_models: Mapped[list[str]] = mapped_column(JSON, default=list)


class BudgetHold(Base):
    """A budget hold not yet settled: taken with the reservation in one transaction, deleted with the settlement
    in another. ``owner`` names the gateway process that holds it; holds left by a process that died are settled
    from the request log (or released) by the next one to start (``store/keys.reconcile_holds``)."""

    __tablename__ = "budget_holds"

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    hold_usd: Mapped[Decimal] = mapped_column(Money)
    period_start: Mapped[int] = mapped_column(BigInteger)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
class OutcomeRow(Base):
    """One served request answered by more than one tier (the served answer plus shadow answers), graded into the
    outcome format (docs/formats.md): ``results`` maps each model to its quality, tokens, cost and answer.

    ``status`` is ``pending`` (answers kept, no grade yet: awaiting feedback or the judge), ``graded`` or ``skipped``
    (``note`` says why: the judge was off the rubric, unreachable...). Rows are never deleted."""

    __tablename__ = "outcome_rows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    graded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), index=True)
    graded_by: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    key_id: Mapped[str | None] = mapped_column(String(64))
    prompt: Mapped[str] = mapped_column(Text)
    task: Mapped[str | None] = mapped_column(String(100))
    gold: Mapped[str | None] = mapped_column(Text)
    served_model: Mapped[str] = mapped_column(String(200))
    #: the policy version that served the request; None before any learned policy
    policy_version: Mapped[int | None] = mapped_column(Integer, index=True)
    #: the probability with which the shadow sampler picked this request
    sampled_p: Mapped[float] = mapped_column(Float, default=1.0)
    results: Mapped[dict] = mapped_column(JSON, default=dict)


class PolicyVersion(Base):
    """Every policy the learner fitted: its router, target, the outcomes it saw (count, last row, sha256 of their
    ids and grades), its metrics against the serving policy, and what became of it (``status``: ``serving``,
    ``retired``, ``rolled-back``, ``rejected``). ``document`` is the saved policy (``routing.policy_store``)."""

    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), index=True)
    policy: Mapped[str] = mapped_column(String(200))
    router: Mapped[str] = mapped_column(String(500))
    target: Mapped[str] = mapped_column(String(100))
    n_outcomes: Mapped[int] = mapped_column(Integer)
    last_outcome_id: Mapped[int] = mapped_column(Integer)
    data_sha256: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text)
    #: the version this one replaced when promoted (None: the large tier for everything); a rollback returns to it
    replaced: Mapped[int | None] = mapped_column(Integer)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    document: Mapped[str | None] = mapped_column(Text)
