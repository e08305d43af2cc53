"""The request log on a real PostgreSQL server. CI starts one and sets SMALLFIRST_TEST_PG_URL; elsewhere these
tests skip unless that variable names a database they may write to."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from smallfirst.store.db import get_engine
from smallfirst.store.request_record import RequestRecord
from smallfirst.store.requests import insert, list_requests, totals

PG = os.environ.get("SMALLFIRST_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG, reason="set SMALLFIRST_TEST_PG_URL to run against PostgreSQL")


def row(tag: str, **kw) -> RequestRecord:
    fields = {"id": str(uuid.uuid4()), "created_at": datetime.now(UTC), "source": "test", "requested_model": "m",
              "model": "m", "status": "ok", "tag": tag, **kw}
    return RequestRecord(**fields)


def test_log_migrates_and_round_trips_money_on_postgres() -> None:
    engine = get_engine(PG)
    tag = f"pg-{uuid.uuid4()}"
    insert(engine, row(tag, cost_usd=Decimal("0.000079051411"), baseline_usd=Decimal("0.000175"),
                       attempted=("a", "b")))
    insert(engine, row(tag, status="error", error="boom"))
    rows = list_requests(engine, tag=tag)
    assert [r.cost_usd for r in rows][0] == Decimal("0.000079051411")
    assert rows[0].attempted == ("a", "b") and rows[0].created_at.tzinfo is not None
    t = totals(engine, tag=tag)
    assert (t.requests, t.errors, t.baseline_usd) == (2, 1, Decimal("0.000175"))


def test_concurrent_writers_lose_no_rows() -> None:
    engine = get_engine(PG)
    tag = f"pg-{uuid.uuid4()}"
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: insert(engine, row(tag, cost_usd=Decimal("0.000001"))), range(80)))
    assert totals(engine, tag=tag).cost_usd == Decimal("0.00008")
