"""Execution accuracy: an answer is right when the rows its SQL returns match the rows of the gold SQL.

The comparison, as a person checking a report would make it:

* **Columns.** The gold SQL returns the fewest columns that answer the question. An answer may return more (a
  name beside the number, a count beside the ranking): each gold column must equal some answer column, the
  answer columns chosen once each, and the rows must line up across them.
* **Rows.** The same number of rows. Order matters only for a ranking, i.e. when the gold query's outermost
  statement has both ORDER BY and LIMIT ("top 5 products"); a full listing ("revenue by country") may come in
  any order.
* **Numbers** match when ``|a - b| <= max(ABS_TOL, REL_TOL * |b|)``: 0.01 absolute (an answer rounded to cents)
  or 0.1% relative. A share may be a fraction or a percentage: a whole numeric column may match at 100x or
  1/100x. Numeric text ("04") compares as a number.
* **Text** matches after trimming, case-insensitively. NULL matches only NULL.

This is the metric of Spider and BIRD (execution accuracy), with the column and scale leniency above stated
here so the figures in ``docs/kpi-sql.md`` can be reproduced.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from smallfirst.errors import QueryError, QueryRefusedError

if TYPE_CHECKING:
    from smallfirst.kpi.readonly import Database

__all__ = ["ABS_TOL", "REL_TOL", "grade_sql", "is_ranking", "results_match"]

ABS_TOL = 0.01
REL_TOL = 1e-3
_SCALES = (1.0, 100.0, 0.01)
#: at most this many ways of choosing answer columns are tried (gold has 1-3 columns in practice)
_MAX_ASSIGNMENTS = 5000

Row = Sequence[Any]


def is_ranking(gold_sql: str, dialect: str = "sqlite") -> bool:
    """Whether the gold query is a ranking, so its row order is part of the answer: its outermost statement
    has both ORDER BY and LIMIT. Unparseable SQL counts as not a ranking."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        stmt = sqlglot.parse_one(gold_sql, read=dialect)
    except SqlglotError:
        return False
    return bool(stmt.args.get("order")) and bool(stmt.args.get("limit"))


def results_match(answer: Sequence[Row], gold: Sequence[Row], *, ordered: bool = False) -> bool:
    """Whether ``answer`` rows match ``gold`` rows under the rules in the module docstring."""
    if len(answer) != len(gold):
        return False
    if not gold:
        return True
    k, m = len(gold[0]), len(answer[0])
    if m < k:
        return False
    gold_cols = [[row[j] for row in gold] for j in range(k)]
    answer_cols = [[row[i] for row in answer] for i in range(m)]
    # For each gold column, the (answer column, scale) pairs whose values match it as a whole.
    options: list[list[tuple[int, float]]] = []
    for gcol in gold_cols:
        opts = [(i, s) for i in range(m) for s in _SCALES if _column_matches(answer_cols[i], gcol, s, ordered)]
        if not opts:
            return False
        options.append(opts)
    tried = 0
    for choice in itertools.product(*options):
        columns = [i for i, _ in choice]
        if len(set(columns)) < len(columns):
            continue
        tried += 1
        if tried > _MAX_ASSIGNMENTS:
            return False
        projected = [tuple(_scaled(row[i], s) for i, s in choice) for row in answer]
        if _rows_match(projected, [tuple(r) for r in gold], ordered):
            return True
    return False


def grade_sql(answer_sql: str | None, gold_sql: str, db: Database) -> float:
    """1.0 when ``answer_sql`` (guarded, then run read-only on ``db``) returns what ``gold_sql`` returns, else 0.0.
    SQL that is missing, refused, invalid or failing scores 0.0; a truncated result (over the row cap) too."""
    if not answer_sql:
        return 0.0
    from smallfirst.kpi.sqlguard import guard

    try:
        guarded = guard(answer_sql, db.tables(), dialect=db.dialect, max_rows=db.max_rows)
        got = db.execute(guarded.sql)
    except (QueryError, QueryRefusedError):
        return 0.0
    if got.truncated:
        return 0.0
    gold_rows, ordered = _gold(db, gold_sql)
    return float(results_match(got.rows, gold_rows, ordered=ordered))


@lru_cache(maxsize=4096)
def _gold_cached(db: Database, gold_sql: str) -> tuple[tuple[tuple[Any, ...], ...], bool]:
    return db.execute(gold_sql).rows, is_ranking(gold_sql, db.dialect)


def _gold(db: Database, gold_sql: str) -> tuple[tuple[tuple[Any, ...], ...], bool]:
    try:
        return _gold_cached(db, gold_sql)
    except TypeError:  # an unhashable database object: no cache
        return db.execute(gold_sql).rows, is_ranking(gold_sql, db.dialect)


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float, Decimal)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, str):
        t = v.strip().replace(",", "")
        try:
            return float(t) if t and not t.startswith(("0x", "0X")) else None
        except ValueError:
            return None
    return None


def _scaled(v: Any, scale: float) -> Any:
    if scale == 1.0:
        return v
    n = _number(v)
    return v if n is None else n * scale


def _value_matches(a: Any, g: Any) -> bool:
    if a is None or g is None:
        return a is None and g is None
    na, ng = _number(a), _number(g)
    if na is not None and ng is not None:
        return abs(na - ng) <= max(ABS_TOL, REL_TOL * abs(ng))
    if isinstance(a, bytes) or isinstance(g, bytes):
        return a == g
    return str(a).strip().casefold() == str(g).strip().casefold()


def _sort_key(v: Any) -> tuple[int, Any]:
    if v is None:
        return (0, 0)
    n = _number(v)
    if n is not None:
        return (1, round(n, 1))
    return (2, str(v).strip().casefold())


def _column_matches(answer: list[Any], gold: list[Any], scale: float, ordered: bool) -> bool:
    scaled = [_scaled(v, scale) for v in answer]
    if scale != 1.0 and any(_number(v) is None for v in answer if v is not None):
        return False
    if not ordered:
        scaled, gold = sorted(scaled, key=_sort_key), sorted(gold, key=_sort_key)
    return all(_value_matches(a, g) for a, g in zip(scaled, gold, strict=True))


def _rows_match(answer: list[tuple[Any, ...]], gold: list[tuple[Any, ...]], ordered: bool) -> bool:
    if ordered:
        return all(_row_matches(a, g) for a, g in zip(answer, gold, strict=True))
    remaining = list(answer)
    for g in sorted(gold, key=lambda r: tuple(_sort_key(v) for v in r)):
        for idx, a in enumerate(remaining):
            if _row_matches(a, g):
                del remaining[idx]
                break
        else:
            return False
    return True


def _row_matches(a: tuple[Any, ...], g: tuple[Any, ...]) -> bool:
    return all(_value_matches(x, y) for x, y in zip(a, g, strict=True))
