"""The KPI pipeline: the small model writes SQL first; what the database rejects is repaired once with the
database's own words, then escalated to the large model (repaired once too).

One attempt: prompt (schema, retrieved examples, question), generate, take the SQL out of the answer, validate it
(:mod:`smallfirst.kpi.sqlguard`), run it read-only (:mod:`smallfirst.kpi.readonly`), and judge the result. An
attempt fails in a way the database can detect when the answer holds no SQL, the guard refuses or rejects it
(no parse, unknown table or column, not a SELECT), the database raises an error or times out, or the result is
empty, all NULL, or a single row of zeros (a count or sum over a filter that matched nothing, the usual sign of a
wrong date format or spelling; a true zero survives, as the fallback below). Each failure becomes the repair
turn's message ("no such column: Revenue"). A wrong answer that runs and returns plausible rows cannot be detected
here, so it is kept: that is the cascade's blind spot, measured by ``benchmarks/kpi_sql.py``.

When every attempt fails, the last result that ran (empty or NULL) is returned as the answer if there is one;
otherwise the question is unanswered. Model calls go through ``call`` (an async function of model name, messages
and parameters returning a Completion), so a tier uses its model pool and a benchmark a memoised one; every call's
Completion is kept, and the pipeline's cost is the sum of their prices, each from the ledger
(:class:`smallfirst.costs.ledger.Ledger` prices a Completion's ``parts``). Validation and execution are blocking
(a query may run for its whole time limit), so they run on a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from smallfirst.errors import ConfigError, QueryError, QueryRefusedError
from smallfirst.kpi.fewshot import ExampleIndex
from smallfirst.kpi.readonly import Database, ResultSet
from smallfirst.kpi.schema_text import describe
from smallfirst.kpi.schemalink import SchemaLinker
from smallfirst.kpi.sqlguard import guard
from smallfirst.kpi.sqlprompt import extract_sql, question_messages, repair_messages, system_message
from smallfirst.models.completion import Completion, Message

__all__ = ["Attempt", "Caller", "KpiAnswer", "PipelineConfig", "SqlPipeline"]

log = logging.getLogger(__name__)

#: (model name, messages, sampling parameters) -> the model's Completion, awaited
Caller = Callable[[str, list[Message], dict[str, Any]], Awaitable[Completion]]


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """Which models answer, in order (the first is the small model, any later ones the escalation ladder),
    whether each gets one repair, how many retrieved examples each model's prompt carries (one number for all,
    or one per model), whether each model sees only the linked tables (:mod:`smallfirst.kpi.schemalink`; one
    flag for all, or one per model), and the generation budget."""

    models: tuple[str, ...]
    repair: bool = True
    examples: int | tuple[int, ...] = 3
    max_tokens: int = 256
    link: bool | tuple[bool, ...] = False

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError("a KPI pipeline needs at least one model")
        for field, value in (("examples count", self.examples), ("link flag", self.link)):
            if isinstance(value, tuple) and len(value) != len(self.models):
                raise ConfigError(f"a KPI pipeline with {len(self.models)} models needs one {field} per model, "
                                  f"got {list(value)}")
        if min(self.shots) < 0 or self.max_tokens < 16:
            raise ConfigError("a KPI pipeline needs examples >= 0 and max_tokens >= 16")

    @property
    def shots(self) -> tuple[int, ...]:
        """Retrieved examples per model, in the order of ``models``."""
        return self.examples if isinstance(self.examples, tuple) else (self.examples,) * len(self.models)

    @property
    def linking(self) -> tuple[bool, ...]:
        """Whether each model, in the order of ``models``, sees only the linked tables."""
        return self.link if isinstance(self.link, tuple) else (self.link,) * len(self.models)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One model call and what came of it: ``problem`` is None when the SQL ran and its result is plausible."""

    model: str
    #: "first" or "repair"
    kind: str
    completion: Completion
    #: the SQL that ran (guarded, with its LIMIT), or the SQL as written when it could not run
    sql: str | None
    result: ResultSet | None
    problem: str | None

    @property
    def ok(self) -> bool:
        """The SQL ran and its result is plausible."""
        return self.problem is None


@dataclass(frozen=True, slots=True)
class KpiAnswer:
    """The pipeline's answer to one question: the SQL that produced the result, the model that wrote it, every
    attempt in order, and the wall seconds of the whole pipeline (model calls, validation and execution)."""

    question: str
    sql: str | None
    result: ResultSet | None
    model: str | None
    attempts: tuple[Attempt, ...]
    seconds: float
    #: why the returned result is doubtful (all attempts failed but this one ran), else None
    warning: str | None = None

    @property
    def answered(self) -> bool:
        """A result came back (possibly a doubtful one: see ``warning``)."""
        return self.result is not None

    @property
    def completions(self) -> tuple[Completion, ...]:
        """Every model call, in order: what the ledger prices."""
        return tuple(a.completion for a in self.attempts)

    @property
    def escalated(self) -> bool:
        """Whether a model after the first was called."""
        return any(a.model != self.attempts[0].model for a in self.attempts) if self.attempts else False

    def answered_by(self) -> Attempt | None:
        """The attempt whose result is the answer."""
        for a in reversed(self.attempts):
            if a.result is not None and a.result is self.result:
                return a
        return None


