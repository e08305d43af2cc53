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
