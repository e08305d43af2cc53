"""What may run against a user's database, decided with sqlglot before anything runs.

A statement passes when it is exactly one query (SELECT, or a UNION/INTERSECT/EXCEPT of them) over tables and
columns the database has; it then runs with a LIMIT (added, or lowered to the row cap). Refused, with
QueryRefusedError:

* more than one statement, or anything but a query: INSERT, UPDATE, DELETE, DROP, CREATE, ALTER, ATTACH,
  DETACH, PRAGMA, VACUUM, REPLACE, transactions, SET...;
* a data-changing statement or a lock inside a query (a CTE that deletes, SELECT ... INTO, FOR UPDATE);
* functions that reach outside the query: ``load_extension``, ``readfile``, ``writefile``, ``edit``,
  ``fts3_tokenizer``, PostgreSQL's file and server functions, and SQLite's ``pragma_*`` table functions;
* a recursive CTE without a bound: its body must carry a LIMIT.

Not valid (QueryError, which the pipeline repairs): no SQL, SQL that does not parse, an unknown table or column.

A question in words is checked too (:func:`check_question`): one that asks to change data is refused before
any model sees it.

This is the first lock, not the only one: the connection itself is read-only (:mod:`smallfirst.kpi.readonly`).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smallfirst.errors import QueryError, QueryRefusedError

if TYPE_CHECKING:
    from smallfirst.kpi.readonly import TableInfo

__all__ = ["GuardedSql", "check_question", "guard"]

_FORBIDDEN_FUNCTIONS = frozenset({
    # SQLite: load code, touch files, or read internals
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "sqlite_compileoption_get",
    # PostgreSQL: files, other servers, sessions, sleeping
    "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "lo_import", "lo_export", "dblink",
    "dblink_exec", "pg_terminate_backend", "pg_cancel_backend", "set_config", "pg_sleep", "query_to_xml",
})
_REFUSE_HINT = "smallfirst runs one read-only SELECT per question"
#: schema qualifiers that name the database's own tables (SQLite's main, PostgreSQL's public)
_DEFAULT_SCHEMAS = frozenset({"main", "public"})

# Words that ask for a change of data or of the database, in SQL or in plain English.
_CHANGE_WORDS = re.compile(
    r"\b(delete|drop|truncate|insert|update|alter|attach|detach|pragma|vacuum|reindex|grant|revoke|"
    r"load_extension|replace\s+into|create\s+(?:table|index|view|trigger|database)|"
    r"rename|overwrite|wipe|erase)\b", re.I)
_CHANGE_PHRASES = re.compile(
    r"\b(remove|purge)\s+(?:all\s+|the\s+|every\s+|any\s+)?\w+(?:\s+\w+)?\s+(?:from|in)\b|"
    r"\b(set|change|modify|edit)\s+(?!from\b|in\b|between\b|of\b|over\b)(?:the\s+|all\s+|every\s+)?"
    r"[\w\s]{1,30}?\s+(?:to|=)\s|"
    r"\b(add|insert|create)\s+(?:a|an|new|the)\s+(?:new\s+)?(?:customer|order|product|employee|supplier|row|"
    r"record|table|entry)\b", re.I)


@dataclass(frozen=True, slots=True)
class GuardedSql:
    """SQL that passed the guard: the text that will run (with its LIMIT), and the tables it reads."""

    sql: str
    tables: tuple[str, ...]


def check_question(question: str) -> None:
    """Refuse a question that asks to change data or the database (QueryRefusedError), before any model sees it.

    Checks words such as DELETE, DROP, UPDATE, INSERT, ATTACH, PRAGMA and phrases such as "remove ... from",
    "set ... to", "add a new customer". It errs on the side of refusing: a refused question can be rephrased,
    a changed database cannot be unchanged (and the connection is read-only regardless)."""
    m = _CHANGE_WORDS.search(question) or _CHANGE_PHRASES.search(question)
    if m:
        raise QueryRefusedError(
            f"refused: the question asks to change data or the database ({m.group(0).strip()!r}); "
            "smallfirst only reads it",
            hint="ask a question that reads data, e.g. 'How many orders shipped late in 2017?'")


def guard(sql: str, tables: dict[str, TableInfo], *, dialect: str = "sqlite", max_rows: int = 1000) -> GuardedSql:
    """Validate ``sql`` against ``tables`` (the database's tables and views) and return it with a LIMIT of
    ``max_rows + 1`` (added, or lowered to it), so a caller fetching ``max_rows + 1`` rows sees whether more exist.

    Raises QueryRefusedError for what must never run and QueryError for what cannot answer (see the module
    docstring). ``dialect`` is sqlglot's name ("sqlite", "postgres")."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    text = sql.strip().rstrip(";").strip()
    if not text:
        raise QueryError("there is no SQL to run", hint="write one SELECT statement")
    try:
        with _quiet_sqlglot():
            statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except SqlglotError as exc:
        raise QueryError(f"the SQL does not parse: {_short(exc)}", hint=_parse_hint(text, tables)) from None
    if not statements:
        raise QueryError("there is no SQL to run", hint="write one SELECT statement")
    if len(statements) > 1:
        raise QueryRefusedError(f"refused: {len(statements)} statements; only one may run", hint=_REFUSE_HINT)
    stmt = statements[0]
    if not isinstance(stmt, exp.Query):
        raise QueryRefusedError(f"refused: {_statement_kind(stmt)} is not a SELECT", hint=_REFUSE_HINT)
    _refuse_inside(stmt, exp)
    ctes = _check_ctes(stmt, exp)
    read = _check_tables(stmt, tables, ctes, exp)
    _check_columns(stmt, tables, dialect)
    limited = _with_limit(stmt, max_rows + 1, exp)
    return GuardedSql(sql=limited.sql(dialect=dialect), tables=read)


def _refuse_inside(stmt: Any, exp: Any) -> None:
    for node in stmt.walk():
        if isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Drop, exp.Create, exp.Alter, exp.Command,
                             exp.Pragma, exp.Attach, exp.Detach, exp.Merge, exp.TruncateTable)):
            raise QueryRefusedError(f"refused: the query contains {_statement_kind(node)}", hint=_REFUSE_HINT)
        if isinstance(node, exp.Into):
            raise QueryRefusedError("refused: SELECT ... INTO writes a table", hint=_REFUSE_HINT)
        if isinstance(node, exp.Lock):
            raise QueryRefusedError("refused: the query locks rows (FOR UPDATE/SHARE)", hint=_REFUSE_HINT)
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in _FORBIDDEN_FUNCTIONS or name.startswith("pragma_"):
                raise QueryRefusedError(f"refused: the function {name}() reaches outside the query",
                                        hint=_REFUSE_HINT)


