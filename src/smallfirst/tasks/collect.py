"""Run models over labelled task items and keep what happened: the outcome data routers learn from.

Each finished (item, model) pair is appended to a journal as soon as it is graded, so an interrupted run
resumes where it stopped; the outcome file is written (atomically) only from a complete journal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from smallfirst.errors import DataError
from smallfirst.outcomes import Outcomes, from_records, save
from smallfirst.service import RequestContext, Service
from smallfirst.tasks.grading import extract, grade
from smallfirst.tasks.items import TaskItem

#: generation budget per task family: enough for the answer format each prompt asks for
MAX_TOKENS = {"gsm8k": 320, "mmlu": 4, "cuad": 4, "banking77": 16}


def max_tokens(task: str) -> int:
    """The completion-token budget for ``task``: its family's (the part before "/") from ``MAX_TOKENS``, else 256."""
    return MAX_TOKENS.get(task.split("/")[0], 256)


def journal_path(out: Path) -> Path:
    """The journal beside outcome file ``out``: ``<out>.journal.jsonl``, one graded (item, model) result a line."""
    return out.with_name(out.name + ".journal.jsonl")


def _load_journal(path: Path) -> dict[tuple[str, str], dict]:
    done: dict[tuple[str, str], dict] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by an interruption: that pair simply runs again
            done[(rec["id"], rec["model"])] = rec
    return done


def collect(service: Service | None, items: Sequence[TaskItem], models: Sequence[str], out: Path, *,
            labels: Callable[[str], tuple[str, ...]] = lambda task: (),
            on_result: Callable[[str, TaskItem, dict], None] | None = None,
            assemble_only: bool = False) -> Outcomes:
    """Run every model on every item (resuming from the journal), grade, and save the outcome file.

    ``assemble_only`` runs nothing: it writes the items every model has finished and keeps the journal, so
    a long collection can be used before it ends and resumed afterwards."""
    out.parent.mkdir(parents=True, exist_ok=True)
    journal = journal_path(out)
    done = _load_journal(journal)
    if assemble_only:
        complete = [it for it in items if all((it.id, m) in done for m in models)]
        if not complete:
            raise DataError(f"no item has results from every model in {journal}",
                            hint="run collect without --assemble-only first")
        return _assemble(complete, models, done, out)
    assert service is not None
    with journal.open("a", encoding="utf-8") as fh:
        for model in models:
            # Model-major and grouped by task: one model in memory at a time, and consecutive prompts share
            # their instruction prefix, which llama.cpp reuses from its KV cache.
            for item in sorted(items, key=lambda it: it.task):
                if (item.id, model) in done:
                    if on_result:
                        on_result(model, item, done[(item.id, model)])
                    continue
                ctx = RequestContext(source="collect", task=item.task)
                # Log-probabilities cost little and give each answer the confidence a cascade decides on.
                answer = service.answer(list(item.messages), model, ctx=ctx,
                                        max_tokens=max_tokens(item.task), temperature=0.0, logprobs=True)
                c = answer.completion
                rec = {"id": item.id, "model": model, "answer": extract(item.task, c.text, labels(item.task)),
                       "text": c.text, "quality": grade(item.task, c.text, item.gold or "", labels(item.task))
                       if item.gold is not None else None,
                       "prompt_tokens": c.usage.prompt_tokens, "completion_tokens": c.usage.completion_tokens,
                       "latency_s": round(c.wall_seconds, 4), "cost_usd": str(answer.cost.amount),
                       "confidence": c.mean_logprob}
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                fh.flush()
                done[(item.id, model)] = rec
                if on_result:
                    on_result(model, item, rec)
    outcomes = _assemble(items, models, done, out)
    journal.unlink()
    return outcomes


def _assemble(items: Sequence[TaskItem], models: Sequence[str], done: dict[tuple[str, str], dict],
              out: Path) -> Outcomes:
    records = []
    for item in items:
        results = {}
        for model in models:
            r = done[(item.id, model)]
            # .get: journals written before confidence was recorded still assemble
            results[model] = {k: r.get(k) for k in ("quality", "prompt_tokens", "completion_tokens", "latency_s",
                                                     "cost_usd", "confidence", "answer")}
        records.append({"id": item.id, "prompt": item.prompt, "task": item.task, "gold": item.gold,
                        "results": results})
    outcomes = from_records(records, source=str(out), models=models)
    save(outcomes, out)
    return outcomes
