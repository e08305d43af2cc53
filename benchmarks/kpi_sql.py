"""Sales-KPI text-to-SQL on Northwind, graded by execution: Qwen2.5-Coder 0.5B and 1.5B alone and with retrieved
examples, against the KPI pipeline (0.5B with retrieval first, one repair, escalation to 1.5B with retrieval).

    python benchmarks/kpi_sql.py                    # the test split (78 questions in 20 unseen templates)
    python benchmarks/kpi_sql.py --limit 10         # a quick look
    python benchmarks/kpi_sql.py --split train --sample 30 --pipelines 3,3 0,3   # tune on training templates

On the training split a question's own template is left out of retrieval, as the test split's templates are.

Every variant is a ``northwind-kpi`` tier (``smallfirst.kpi.kpitier``) configured differently, run through the same
pipeline, priced by the same ledger (the sum of each model call's price: local models by the hardware profile
times measured seconds), and graded by ``smallfirst.kpi.execgrade``. Questions are interleaved across variants,
so load on the machine falls on all of them alike. Model answers are cached in ``$SMALLFIRST_CACHE/kpi-bench``
with the time they were measured in, so a rerun costs seconds and reports the same figures; ``--fresh`` measures
again. The last line is the acceptance check's:

    kpi: pipeline accuracy A at $C per 1k; qwen2.5-coder-1.5b accuracy B at $D per 1k
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from smallfirst.config import ModelSpec, cache_root, load_settings
from smallfirst.costs.ledger import Ledger
from smallfirst.demo.memo import Memo
from smallfirst.kpi.execgrade import grade_sql
from smallfirst.kpi.fewshot import ExampleIndex
from smallfirst.kpi.kpitier import KpiModel
from smallfirst.kpi.northwind import shipped_database
from smallfirst.kpi.questions import load_questions, northwind_notes, northwind_prompt, training_examples
from smallfirst.kpi.schema_text import describe
from smallfirst.kpi.sqlpipeline import Attempt, KpiAnswer, PipelineConfig, SqlPipeline
from smallfirst.models.completion import Completion, Message
from smallfirst.models.registry import ModelPool

STEP_NAMES = {("first", 0): "small model", ("repair", 0): "small model, repaired",
              ("first", 1): "escalated to large model", ("repair", 1): "large model, repaired"}


@dataclass
class Tally:
    """One variant's per-question results."""

    name: str
    models: tuple[str, ...]
    correct: list[float] = field(default_factory=list)
    costs: list[Decimal] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    escalated: list[bool] = field(default_factory=list)
    #: per question: the grade the pipeline would have had if it had stopped after step s (s = 1..steps)
    by_step: list[list[float]] = field(default_factory=list)
    #: per question: the step its answer came from (0 = unanswered)
    ended_at: list[int] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    def accuracy(self) -> float:
        """Execution accuracy over the questions so far."""
        return sum(self.correct) / len(self.correct)

    def cost_per_1k(self) -> Decimal:
        """Mean ledger cost per question, times 1,000."""
        return sum(self.costs, Decimal(0)) / len(self.costs) * 1000


def memoised_caller(pool: ModelPool, memo: Memo):
    """A pipeline's model calls through ``pool``, each (model, messages, parameters) computed once and its
    Completion, with the seconds it was measured in, reused afterwards.

    Before a model's first measured call it answers one throwaway request with the same system message: a KPI
    tier in service keeps its schema prefix in the model's KV cache, so each question pays only for its own
    tokens, and the first question measured must not pay for everyone's prefix."""
    warm: set[str] = set()

    async def call(model: str, messages: list[Message], params: dict[str, Any]) -> Completion:
        key = hashlib.sha256(json.dumps([model, messages, params], sort_keys=True).encode()).hexdigest()

        async def compute() -> Completion:
            target = await pool.aget(model)
            if model not in warm:
                await target.complete([messages[0], {"role": "user", "content": "Count the orders."}],
                                      max_tokens=1, temperature=0.0)
                warm.add(model)
            return await target.complete(messages, **params)

        return await memo.get_or_compute(key, compute)

    return call


def spread(questions: Sequence[Any], n: int) -> list[Any]:
    """``n`` questions, one per template in turn (templates and questions in a seeded random order)."""
    rng = random.Random(0)
    by_template: dict[str, list[Any]] = {}
    for q in questions:
        by_template.setdefault(q.template, []).append(q)
    groups = list(by_template.values())
    rng.shuffle(groups)
    for g in groups:
        rng.shuffle(g)
    out: list[Any] = []
    while len(out) < n and any(groups):
        for g in groups:
            if g and len(out) < n:
                out.append(g.pop())
    return out


