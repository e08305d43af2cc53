"""Engines, created once per URL, migrated to the latest schema on first use."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from smallfirst.errors import ConfigError

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the gateway read the log while it writes; busy_timeout rides out brief writer contention.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: the configured request log), with the schema migrated to head."""
    if url is None:
        from smallfirst.config import load_settings

        url = load_settings().db_url
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is not None:
            return engine
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ConfigError(f"database_url {url!r} is not a valid SQLAlchemy URL",
                              hint="use sqlite:///path/requests.db or postgresql+psycopg://user@host/db") from None
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            try:
                engine = create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)
            except ModuleNotFoundError as exc:
                raise ConfigError(f"the driver for {parsed.drivername} is not installed ({exc.name})",
                                  hint="pip install 'smallfirst[postgres]'") from None
        try:
            migrate(engine)
        except OperationalError as exc:
            raise ConfigError(f"cannot open the request log at {parsed.render_as_string(hide_password=True)}: "
                              f"{exc.orig}", hint="check database_url and that the server is running") from None
        _ENGINES[url] = engine
        return engine


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to Alembic ``revision`` (default the latest) in one transaction;
    applied revisions are recorded, so running it again does nothing."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def dispose_all() -> None:
    """Close every cached engine's connection pool and forget them (tests, and a process about to fork)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
