"""The schema as the model sees it: compact ``CREATE TABLE`` text with keys, row counts and a few sample values.

Coder models have read a great deal of DDL, so the schema is shown as DDL, one column a line::

    CREATE TABLE Orders ( -- 830 rows
      OrderID INTEGER PRIMARY KEY,
      CustomerID TEXT REFERENCES Customers(CustomerID),
      OrderDate DATETIME, -- '2016-07-04' to '2018-05-06'
      ShipCountry TEXT -- 21 values, e.g. 'Germany', 'USA', 'Brazil'
    );

How it is built, from the database alone (nothing here knows Northwind):

* every table, with its declared types, primary key and foreign keys; views and empty tables are left out by
  default (a view's name promises what its body may no longer do: Northwind's "Product Sales for 1997" is
  empty once the dates move to 2016-2018);
* BLOB columns are left out (pictures answer no KPI);
* a date or time column shows its first and last value, which also shows the format to filter on;
* a column with at most ``max_distinct`` values (countries, categories, flags, discount rates) shows its
  ``samples`` most frequent ones, which shows spelling and encoding (``Discontinued`` is the text '0'/'1');
* a column whose every value is distinct shows all of them when there are at most 10 (a lookup table's names:
  categories, shippers), else none;
* key columns and contact or free-text columns (address, phone,
  fax, postal code, e-mail, URL, path, notes, description) show no values; nor do values over 40 characters.

Optional business notes (a KPI glossary: "revenue is after discounts") follow as SQL comments. What this costs in
tokens is measured by ``benchmarks/kpi_sql.py`` with each model's own tokenizer (``docs/kpi-sql.md``).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Collection
from decimal import Decimal

from smallfirst.errors import QueryError
from smallfirst.kpi.readonly import Column, Database, TableInfo, quote

__all__ = ["describe", "identifier"]

_SIMPLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DATE_TYPE = re.compile(r"DATE|TIME", re.I)
_FREE_TEXT = re.compile(r"address|phone|fax|postal|zip|e-?mail|url|path|homepage|notes|description|extension",
                        re.I)
_BLOB = re.compile(r"BLOB|BYTEA|BINARY", re.I)
_MAX_VALUE_CHARS = 40
#: a column of distinct values in a table this small is a vocabulary (categories, shippers): show all of it
_LOOKUP_MAX = 10


def identifier(name: str) -> str:
    """``name`` as it must be written in SQL: bare when it is a plain identifier, else double-quoted."""
    return name if _SIMPLE.match(name) else quote(name)


def describe(db: Database, *, samples: int = 3, max_distinct: int = 30, include_views: bool = False,
             include_empty: bool = False, notes: str | None = None, only: Collection[str] | None = None) -> str:
    """The schema text for ``db`` (see the module docstring), ending with ``notes`` as comments when given.

    ``samples`` values per low-cardinality column (0 shows none), ``max_distinct`` the most distinct values a
    column may have and still show samples, ``only`` the tables to show (all when None; see
    :mod:`smallfirst.kpi.schemalink`). Reads through the database's read-only connection; raises QueryError
    only when the database fails a sampling query."""
    blocks = []
    for table in db.tables().values():
        if only is not None and table.name not in only:
            continue
        if table.kind == "view" and not include_views:
            continue
        if table.kind == "table" and not table.rows and not include_empty:
            continue
        blocks.append(_table_text(db, table, samples, max_distinct))
    text = "\n".join(blocks)
    if notes and notes.strip():
        text += "\n" + "\n".join(f"-- {line}".rstrip() for line in notes.strip().splitlines())
    return text


def _table_text(db: Database, table: TableInfo, samples: int, max_distinct: int) -> str:
    kind = "VIEW" if table.kind == "view" else "TABLE"
    head = f"CREATE {kind} {identifier(table.name)} (" + (f" -- {table.rows} rows" if table.rows is not None else "")
    keys = [c for c in table.columns if c.primary_key]
    parts: list[tuple[str, str | None]] = []
    for col in table.columns:
        if _BLOB.search(col.type):
            continue
        line = f"  {identifier(col.name)} {col.type}".rstrip()
        if col.primary_key and len(keys) == 1:
            line += " PRIMARY KEY"
        if col.references:
            ref_table, ref_col = col.references.rsplit(".", 1)
            line += f" REFERENCES {identifier(ref_table)}({identifier(ref_col)})"
        parts.append((line, _sampled_values(db, table, col, samples, max_distinct) if samples else None))
    if len(keys) > 1:
        parts.append((f"  PRIMARY KEY ({', '.join(identifier(c.name) for c in keys)})", None))
    lines = [line + ("," if i < len(parts) - 1 else "") + (f" -- {hint}" if hint else "")
             for i, (line, hint) in enumerate(parts)]
    return "\n".join([head, *lines, ");"])


def _sampled_values(db: Database, table: TableInfo, col: Column, samples: int, max_distinct: int) -> str | None:
    # a column whose type has no ordering or equality (PostgreSQL json, geometry, some arrays) keeps its line in
    # the schema without example values, instead of failing the description of the whole database
    try:
        return _values(db, table, col, samples, max_distinct)
    except QueryError:
        return None


def _values(db: Database, table: TableInfo, col: Column, samples: int, max_distinct: int) -> str | None:
    if col.primary_key or col.references or _FREE_TEXT.search(col.name):
        return None
    t, c = identifier(table.name), identifier(col.name)
    if _DATE_TYPE.search(col.type) or col.name.lower().endswith("date"):
        lo, hi = db.execute(f"SELECT min({c}), max({c}) FROM {t}").rows[0]  # noqa: S608 (names from the catalogue)
        return f"{_show(lo)} to {_show(hi)}" if lo is not None else None
    distinct, present = db.execute(f"SELECT count(DISTINCT {c}), count({c}) FROM {t}").rows[0]  # noqa: S608
    lookup = distinct == present  # every value distinct: a small lookup table's names, or free text
    if not distinct or distinct > max_distinct or (lookup and present > _LOOKUP_MAX):
        return None
    shown = distinct if lookup else samples
    top = db.execute(f"SELECT {c} FROM {t} WHERE {c} IS NOT NULL GROUP BY {c} "  # noqa: S608
                     f"ORDER BY count(*) DESC, {c} LIMIT {shown}").rows
    values = [v for (v,) in top if not isinstance(v, bytes) and len(str(v)) <= _MAX_VALUE_CHARS and "\n" not in str(v)]
    if not values:
        return None
    listed = ", ".join(_show(v) for v in values)
    return f"values {listed}" if len(values) == distinct else f"{distinct} values, e.g. {listed}"


def _show(value: object) -> str:
    """A value as a SQL literal: text and dates quoted, numbers bare (Decimal and float as their digits)."""
    if isinstance(value, (datetime.date, datetime.time)):
        value = value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return str(value)
    return repr(value)
