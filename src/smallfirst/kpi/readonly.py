"""A user's database, opened read-only at the driver level, with a time limit and a row cap on every query.

The database is the user's: validation (:mod:`smallfirst.kpi.sqlguard`) decides what may run, and the connection
makes sure nothing else can, even if validation had a hole.

* SQLite (a file path or a ``sqlite:///`` URL): the file is opened with the ``mode=ro`` URI, so SQLite itself
  refuses every write; each connection also sets ``PRAGMA query_only``, allows no attached databases
  (``SQLITE_LIMIT_ATTACHED`` = 0) and keeps extension loading off (Python's default). A progress handler
  interrupts a query past its time limit.
* PostgreSQL (a ``postgresql://`` SQLAlchemy URL): every session starts with ``default_transaction_read_only``
  on and a ``statement_timeout``, and every query runs inside ``SET TRANSACTION READ ONLY``. Give the URL a role
  that holds only SELECT grants as well (the read-only role the issue asks for); smallfirst cannot create it for
  you. Other dialects are refused: smallfirst cannot vouch that they stay read-only.

Each query opens its own connection (cheap for SQLite; pooled by SQLAlchemy for servers), so a Database may
be shared by threads.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from smallfirst.errors import ConfigError, DataError, QueryError

__all__ = ["Column", "Database", "ResultSet", "SqliteDatabase", "PostgresDatabase", "TableInfo", "open_database"]

#: default limits: a KPI query over a sales database finishes in milliseconds; a table is shown, not exported
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_ROWS = 1000


@dataclass(frozen=True, slots=True)
class Column:
    """One column as introspected: its name, declared type, and key role."""

    name: str
    #: the declared type, as the database reports it ("" when SQLite has none)
    type: str
    primary_key: bool = False
    #: "Table.column" this column references, when it is a foreign key
    references: str | None = None


@dataclass(frozen=True, slots=True)
class TableInfo:
    """A table or view with its columns and, for tables, its row count."""

    name: str
    #: "table" or "view"
    kind: str
    columns: tuple[Column, ...]
    rows: int | None = None


@dataclass(frozen=True, slots=True)
class ResultSet:
    """What one query returned: column names, at most ``max_rows`` rows, whether more were cut off, and the
    wall-clock seconds it ran."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool
    seconds: float


class Database(Protocol):
    """A read-only database: what the schema text, the guard and the pipeline need from it."""

    #: sqlglot's name for the SQL dialect ("sqlite", "postgres")
    dialect: str
    #: how the database is named to a user (a file name, or a URL without its password)
    label: str
    timeout_s: float
    max_rows: int

    def tables(self) -> dict[str, TableInfo]:
        """Tables and views by name, introspected once."""
        ...

    def execute(self, sql: str) -> ResultSet:
        """Run one statement read-only, within ``timeout_s``, fetching at most ``max_rows`` rows; QueryError
        when the database rejects it or it runs too long."""
        ...


def open_database(target: str | Path, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                  max_rows: int = DEFAULT_MAX_ROWS) -> Database:
    """Open ``target`` read-only: a SQLite file path, a ``sqlite:///`` URL or a ``postgresql://`` URL.

    Raises DataError when a file is missing or not SQLite, and ConfigError for another kind of URL."""
    text = str(target)
    if "://" not in text:
        return SqliteDatabase(Path(text).expanduser(), timeout_s=timeout_s, max_rows=max_rows)
    scheme = text.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme == "sqlite":
        path = text.split(":///", 1)[1] if ":///" in text else ""
        if not path or path.startswith(":memory:"):
            raise ConfigError(f"{text} names no SQLite file", hint="use sqlite:///path/to/file.db")
        return SqliteDatabase(Path(path).expanduser(), timeout_s=timeout_s, max_rows=max_rows)
    if scheme in ("postgresql", "postgres"):
        return PostgresDatabase(text, timeout_s=timeout_s, max_rows=max_rows)
    raise ConfigError(f"cannot open {scheme!r} databases read-only",
                      hint="give a SQLite file, a sqlite:/// URL or a postgresql:// URL")