class SqlPipeline:
    """Answer questions about one database with SQL (module docstring). ``schema_text`` is what the model sees
    (:func:`smallfirst.kpi.schema_text.describe`, with notes); ``examples`` an index of solved questions for
    retrieval, or None for zero-shot prompts; ``notes`` the business notes, needed to describe a linked subset
    of the schema for a model that links (``config.link``)."""

    #: retrieved examples the linker reads when the prompt itself carries none
    LINK_EXAMPLES = 3

    def __init__(self, db: Database, schema_text: str, config: PipelineConfig, call: Caller,
                 examples: ExampleIndex | None = None, notes: str | None = None) -> None:
        self.db = db
        self.config = config
        self.call = call
        self.examples = examples
        self.notes = notes
        self.system = system_message(schema_text, db.dialect)
        self._linker: SchemaLinker | None = None
        self._linked: dict[frozenset[str], Message] = {}

    def messages_for(self, question: str, examples: int, link: bool = False) -> list[Message]:
        """The first-attempt prompt for ``question``: system (the whole schema, or the linked tables), up to
        ``examples`` retrieved examples, the question."""
        shots = self.examples.nearest(question, examples) if self.examples is not None else []
        system = self.system
        if link:
            hints = shots or (self.examples.nearest(question, self.LINK_EXAMPLES) if self.examples else [])
            system = self._system_for(self.linker.link(question, hints))
        return question_messages(system, question, shots)

    @property
    def linker(self) -> SchemaLinker:
        """The schema linker over this database, built on first use."""
        if self._linker is None:
            self._linker = SchemaLinker(self.db)
        return self._linker

    def _system_for(self, tables: Sequence[str]) -> Message:
        key = frozenset(tables)
        if key not in self._linked:
            self._linked[key] = system_message(describe(self.db, notes=self.notes, only=key), self.db.dialect)
        return self._linked[key]

    async def run(self, question: str) -> KpiAnswer:
        """Answer one question (already checked by :func:`smallfirst.kpi.sqlguard.check_question`). Model errors
        (UpstreamError, ContextOverflowError) propagate; the database's never do."""
        start = time.perf_counter()
        params = {"max_tokens": self.config.max_tokens, "temperature": 0.0}
        attempts: list[Attempt] = []
        fallback: Attempt | None = None
        for model, shots, link in zip(self.config.models, self.config.shots, self.config.linking, strict=True):
            messages = await asyncio.to_thread(self.messages_for, question, shots, link)
            kinds = ("first", "repair") if self.config.repair else ("first",)
            for kind in kinds:
                completion = await self.call(model, messages, dict(params))
                attempt = await asyncio.to_thread(self.check, model, kind, completion)
                attempts.append(attempt)
                if attempt.ok:
                    return self._answer(question, attempt, attempts, start)
                log.info("kpi: %s attempt by %s failed: %s", kind, model, attempt.problem)
                if attempt.result is not None:
                    fallback = attempt
                messages = repair_messages(messages, completion.text, attempt.problem or "")
        if fallback is not None:
            return self._answer(question, fallback, attempts, start,
                                warning=f"every attempt failed; this result is doubtful: {fallback.problem}")
        return KpiAnswer(question=question, sql=None, result=None, model=None, attempts=tuple(attempts),
                         seconds=time.perf_counter() - start)

    def check(self, model: str, kind: str, completion: Completion) -> Attempt:
        """Extract, validate, run and judge one answer (blocking: the query runs here)."""
        sql = extract_sql(completion.text)
        if sql is None:
            return Attempt(model, kind, completion, None, None,
                           "the answer holds no SQL; reply with one SELECT statement in a ```sql block")
        try:
            guarded = guard(sql, self.db.tables(), dialect=self.db.dialect, max_rows=self.db.max_rows)
        except QueryRefusedError as exc:
            log.info("kpi: refused SQL from %s: %s", model, exc.message)
            return Attempt(model, kind, completion, sql, None, str(exc))
        except QueryError as exc:
            return Attempt(model, kind, completion, sql, None, str(exc))
        try:
            result = self.db.execute(guarded.sql)
        except QueryError as exc:
            return Attempt(model, kind, completion, guarded.sql, None, str(exc))
        return Attempt(model, kind, completion, guarded.sql, result, _implausible(result))

    @staticmethod
    def _answer(question: str, attempt: Attempt, attempts: Sequence[Attempt], start: float,
                warning: str | None = None) -> KpiAnswer:
        return KpiAnswer(question=question, sql=attempt.sql, result=attempt.result, model=attempt.model,
                         attempts=tuple(attempts), seconds=time.perf_counter() - start, warning=warning)


def _implausible(result: ResultSet) -> str | None:
    """Why a result that ran cannot be the answer to a KPI question, or None."""
    if not result.rows:
        return ("the query ran but returned no rows; check each filter against the sample values and date "
                "format in the schema")
    if all(v is None for row in result.rows for v in row):
        return "the query ran but returned only NULL; check the joins and filters"
    if len(result.rows) == 1 and all(v is None or v == 0 for v in result.rows[0]):
        return ("the query ran but every value it returned is 0; check each filter against the sample values and "
                "date format in the schema")
    return None
