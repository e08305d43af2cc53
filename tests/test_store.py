from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import inspect

from smallfirst.store.db import get_engine
from smallfirst.store.request_record import RequestRecord
from smallfirst.store.requests import insert, list_requests, set_quality, totals


def row(**kw) -> RequestRecord:
    base = dict(id=str(uuid.uuid4()), created_at=datetime.now(UTC), source="test", requested_model="m", model="m",
                status="ok")
    base.update(kw)
    return RequestRecord(**base)


def test_sqlite_log_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    engine = get_engine(f"sqlite:///{db}")
    assert "requests" in inspect(engine).get_table_names()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def test_money_round_trips_exactly_and_sums_in_sql(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 'log.db'}")
    insert(engine, row(cost_usd=Decimal("0.000079051411"), baseline_usd=Decimal("0.000175")))
    insert(engine, row(cost_usd=Decimal("0.000000000001"), baseline_usd=Decimal("0.1"), status="error"))
    rows = list_requests(engine)
    assert rows[0].cost_usd == Decimal("0.000079051411")
    t = totals(engine)
    assert t.requests == 2 and t.errors == 1
    assert t.cost_usd == Decimal("0.000079051412")
    assert t.saving_usd == Decimal("0.100175") - Decimal("0.000079051412")


def test_filters_and_quality_updates(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 'log.db'}")
    old = row(created_at=datetime.now(UTC) - timedelta(days=3), tag="a")
    new = row(tag="b")
    insert(engine, old)
    insert(engine, new)
    assert [r.id for r in list_requests(engine, since=datetime.now(UTC) - timedelta(days=1))] == [new.id]
    assert [r.id for r in list_requests(engine, tag="a")] == [old.id]
    set_quality(engine, new.id, 1.0)
    assert list_requests(engine, tag="b")[0].quality == 1.0
    assert list_requests(engine)[0].created_at.tzinfo is not None


def test_secrets_in_errors_never_reach_the_database(tmp_path: Path, monkeypatch) -> None:
    from smallfirst.redact import register_secret_env

    monkeypatch.setenv("SF_PROVIDER_KEY", "prov-secret-4242")
    register_secret_env("SF_PROVIDER_KEY")
    db = tmp_path / "log.db"
    engine = get_engine(f"sqlite:///{db}")
    insert(engine, row(status="error", error="upstream said: key prov-secret-4242 / Bearer sk-abcdef123456789 bad"))
    engine.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("log.db*"))
    assert b"prov-secret-4242" not in raw and b"sk-abcdef123456789" not in raw
    assert "[redacted]" in list_requests(engine)[0].error


def test_background_writer_keeps_a_batch_when_one_row_is_refused(tmp_path: Path) -> None:
    from smallfirst.store.writer import LogWriter

    engine = get_engine(f"sqlite:///{tmp_path / 'log.db'}")
    taken = row()
    insert(engine, taken)
    seen: list[str] = []
    writer = LogWriter(lambda: engine, observe=lambda r: seen.append(r.id))
    batch = [row(), row(id=taken.id, model="duplicate"), row()]
    for record in batch:
        writer.submit(record)
    writer.close()
    stored = {r.id: r.model for r in list_requests(engine, limit=10)}
    assert set(stored) == {taken.id, batch[0].id, batch[2].id}
    assert stored[taken.id] == "m"  # the refused duplicate did not overwrite the first row
    assert seen == [r.id for r in batch]  # metrics saw every request, written or not