class SqliteDatabase:
    """A SQLite file opened with ``mode=ro``; see the module docstring for the other locks."""

    dialect = "sqlite"

    def __init__(self, path: Path, *, timeout_s: float = DEFAULT_TIMEOUT_S, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        if not path.is_file():
            raise DataError(f"database file {path} does not exist", hint="give the path of a SQLite file")
        if timeout_s <= 0 or max_rows < 1:
            raise ConfigError("a database needs timeout_s > 0 and max_rows >= 1")
        self.path = path.resolve()
        self.label = self.path.name
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self._uri = f"{self.path.as_uri()}?mode=ro"
        self._tables: dict[str, TableInfo] | None = None
        try:
            with self._connection() as conn:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{path} is not a SQLite database it can read ({exc})",
                            hint="give the path of a SQLite file") from None

    def _connection(self) -> _Closing:
        conn = sqlite3.connect(self._uri, uri=True, check_same_thread=False, timeout=self.timeout_s)
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.execute("PRAGMA query_only = ON")
        return _Closing(conn)

    def tables(self) -> dict[str, TableInfo]:
        """Tables and views (SQLite's own ``sqlite_*`` tables left out), with columns, keys and row counts."""
        if self._tables is None:
            out: dict[str, TableInfo] = {}
            with self._connection() as conn:
                names = conn.execute("SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
                                     "AND name NOT LIKE 'sqlite_%' ORDER BY type, name").fetchall()
                for name, kind in names:
                    fks = {row[3]: f"{row[2]}.{row[4] or row[3]}" for row in
                           conn.execute("SELECT * FROM pragma_foreign_key_list(?)", (name,))}
                    cols = tuple(Column(name=r[1], type=r[2] or "", primary_key=bool(r[5]), references=fks.get(r[1]))
                                 for r in conn.execute("SELECT * FROM pragma_table_info(?)", (name,)))
                    rows = None
                    if kind == "table":
                        rows = conn.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()[0]  # noqa: S608
                    out[name] = TableInfo(name=name, kind=kind, columns=cols, rows=rows)
            self._tables = out
        return self._tables

    def execute(self, sql: str) -> ResultSet:
        """Run one statement; at most ``max_rows`` rows come back (``truncated`` says whether more existed).
        Raises QueryError when SQLite rejects it, or when it runs past ``timeout_s``."""
        start = time.perf_counter()
        deadline = time.monotonic() + self.timeout_s
        with self._connection() as conn:
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
            try:
                cur = conn.execute(sql)
                rows = cur.fetchmany(self.max_rows + 1)
            except sqlite3.OperationalError as exc:
                if "interrupted" in str(exc):
                    raise QueryError(f"the query ran past the time limit of {self.timeout_s:g} s",
                                     hint="ask for less data, or raise the time limit") from None
                raise QueryError(f"the database rejected the query: {exc}") from None
            except (sqlite3.Error, ValueError) as exc:  # ValueError: e.g. a NUL character in the text
                raise QueryError(f"the database rejected the query: {exc}") from None
            columns = tuple(d[0] for d in cur.description or ())
        truncated = len(rows) > self.max_rows
        return ResultSet(columns=columns, rows=tuple(tuple(r) for r in rows[: self.max_rows]), truncated=truncated,
                         seconds=time.perf_counter() - start)


class PostgresDatabase:
    """A PostgreSQL database through SQLAlchemy, every session and transaction read-only (module docstring)."""

    dialect = "postgres"

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, max_rows: int = DEFAULT_MAX_ROWS,
                 schema: str | None = None) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ConfigError(f"not a database URL: {exc}") from None
        self.label = parsed.render_as_string(hide_password=True)
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.schema = schema
        ms = max(1, int(timeout_s * 1000))
        self._engine = create_engine(parsed, pool_pre_ping=True, connect_args={
            "options": f"-c default_transaction_read_only=on -c statement_timeout={ms}"})
        self._tables: dict[str, TableInfo] | None = None

    def tables(self) -> dict[str, TableInfo]:
        """Tables and views of the schema (``public`` by default) through SQLAlchemy's inspector."""
        if self._tables is None:
            from sqlalchemy import inspect

            insp = inspect(self._engine)
            out: dict[str, TableInfo] = {}
            for kind, names in (("table", insp.get_table_names(self.schema)),
                                ("view", insp.get_view_names(self.schema))):
                for name in names:
                    pk = set(insp.get_pk_constraint(name, self.schema).get("constrained_columns") or ())
                    fks: dict[str, str] = {}
                    for fk in insp.get_foreign_keys(name, self.schema) if kind == "table" else ():
                        for local, remote in zip(fk["constrained_columns"], fk["referred_columns"], strict=False):
                            fks[local] = f"{fk['referred_table']}.{remote}"
                    cols = tuple(Column(name=c["name"], type=str(c["type"]), primary_key=c["name"] in pk,
                                        references=fks.get(c["name"])) for c in insp.get_columns(name, self.schema))
                    rows = self.execute(f"SELECT count(*) FROM {quote(name)}").rows[0][0] if kind == "table" else None
                    out[name] = TableInfo(name=name, kind=kind, columns=cols, rows=rows)
            self._tables = out
        return self._tables

    def execute(self, sql: str) -> ResultSet:
        """Run one statement in a read-only transaction (see :meth:`SqliteDatabase.execute` for the contract)."""
        from sqlalchemy import exc as sa_exc

        start = time.perf_counter()
        try:
            with self._engine.connect() as conn:
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                cur = conn.exec_driver_sql(sql.replace("%", "%%"))
                rows = cur.fetchmany(self.max_rows + 1)
                columns = tuple(cur.keys())
                conn.rollback()
        except sa_exc.OperationalError as exc:
            if "statement timeout" in str(exc):
                raise QueryError(f"the query ran past the time limit of {self.timeout_s:g} s",
                                 hint="ask for less data, or raise the time limit") from None
            raise QueryError(f"the database rejected the query: {_first_line(exc)}") from None
        except sa_exc.DBAPIError as exc:
            raise QueryError(f"the database rejected the query: {_first_line(exc)}") from None
        truncated = len(rows) > self.max_rows
        return ResultSet(columns=columns, rows=tuple(tuple(r) for r in rows[: self.max_rows]), truncated=truncated,
                         seconds=time.perf_counter() - start)


def quote(name: str) -> str:
    """A double-quoted SQL identifier (SQLite and PostgreSQL), with embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


class _Closing:
    """``with`` for a sqlite3 connection that closes it (sqlite3's own context manager only commits)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

