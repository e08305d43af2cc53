"""The KPI pipeline served as a model tier: the registry's ``kpi`` backend, and ``northwind-kpi`` built in.

A tier answers the last user message as a question about its database: the answer text holds the number or
table, the SQL that produced it and the model that wrote it. It is a Model like any other, so ``smallfirst ask
--model northwind-kpi``, the gateway (``model="northwind-kpi"``) and ``auto`` (``[routing.specialists] kpi =
"northwind-kpi"``, on by default: requests with task ``kpi``) all serve it. Its Completion carries every model call
as ``parts``, and the ledger prices it as their sum. Sampling parameters from the client are not used: the
pipeline sets its own (greedy, ``max_tokens`` from the options).

Options (``[models.NAME] backend = "kpi"``, ``options = {...}``), all optional:

* ``db``: a SQLite file, ``sqlite:///`` or ``postgresql://`` URL (default: the shipped Northwind);
* ``small``, ``large``: the models, in order (default: ``routing.small`` and ``routing.large``); ``large = ""``
  leaves escalation out;
* ``repair`` (true), ``examples``: retrieved examples per prompt, one number for every model or one per model
  (default ``[0, 3]``: the small model tries zero-shot, the cheapest prompt, and the large one gets 3 examples,
  the best chance on the questions the small one failed; 3 for a tier without a large model), ``max_tokens``
  (256);
* ``link``: show each model only the tables the question links to (:mod:`smallfirst.kpi.schemalink`), true or
  one flag per model (default false: the whole schema, which a local model keeps in its KV cache);
* ``examples_file``: a JSONL of ``{"question", "sql"}`` solved questions to retrieve from (default: the shipped
  training split for the default database, none otherwise);
* ``notes`` or ``notes_file``: business definitions shown under the schema (default: Northwind's, for it);
* ``timeout_s`` (5) and ``max_rows`` (1000) for each query.

A question that asks to change data is refused (QueryRefusedError, logged as a failed request) before any model
runs. A question no attempt could answer gets a text answer starting with ``No answer:`` and a log-probability of
``NO_ANSWER_LOGPROB``, so a cascade or a specialist policy can tell.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smallfirst.errors import ConfigError, DataError
from smallfirst.kpi.readonly import ResultSet
from smallfirst.kpi.sqlguard import check_question
from smallfirst.kpi.sqlpipeline import KpiAnswer, PipelineConfig, SqlPipeline
from smallfirst.models.completion import Chunk, Completion, Message, TokenLogprob, Usage

if TYPE_CHECKING:
    from smallfirst.config import ModelSpec, Settings
    from smallfirst.models.registry import ModelPool

__all__ = ["NO_ANSWER", "NO_ANSWER_LOGPROB", "KpiModel", "build", "render"]

NO_ANSWER = "No answer:"
#: the answer's confidence when no attempt produced a result (log of 1e-6); an answer that ran has 0.0
NO_ANSWER_LOGPROB = math.log(1e-6)
_OPTIONS = frozenset({"db", "small", "large", "repair", "examples", "examples_file", "notes", "notes_file",
                      "max_tokens", "timeout_s", "max_rows", "link"})
_SHOWN_ROWS = 20
#: retrieved examples per model when the options name none, by the number of models (small only; small and large)
DEFAULT_EXAMPLES = {1: (3,), 2: (0, 3)}


class KpiModel:
    """The async Model contract over a :class:`SqlPipeline`; its model calls go to its own pool."""

    kind = "local"
    context_length: int | None = None

    def __init__(self, name: str, pipeline: SqlPipeline, pool: ModelPool) -> None:
        self.name = name
        self.pipeline = pipeline
        self.pool = pool

    async def answer(self, question: str) -> KpiAnswer:
        """Refuse a data-changing question (QueryRefusedError), else run the pipeline."""
        check_question(question)
        return await self.pipeline.run(question)

    async def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Answer the last user message (sampling ``params`` are the pipeline's own, not the client's)."""
        return self.to_completion(await self.answer(_question(messages)))

    def to_completion(self, answer: KpiAnswer) -> Completion:
        """The answer as this tier's Completion: the rendered text, the answering call's usage (what a single
        model would have been asked), the pipeline's wall time, and every model call as ``parts``."""
        parts = answer.completions
        final = answer.answered_by() or (answer.attempts[-1] if answer.attempts else None)
        usage = final.completion.usage if final is not None else Usage(0, 0)
        confidence = 0.0 if answer.answered else NO_ANSWER_LOGPROB
        text = render(answer)
        return Completion(model=self.name, text=text, finish_reason="stop", usage=usage,
                          wall_seconds=answer.seconds, ttft_seconds=answer.seconds,
                          logprobs=(TokenLogprob(text[:16], confidence),),
                          kind="api" if any(p.kind == "api" for p in parts) else "local", parts=parts)

    async def stream(self, messages: Sequence[Message], **params: Any) -> AsyncIterator[Chunk]:
        """The whole answer as one chunk: it is judged before it is shown, like a cascade's."""
        c = await self.complete(messages, **params)
        yield Chunk(text=c.text)
        yield Chunk(text="", finish_reason=c.finish_reason, completion=c)

    async def aclose(self) -> None:
        """Close the endpoints' sessions and unload the models this tier loaded."""
        await self.pool.aclose_sessions()
        await asyncio.to_thread(self.pool.close)


