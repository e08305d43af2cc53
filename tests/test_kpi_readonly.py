"""Read-only execution at the driver level: what the guard would refuse is refused by SQLite (or PostgreSQL) too,
and the file is unchanged; the time limit and the row cap hold. Real SQLite files; PostgreSQL when CI provides it."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from smallfirst.errors import ConfigError, DataError, QueryError
from smallfirst.kpi.northwind import northwind_path
from smallfirst.kpi.readonly import PostgresDatabase, SqliteDatabase, open_database
from smallfirst.kpi.schema_text import describe
from smallfirst.kpi.sqlguard import guard


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def northwind_copy(tmp_path: Path) -> Path:
    path = tmp_path / "nw.sqlite"
    shutil.copyfile(northwind_path(), path)
    return path


@pytest.mark.parametrize("sql", [
    "DELETE FROM Customers",
    "DROP TABLE Orders",
    "UPDATE Products SET UnitPrice = 0",
    "INSERT INTO Shippers (CompanyName) VALUES ('x')",
    "CREATE TABLE stolen AS SELECT * FROM Customers",
    "ATTACH DATABASE 'other.db' AS other",
    "PRAGMA query_only = OFF",
    "SELECT load_extension('evil')",
])
def test_the_connection_itself_refuses_writes_the_guard_never_sees(sql: str, northwind_copy: Path,
                                                                   tmp_path: Path) -> None:
    before = sha(northwind_copy)
    db = SqliteDatabase(northwind_copy)
    try:
        db.execute(sql)
        db.execute("DELETE FROM Customers")  # if a PRAGMA got through, a write must still fail
    except QueryError:
        pass
    else:
        pytest.fail(f"{sql!r} ran on a read-only connection")
    assert sha(northwind_copy) == before
    assert not (tmp_path / "other.db").exists()
    assert db.execute("SELECT count(*) FROM Customers").rows == ((93,),)


def test_a_query_past_the_time_limit_is_interrupted(northwind_copy: Path) -> None:
    db = SqliteDatabase(northwind_copy, timeout_s=0.2)
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    with pytest.raises(QueryError, match="time limit"):
        db.execute(endless)


def test_the_row_cap_truncates_and_says_so(northwind_copy: Path) -> None:
    db = SqliteDatabase(northwind_copy, max_rows=50)
    got = db.execute("SELECT OrderID FROM Orders")
    assert len(got.rows) == 50 and got.truncated and got.columns == ("OrderID",)
    assert not db.execute("SELECT OrderID FROM Orders LIMIT 50").truncated


def test_introspection_sees_tables_keys_and_views(northwind_copy: Path) -> None:
    tables = SqliteDatabase(northwind_copy).tables()
    details = tables["Order Details"]
    assert details.rows == 2155 and details.kind == "table"
    assert {c.name for c in details.columns if c.primary_key} == {"OrderID", "ProductID"}
    assert next(c for c in tables["Orders"].columns if c.name == "ShipVia").references == "Shippers.ShipperID"
    assert tables["Invoices"].kind == "view"


def test_opening_what_is_not_a_readable_sqlite_file_is_an_actionable_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        open_database(tmp_path / "missing.db")
    junk = tmp_path / "junk.db"
    junk.write_text("not a database at all" * 100)
    with pytest.raises(DataError, match="not a SQLite database"):
        open_database(junk)
    with pytest.raises(ConfigError, match="read-only"):
        open_database("mysql://u:p@localhost/db")
    with pytest.raises(ConfigError):
        open_database("sqlite:///:memory:")


def test_sqlite_urls_open_the_file_read_only(northwind_copy: Path) -> None:
    db = open_database(f"sqlite:///{northwind_copy}")
    assert isinstance(db, SqliteDatabase) and db.path == northwind_copy.resolve()
    with pytest.raises(QueryError):
        db.execute("DELETE FROM Orders")


def test_a_database_another_process_writes_is_read_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE sales (amount REAL)")
    conn.execute("INSERT INTO sales VALUES (1.5)")
    conn.commit()
    db = SqliteDatabase(path)
    assert db.execute("SELECT sum(amount) FROM sales").rows == ((1.5,),)
    conn.execute("INSERT INTO sales VALUES (2.5)")
    conn.commit()
    conn.close()
    assert db.execute("SELECT sum(amount) FROM sales").rows == ((4.0,),)


PG = os.environ.get("SMALLFIRST_TEST_PG_URL")


@pytest.mark.skipif(not PG, reason="set SMALLFIRST_TEST_PG_URL to run against PostgreSQL")
def test_postgres_sessions_are_read_only_with_a_statement_timeout() -> None:
    from sqlalchemy import create_engine, text

    assert PG is not None
    writer = create_engine(PG)
    with writer.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS kpi_sales"))
        # a json column has no equality operator: the schema keeps it without example values
        conn.execute(text("CREATE TABLE kpi_sales (id integer PRIMARY KEY, amount numeric, meta json)"))
        conn.execute(text("""INSERT INTO kpi_sales VALUES (1, 10.5, '{"a": 1}'), (2, 4.5, '{"a": 2}')"""))
    db = PostgresDatabase(PG, timeout_s=0.5)
    try:
        assert float(db.execute("SELECT sum(amount) FROM kpi_sales").rows[0][0]) == 15.0
        assert "kpi_sales" in db.tables()
        schema = describe(db)
        assert "CREATE TABLE kpi_sales" in schema and "values 4.5, 10.5" in schema and "meta JSON" in schema
        guarded = guard("SELECT SUM(amount) FROM kpi_sales WHERE id > 0", db.tables(), dialect=db.dialect)
        assert float(db.execute(guarded.sql).rows[0][0]) == 15.0
        for sql in ("DELETE FROM kpi_sales", "SET default_transaction_read_only = off; DELETE FROM kpi_sales",
                    "CREATE TABLE kpi_x (a int)"):
            with pytest.raises(QueryError):
                db.execute(sql)
        with pytest.raises(QueryError, match="time limit"):
            db.execute("SELECT pg_sleep(3)")
        with writer.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM kpi_sales")).scalar() == 2
    finally:
        with writer.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS kpi_sales"))
