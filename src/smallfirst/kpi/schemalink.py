"""Schema linking: the tables a question probably needs, so a prompt can show those instead of the whole schema.

A local model that keeps the schema in its KV cache pays for it once; a model priced per prompt token (an API, or
a local model priced by the compute its tokens occupy) pays for it on every question, and a database with
hundreds of tables does not fit a small model's context at all. The linker picks, from the database alone:

* the tables of the retrieved solved questions' SQL (similar questions join similar tables);
* tables whose name, or one of whose column names, shares a word with the question ("freight" -> Orders,
  "categories" -> Categories), words of four letters or more, singular and plural alike;
* tables with a low-cardinality text column holding a value the question names ("Germany", "Beverages");
* every table on the shortest foreign-key path joining those, so the joins stay possible.

When nothing links, the whole schema is used. ``benchmarks/kpi_sql.py --link`` measures what linking costs and
saves; the recall of the linked tables against the gold SQL's is in ``docs/kpi-sql.md``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Sequence

from smallfirst.kpi.readonly import Database, TableInfo, quote
from smallfirst.kpi.sqlprompt import SolvedQuestion

__all__ = ["SchemaLinker", "sql_tables"]

_WORD = re.compile(r"[A-Za-z][a-z]+|[A-Z]+(?![a-z])|\d+")
_QUESTION_WORD = re.compile(r"[a-z0-9]+")
#: words too common in column names to say which table a question needs
_STOP = frozenset({"name", "names", "date", "dates", "type", "code", "number", "total", "value", "values", "each",
                   "what", "which", "many", "much", "from", "with", "that", "this", "have", "were", "does", "their",
                   "year", "month", "give", "show", "list", "more", "most", "than", "over", "into"})
_MAX_VALUES = 30


def _stem(word: str) -> str:
    w = word.lower()
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith(("ses", "xes", "ches", "shes")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def _words(identifier: str) -> set[str]:
    """The words of an identifier (CamelCase, spaces, underscores): ``ShipCountry`` -> {ship, country}."""
    return {_stem(w) for w in _WORD.findall(identifier.replace("_", " ")) if len(w) >= 4} - _STOP


def sql_tables(sql: str, dialect: str = "sqlite") -> set[str]:
    """Names of the tables a SQL statement reads (CTE names left out); empty when it does not parse."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    try:
        stmt = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        return set()
    ctes = {c.alias_or_name.lower() for c in stmt.find_all(exp.CTE)}
    return {t.name for t in stmt.find_all(exp.Table) if t.name and t.name.lower() not in ctes}


class SchemaLinker:
    """Links questions to tables of ``db`` (module docstring). Built once per database: reads the names, keys
    and the values of low-cardinality text columns."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.tables: dict[str, TableInfo] = {n: t for n, t in db.tables().items() if t.kind == "table" and t.rows}
        self._by_lower = {n.lower(): n for n in self.tables}
        self._words = {n: _words(n) | {w for c in t.columns for w in _words(c.name)} for n, t in self.tables.items()}
        self._values: dict[str, set[str]] = {}
        for name, table in self.tables.items():
            for col in table.columns:
                if col.primary_key or col.references or "BLOB" in col.type.upper():
                    continue
                rows = db.execute(f"SELECT DISTINCT {quote(col.name)} FROM {quote(name)} "  # noqa: S608
                                  f"WHERE {quote(col.name)} IS NOT NULL LIMIT {_MAX_VALUES + 1}").rows
                if len(rows) <= _MAX_VALUES:
                    for (v,) in rows:
                        if isinstance(v, str) and len(v.strip()) >= 3 and not v.strip().isdigit():
                            self._values.setdefault(v.strip().lower(), set()).add(name)
        self._graph: dict[str, set[str]] = {n: set() for n in self.tables}
        for name, table in self.tables.items():
            for col in table.columns:
                target = col.references.rsplit(".", 1)[0] if col.references else None
                if target in self._graph and target != name:
                    self._graph[name].add(target)
                    self._graph[target].add(name)

    def link(self, question: str, examples: Sequence[SolvedQuestion] = ()) -> list[str]:
        """The tables ``question`` probably needs, in the database's order; all tables when nothing links."""
        picked: set[str] = set()
        for ex in examples:
            picked |= {self._by_lower[t.lower()] for t in sql_tables(ex.sql, self.db.dialect)
                       if t.lower() in self._by_lower}
        words = {_stem(w) for w in _QUESTION_WORD.findall(question.lower()) if len(w) >= 4} - _STOP
        picked |= {n for n, ws in self._words.items() if ws & words}
        lowered = question.lower()
        for value, owners in self._values.items():
            if re.search(rf"(?<![a-z0-9]){re.escape(value)}(?![a-z0-9])", lowered):
                picked |= owners
        if not picked:
            return list(self.tables)
        return [n for n in self.tables if n in self._connect(picked)]

    def _connect(self, picked: Iterable[str]) -> set[str]:
        """``picked`` plus the tables on the shortest foreign-key paths that join them into one tree."""
        todo = sorted(picked, key=lambda n: -len(self._graph[n]))
        tree = {todo[0]}
        for target in todo[1:]:
            if target in tree:
                continue
            path = self._path(tree, target)
            tree |= set(path) if path else {target}
        return tree

    def _path(self, sources: set[str], target: str) -> list[str] | None:
        seen = {s: None for s in sources}
        queue: deque[str] = deque(sources)
        while queue:
            node = queue.popleft()
            if node == target:
                path = [node]
                while seen[path[-1]] is not None:
                    path.append(seen[path[-1]])  # type: ignore[arg-type]
                return path
            for nxt in sorted(self._graph[node]):
                if nxt not in seen:
                    seen[nxt] = node
                    queue.append(nxt)
        return None