def _check_ctes(stmt: Any, exp: Any) -> set[str]:
    """CTE names (lower-cased); refuses a recursive CTE whose body has no LIMIT."""
    names: set[str] = set()
    for with_ in stmt.find_all(exp.With):
        for cte in with_.expressions:
            name = cte.alias_or_name.lower()
            names.add(name)
            refers_to_itself = any(t.name.lower() == name for t in cte.this.find_all(exp.Table))
            if with_.args.get("recursive") and refers_to_itself and cte.this.find(exp.Limit) is None:
                raise QueryRefusedError(f"refused: the recursive CTE {cte.alias_or_name!r} has no bound",
                                        hint="put a LIMIT inside the recursive CTE")
    return names


def _check_tables(stmt: Any, tables: dict[str, TableInfo], ctes: set[str], exp: Any) -> tuple[str, ...]:
    known = {name.lower(): name for name in tables}
    read: list[str] = []
    for table in stmt.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):  # a table-valued function, e.g. json_each(...)
            continue
        name = table.name
        if name.lower() in ctes:
            continue
        schema = table.args.get("db")
        if table.args.get("catalog") or (schema is not None and schema.name.lower() not in _DEFAULT_SCHEMAS):
            raise QueryError(f"no such table: {table.sql()}", hint=_tables_hint(tables))
        if name.lower() not in known:
            raise QueryError(f"no such table: {name}", hint=_tables_hint(tables))
        if known[name.lower()] not in read:
            read.append(known[name.lower()])
    return tuple(read)