def render(answer: KpiAnswer) -> str:
    """The answer as text: the number or a Markdown table, the SQL in a ```sql block, and who wrote it."""
    if not answer.answered:
        last = answer.attempts[-1] if answer.attempts else None
        why = last.problem if last is not None else "no model was called"
        tried = ", ".join(dict.fromkeys(a.model for a in answer.attempts))
        text = f"{NO_ANSWER} no query that runs could be written for this question ({why})."
        if last is not None and last.sql:
            text += f"\n\nLast attempt ({last.model}):\n```sql\n{last.sql}\n```"
        return text + (f"\n\nTried: {tried}." if tried else "")
    assert answer.result is not None
    lines = [_result_text(answer.result), "", f"```sql\n{answer.sql}\n```", _provenance(answer)]
    if answer.warning:
        lines.append(f"Warning: {answer.warning}")
    return "\n".join(lines)


def _provenance(answer: KpiAnswer) -> str:
    by = answer.answered_by()
    first = answer.attempts[0].model
    if by is None:
        return f"Written by {answer.model}."
    how = "first attempt" if by.kind == "first" else "after one repair"
    if by.model != first:
        how = f"escalated from {first}, " + how
    return f"Written by {by.model} ({how}, {len(answer.attempts)} model call{'s' * (len(answer.attempts) > 1)})."


def _result_text(result: ResultSet) -> str:
    if len(result.rows) == 1 and len(result.columns) == 1:
        return _cell(result.rows[0][0])
    header = "| " + " | ".join(c or "?" for c in result.columns) + " |"
    rule = "|" + "---|" * len(result.columns)
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in result.rows[:_SHOWN_ROWS]]
    more = len(result.rows) - _SHOWN_ROWS
    tail = [f"... {more} more rows" + (" (and more beyond the row cap)" if result.truncated else "")] if more > 0 \
        else (["(more rows beyond the row cap)"] if result.truncated else [])
    return "\n".join([header, rule, *body, *tail])


def _cell(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.0f}"
        return f"{v:,.2f}" if abs(v) >= 1 else f"{v:.4g}"
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>"
    return str(v).replace("|", "\\|").replace("\n", " ")


def _question(messages: Sequence[Message]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            content = m.get("content")
            text = content if isinstance(content, str) else str(content or "")
            if text.strip():
                return text.strip()
    raise DataError("a KPI tier needs a question as the last user message",
                    hint="send one user message with the question, e.g. 'What was revenue in 2017?'")


def build(name: str, spec: ModelSpec, settings: Settings) -> KpiModel:
    """The registry's factory for ``backend = "kpi"``: open the database read-only, describe its schema, load
    the examples, and build the pipeline over a model pool of its own. Raises ConfigError for unknown options."""
    from smallfirst.kpi.fewshot import ExampleIndex, load_examples
    from smallfirst.kpi.readonly import open_database
    from smallfirst.kpi.schema_text import describe
    from smallfirst.models.registry import ModelPool, resolve

    opts = dict(spec.options)
    unknown = set(opts) - _OPTIONS
    if unknown:
        raise ConfigError(f"model {name!r}: unknown kpi option(s) {', '.join(sorted(unknown))}",
                          hint=f"known: {', '.join(sorted(_OPTIONS))}")
    default_db = not opts.get("db")
    if default_db:
        from smallfirst.kpi.northwind import northwind_path

        target: str | Path = northwind_path()
    else:
        target = str(opts["db"])
    db = open_database(target, timeout_s=float(opts.get("timeout_s", 5.0)), max_rows=int(opts.get("max_rows", 1000)))
    notes = opts.get("notes")
    if notes is None and opts.get("notes_file"):
        notes = Path(str(opts["notes_file"])).expanduser().read_text(encoding="utf-8")
    if notes is None and default_db:
        from smallfirst.kpi.questions import northwind_notes

        notes = northwind_notes()
    models = tuple(m for m in (str(opts.get("small", settings.routing.small)),
                               str(opts.get("large", settings.routing.large))) if m)
    for model in models:
        resolve(model, settings)  # an unknown model fails here, naming the known ones
    models = tuple(dict.fromkeys(models))
    if not models:
        raise ConfigError(f"model {name!r}: a kpi tier needs a small model", hint="set options.small")
    shots, link = opts.get("examples", list(DEFAULT_EXAMPLES[len(models)])), opts.get("link", False)
    try:
        per_model = tuple(int(k) for k in shots) if isinstance(shots, list | tuple) else int(shots)
        linking = tuple(bool(x) for x in link) if isinstance(link, list | tuple) else bool(link)
        config = PipelineConfig(models=models, repair=bool(opts.get("repair", True)),
                                examples=per_model, max_tokens=int(opts.get("max_tokens", 256)), link=linking)
    except (TypeError, ValueError):
        raise ConfigError(f"model {name!r}: examples must be a number or a list of numbers, and link a flag or a "
                          f"list of flags; got {shots!r} and {link!r}") from None
    examples = None
    if any(config.shots) or any(config.linking):
        if opts.get("examples_file"):
            examples = ExampleIndex(load_examples(str(opts["examples_file"])))
        elif default_db:
            from smallfirst.kpi.questions import training_examples

            examples = ExampleIndex(training_examples())
    pool = ModelPool(settings)

    async def call(model: str, messages: list[Message], params: dict[str, Any]) -> Completion:
        return await (await pool.aget(model)).complete(messages, **params)

    pipeline = SqlPipeline(db, describe(db, notes=notes), config, call, examples, notes=notes)
    return KpiModel(name, pipeline, pool)
