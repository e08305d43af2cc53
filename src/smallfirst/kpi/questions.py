"""The shipped sales-KPI questions over Northwind, each with gold SQL, split train/test by template.

216 questions in 57 templates ("revenue in a quarter", "top-N customers by revenue", "share of orders shipped
late"...), written as a sales manager would ask them. The split is by template, so no test question shares its
template with a training question: the test measures whether a model (or the retrieval of training examples)
generalises to a new kind of question. ``smallfirst.tasks.sources.kpi`` turns a split into task items for the demo
and ``collect``, graded by execution (``tasks/grading.py`` calls :mod:`smallfirst.kpi.execgrade` for task ``kpi``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from smallfirst.errors import DataError
from smallfirst.kpi.northwind import BUNDLED_DIR
from smallfirst.kpi.sqlprompt import SolvedQuestion

__all__ = ["KpiQuestion", "SPLITS", "load_questions", "northwind_notes", "northwind_prompt", "training_examples"]

QUESTIONS_FILE = BUNDLED_DIR / "kpi-questions.jsonl"
NOTES_FILE = BUNDLED_DIR / "kpi-notes.txt"
SPLITS = ("train", "test")


@dataclass(frozen=True, slots=True)
class KpiQuestion:
    """One shipped question: its template (the unit of the train/test split), the split, and the gold SQL."""

    id: str
    template: str
    split: str
    question: str
    sql: str


@cache
def _all_questions() -> tuple[KpiQuestion, ...]:
    if not QUESTIONS_FILE.is_file():
        raise DataError(f"the shipped KPI questions {QUESTIONS_FILE} are missing", hint="reinstall smallfirst")
    out = []
    for lineno, line in enumerate(QUESTIONS_FILE.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(KpiQuestion(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise DataError(f"{QUESTIONS_FILE}:{lineno}: {exc}") from None
    return tuple(out)


def load_questions(split: str | None = None) -> list[KpiQuestion]:
    """The shipped questions, all or one split ("train", "test"); raises DataError for another split name."""
    if split is not None and split not in SPLITS:
        raise DataError(f"unknown split {split!r}", hint=f"known: {', '.join(SPLITS)}")
    return [q for q in _all_questions() if split is None or q.split == split]


def training_examples() -> list[SolvedQuestion]:
    """The training split as few-shot examples for retrieval."""
    return [SolvedQuestion(q.question, q.sql) for q in load_questions("train")]


@cache
def northwind_notes() -> str:
    """The KPI glossary shown under Northwind's schema (what revenue and a late order mean)."""
    return NOTES_FILE.read_text(encoding="utf-8").strip()


@cache
def northwind_prompt() -> str:
    """The system message's schema part for the shipped Northwind: the schema text plus its notes."""
    from smallfirst.kpi.northwind import shipped_database
    from smallfirst.kpi.schema_text import describe

    return describe(shipped_database(), notes=northwind_notes())