def _check_columns(stmt: Any, tables: dict[str, TableInfo], dialect: str) -> None:
    """Unknown columns, found by sqlglot's own scope resolution (qualify) against the database's schema."""
    from sqlglot.errors import OptimizeError, SqlglotError
    from sqlglot.optimizer.qualify import qualify

    schema = {name: {c.name: c.type or "TEXT" for c in t.columns} for name, t in tables.items()}
    try:
        with _quiet_sqlglot():
            qualify(stmt.copy(), schema=schema, dialect=dialect, validate_qualify_columns=True,
                    quote_identifiers=False, identify=False)
    except OptimizeError as exc:
        message = _short(exc)
        if "could not be resolved" in message or "Unknown column" in message or "Ambiguous" in message:
            raise QueryError(f"unknown or ambiguous column: {message}", hint=_column_hint(message, tables)) from None
        # qualify could not follow this query's shape; the database still checks every name when it runs
    except (SqlglotError, KeyError, ValueError):
        pass


def _with_limit(stmt: Any, cap: int, exp: Any) -> Any:
    limit = stmt.args.get("limit")
    if limit is None:
        return stmt.limit(cap, copy=True)
    value = limit.expression if isinstance(limit, exp.Limit) else None
    if isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit() and int(value.this) <= cap:
        return stmt
    # a larger or computed limit: cap what comes out of it
    return exp.select("*").from_(stmt.subquery("capped")).limit(cap)


def _column_hint(message: str, tables: dict[str, TableInfo]) -> str:
    """Where the column sqlglot could not place does exist, so a repair can join the right table."""
    m = re.search(r"Unknown column: (\w+)|Column '([^']+)' could not be resolved", message)
    name = (m.group(1) or m.group(2)) if m else None
    owners = [t.name for t in tables.values() if t.kind == "table" and t.rows != 0  # empty tables are not shown
              for c in t.columns if name and c.name.lower() == name.lower()]
    if name and owners:
        column = next(c.name for t in tables.values() for c in t.columns if c.name.lower() == name.lower())
        where = ", ".join(_quoted(o) for o in owners)
        return (f"{column} is a column of {where}: join {'that table' if len(owners) == 1 else 'one of them'} "
                f"and qualify {column} by its alias")
    if name:
        return f"no table has a column {name}; use the columns in the schema, qualified by their table"
    return "use the columns in the schema, qualified by their table"


def _parse_hint(sql: str, tables: dict[str, TableInfo]) -> str:
    """A name with a space written without quotes is the usual cause; else the generic advice."""
    for name in tables:
        if " " in name and re.search(rf"(?<![\"\[`]){re.escape(name)}", sql, re.I):
            return f'quote the table name: "{name}"'
    return "write one valid SELECT statement"


def _quoted(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f'"{name}"'


def _tables_hint(tables: dict[str, TableInfo]) -> str:
    names = [n for n, t in tables.items() if t.kind == "table"]
    return "tables: " + ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")


def _statement_kind(node: Any) -> str:
    """The statement's first keyword (DELETE, ATTACH, PRAGMA...), as a user would name it."""
    words = re.findall(r"[A-Za-z_]+", node.sql() if hasattr(node, "sql") else str(node))
    return words[0].upper() if words else type(node).__name__.upper()


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _short(exc: BaseException) -> str:
    return " ".join(_ANSI.sub("", str(exc)).split())[:300]


@contextlib.contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """sqlglot logs a warning when it falls back to parsing a statement as a bare command; the guard reports
    such statements itself."""
    log = logging.getLogger("sqlglot")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)