def template_indices(index: ExampleIndex) -> dict[str, ExampleIndex]:
    """For each training template, the retrieval index without that template's questions."""
    by_question = {q.question: q.template for q in load_questions("train")}
    out = {}
    for template in set(by_question.values()):
        kept = [e for e in index.examples if by_question.get(e.question) != template]
        out[template] = ExampleIndex(kept, encoder=index.encoder)
    return out


def answer_after(answer: KpiAnswer, steps: int) -> Attempt | None:
    """The attempt the pipeline would have answered with had it stopped after ``steps`` model calls: the first
    that passed, else the last that ran (the pipeline's own fallback rule), else none."""
    seen = answer.attempts[:steps]
    for a in seen:
        if a.ok:
            return a
    ran = [a for a in seen if a.result is not None]
    return ran[-1] if ran else None


def latency(answer: KpiAnswer) -> float:
    """Seconds a user waits: every model call as measured, plus every query's execution."""
    return sum(a.completion.wall_seconds + (a.result.seconds if a.result is not None else 0.0)
               for a in answer.attempts)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every variant on every question, print the tables and the acceptance line."""
    return asyncio.run(_main(argv))


async def _main(argv: Sequence[str] | None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", default="test", choices=("test", "train"))
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions of the split")
    ap.add_argument("--sample", type=int, default=None, help="N questions drawn across templates (seed 0)")
    ap.add_argument("--pipelines", nargs="+", default=["0,3", "3,3"], metavar="KS,KL",
                    help="pipelines to run: retrieved examples for the small and the large model; the first is "
                         "the one the last line reports")
    ap.add_argument("--link", action="store_true",
                    help="also run every variant with schema linking (each prompt shows only the linked tables)")
    ap.add_argument("--only", nargs="+", default=None, metavar="VARIANT",
                    help="run only these variants (names as in the table; the pipeline and the large model alone "
                         "are always run, for the last line)")
    ap.add_argument("--small", default="qwen2.5-coder-0.5b")
    ap.add_argument("--large", default="qwen2.5-coder-1.5b")
    ap.add_argument("--examples", type=int, default=3, help="retrieved examples per prompt")
    ap.add_argument("--cache", type=Path, default=None, help="where model answers are cached")
    ap.add_argument("--fresh", action="store_true", help="forget cached answers and measure again")
    ap.add_argument("--out", type=Path, default=Path("reports/kpi"), help="per-question results (JSONL) go here")
    args = ap.parse_args(argv)

    settings = load_settings()
    cache = args.cache or cache_root() / "kpi-bench"
    if args.fresh and cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True, exist_ok=True)
    memo = Memo(cache / "answers.jsonl")
    pool = ModelPool(settings)
    call = memoised_caller(pool, memo)
    ledger = Ledger(settings)
    db = shipped_database()
    schema = northwind_prompt()
    questions = load_questions(args.split)
    if args.sample:
        questions = spread(questions, args.sample)
    questions = questions[: args.limit]
    index = ExampleIndex(training_examples())
    held_out = template_indices(index) if args.split == "train" else {}
    small, large, k = args.small, args.large, args.examples
    variants = {
        small: PipelineConfig((small,), repair=False, examples=0),
        f"{small} + retrieval": PipelineConfig((small,), repair=False, examples=k),
        large: PipelineConfig((large,), repair=False, examples=0),
        f"{large} + retrieval": PipelineConfig((large,), repair=False, examples=k),
    }
    for i, spec_text in enumerate(args.pipelines):
        ks, kl = (int(x) for x in spec_text.split(","))
        variants["pipeline" if i == 0 else f"pipeline ({ks}/{kl} examples)"] = PipelineConfig(
            (small, large), repair=True, examples=(ks, kl))
    if args.link:
        variants.update({f"{name}, linked": replace(cfg, link=True) for name, cfg in variants.items()})
    if args.only:
        unknown = set(args.only) - set(variants)
        if unknown:
            ap.error(f"unknown variants {sorted(unknown)}; known: {list(variants)}")
        variants = {n: c for n, c in variants.items() if n in args.only or n in ("pipeline", large)}
    tiers = {name: KpiModel(name, SqlPipeline(db, schema, cfg, call, index if any(cfg.shots) or cfg.link else None,
                                              notes=northwind_notes()), pool)
             for name, cfg in variants.items()}
    tally = {name: Tally(name, cfg.models) for name, cfg in variants.items()}
    spec = ModelSpec(backend="kpi")

    started = time.perf_counter()
    print(f"{len(questions)} {args.split} questions x {len(variants)} variants; answers cached in {cache}",
          file=sys.stderr)
    for i, q in enumerate(questions, 1):
        for name, tier in tiers.items():
            if held_out and tier.pipeline.examples is not None:
                tier.pipeline.examples = held_out[q.template]
            answer = await tier.answer(q.question)
            completion = tier.to_completion(answer)
            cost = ledger.price(name, spec, completion).amount
            t = tally[name]
            grade = grade_sql(answer.sql, q.sql, db)
            t.correct.append(grade)
            t.costs.append(cost)
            t.seconds.append(latency(answer))
            t.calls.append(len(answer.attempts))
            t.escalated.append(answer.escalated)
            steps = len(t.models) * (2 if variants[name].repair else 1)
            t.by_step.append([grade_sql(a.sql, q.sql, db) if (a := answer_after(answer, s)) else 0.0
                              for s in range(1, steps + 1)])
            by = answer.answered_by()
            t.ended_at.append(answer.attempts.index(by) + 1 if by is not None else 0)
            t.records.append({"id": q.id, "template": q.template, "question": q.question, "correct": grade,
                              "sql": answer.sql, "model": answer.model, "calls": len(answer.attempts),
                              "problems": [a.problem for a in answer.attempts], "cost_usd": str(cost),
                              "seconds": round(latency(answer), 3)})
        done = " ".join(f"{n.split(' ')[0][-4:]}{'+r' if 'retrieval' in n else ''}={tally[n].accuracy():.2f}"
                        for n in tiers)
        print(f"[{i}/{len(questions)}] {time.perf_counter() - started:.0f}s {done}", file=sys.stderr, flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / f"kpi-{args.split}.jsonl").open("w", encoding="utf-8") as fh:
        for t in tally.values():
            for rec in t.records:
                fh.write(json.dumps({"variant": t.name, **rec}, ensure_ascii=False) + "\n")

    report(tally, variants, questions, pool, schema, memo, small, large, args)
    pipe, base = tally["pipeline"], tally[large]
    print(f"kpi: pipeline accuracy {pipe.accuracy():.3f} at ${pipe.cost_per_1k():.4f} per 1k; "
          f"{large} accuracy {base.accuracy():.3f} at ${base.cost_per_1k():.4f} per 1k")
    await pool.aclose_sessions()
    pool.close()
    return 0


def report(tally: dict[str, Tally], variants: dict[str, PipelineConfig], questions: Sequence[Any], pool: ModelPool,
           schema: str, memo: Memo, small: str, large: str, args: argparse.Namespace) -> None:
    """The schema's token cost, the variants' table, and each pipeline's steps."""
    n = len(questions)
    print(f"\n{n} {args.split} questions ({len({q.template for q in questions})} templates); "
          f"{memo.hits} model answers reused from the cache")
    bare = describe(shipped_database())
    for model in (small, large):
        inner = pool.backend(model)
        print(f"schema text for {model}: {inner.count_tokens(bare)} tokens; with the KPI notes "
              f"{inner.count_tokens(schema)} tokens ({len(northwind_notes())} characters of notes)")
    print("\n| variant | execution accuracy | answered without escalation | cost / 1,000 questions | "
          "median latency | model calls / question |")
    print("|---|---|---|---|---|---|")
    for name, t in tally.items():
        without = 1 - sum(t.escalated) / n
        print(f"| {name} | {t.accuracy():.3f} ({int(sum(t.correct))}/{n}) | {without:.0%} | "
              f"${t.cost_per_1k():.4f} | {statistics.median(t.seconds):.2f} s | {statistics.mean(t.calls):.2f} |")
    for name in (v for v in tally if v.startswith("pipeline")):
        steps_table(tally[name], variants[name], n, name)
    pipe, base = tally["pipeline"], tally[large]
    ratio = pipe.cost_per_1k() / base.cost_per_1k() if base.cost_per_1k() else Decimal(0)
    print(f"\npipeline against {large} alone: accuracy {pipe.accuracy():.3f} vs {base.accuracy():.3f}, "
          f"cost ratio {ratio:.3f} (goal: accuracy >= and cost < 0.5)")


def steps_table(pipe: Tally, cfg: PipelineConfig, n: int, name: str) -> None:
    """Per step of a pipeline: questions answered there, how many right, and accuracy had it stopped there."""
    print(f"\n| {name}: step | questions answered at this step | of them correct | accuracy if it stopped here |")
    print("|---|---|---|---|")
    steps = len(cfg.models) * (2 if cfg.repair else 1)
    for s in range(1, steps + 1):
        kind = "first" if (not cfg.repair or s % 2 == 1) else "repair"
        rung = (s - 1) // (2 if cfg.repair else 1)
        ended = [i for i, e in enumerate(pipe.ended_at) if e == s]
        right = sum(pipe.correct[i] for i in ended)
        stopped = sum(row[s - 1] for row in pipe.by_step) / n
        print(f"| {s}. {STEP_NAMES.get((kind, rung), f'{kind} {rung}')} | {len(ended)} | {int(right)} | "
              f"{stopped:.3f} |")
    unanswered = sum(1 for e in pipe.ended_at if e == 0)
    print(f"| unanswered | {unanswered} | 0 | |")


if __name__ == "__main__":
    sys.exit(main())
