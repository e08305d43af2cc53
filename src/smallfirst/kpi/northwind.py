"""Northwind, a small company's sales database, shipped as a SQLite file so the KPI niche needs no download.

The file is built from jpwhite3/northwind-SQLite3's ``create.sql`` then ``update.sql`` (MIT; the licence lies
beside the file): 830 orders and 2,155 order lines from 2016-07-04 to 2018-05-06, 93 customers, 77 products,
9 employees, 3 shippers. :func:`build_northwind` is what the data catalogue calls to build it from those upstream
files, and :func:`content_digest` is how a build is compared with the shipped file: SQLite's page layout differs
between library versions, so equal contents, not equal bytes, is the test.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from smallfirst.errors import DataError

if TYPE_CHECKING:
    from smallfirst.kpi.readonly import SqliteDatabase

__all__ = ["BUNDLED_DIR", "DB_FILENAME", "build_northwind", "content_digest", "northwind_path", "shipped_database"]

#: the folder shipped inside the package: the database, its licence, the KPI notes and the question set
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "datasets" / "bundled" / "northwind"
DB_FILENAME = "northwind.sqlite"


def northwind_path() -> Path:
    """The shipped Northwind file (read it through :mod:`smallfirst.kpi.readonly`; never write to it).

    Raises DataError when the installation lacks it (a package built without its data)."""
    path = BUNDLED_DIR / DB_FILENAME
    if not path.is_file():
        raise DataError(f"the shipped Northwind database {path} is missing",
                        hint="reinstall smallfirst (pip install -e .), or build it with "
                             "smallfirst.kpi.northwind.build_northwind(create.sql, update.sql, out)")
    return path


@cache
def shipped_database() -> SqliteDatabase:
    """The shipped Northwind, opened read-only once per process (default time limit and row cap)."""
    from smallfirst.kpi.readonly import SqliteDatabase

    return SqliteDatabase(northwind_path())


def build_northwind(create_sql: str | Path, update_sql: str | Path, out: str | Path) -> Path:
    """Build the Northwind SQLite file at ``out`` from the upstream ``create.sql`` then ``update.sql``.

    Atomic: the database is written to a temporary file beside ``out``, compacted (VACUUM), synced and renamed
    into place, so ``out`` is either the previous file or the whole new one. Returns ``out``. Raises DataError
    when a script is missing or SQLite rejects it (the temporary file is removed)."""
    scripts = [Path(create_sql), Path(update_sql)]
    for script in scripts:
        if not script.is_file():
            raise DataError(f"Northwind script {script} does not exist",
                            hint="give the create.sql and update.sql of jpwhite3/northwind-SQLite3")
    dest = Path(out)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        conn = sqlite3.connect(tmp)
        try:
            for script in scripts:
                try:
                    conn.executescript(script.read_text(encoding="utf-8"))
                except sqlite3.Error as exc:
                    raise DataError(f"SQLite rejected {script}: {exc}",
                                    hint="the file is not the upstream Northwind script") from None
            conn.commit()
            conn.execute("VACUUM")
        finally:
            conn.close()
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        tmp.chmod(0o644)  # mkstemp made it private; the database is data, readable like any shipped file
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return dest


def content_digest(path: str | Path) -> str:
    """sha256 over a SQLite file's contents: every schema entry (type, name, SQL) and every row of every table
    in rowid order, each value with its storage class. Two files with equal digests hold the same data whatever
    SQLite version wrote them. Reads through a read-only connection; raises DataError for a missing file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"database file {p} does not exist")
    h = hashlib.sha256()
    conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
    try:
        entries = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_autoindex%' "
                               "ORDER BY type, name").fetchall()
        for kind, name, sql in entries:
            h.update(repr((kind, name, sql)).encode())
            if kind != "table":
                continue
            quoted = '"' + name.replace('"', '""') + '"'
            for row in conn.execute(f"SELECT * FROM {quoted} ORDER BY rowid"):  # noqa: S608 (a name from the file)
                h.update(repr(tuple((type(v).__name__, v) for v in row)).encode())
    finally:
        conn.close()
    return h.hexdigest()
