"""Which confidence signal tells the small model's right answers from its wrong ones, and how far the large model
agrees with gold as a judge, on the demo workload with the local tiers.

    nice -n 10 python benchmarks/confidence_signals.py            # resumes from reports/confidence-signals/

Per item of a sample of the shipped demo workload (``--mix``), through the service (the gateway's path):

- the small tier's greedy answer with token log-probabilities and the top-5 alternatives of each step: mean and
  minimum token log-probability, top-2 margin, entropy (``smallfirst.routing.confidence``);
- ``--samples`` more answers at temperature 0.7 (seeds 1..k): self-consistency, by normalised text (what the served
  cascade compares) and by the extracted final answer;
- P(True): the small tier asked whether its own answer is correct;
- for Banking77 and CUAD, the specialist's calibrated probability of the label the small tier gave (the demo's
  specialists, trained here on ``--specialist-limit`` examples per niche);
- a small verifier (logistic regression on the log-probability statistics, lengths and task), cross-fitted;
- the large tier's greedy answer, and the large tier as judge of both answers (``smallfirst.learning.judge``).

The small tier's side of every item runs first (the AUROC table needs nothing else), then the large tier's (the
judge). Prints the AUROC table (per task, ± Hanley-McNeil standard error) and the judge's agreement with gold, and
writes both to ``--out``. Every finished side of an item is journalled, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from smallfirst.config import load_settings
from smallfirst.datasets import bundled
from smallfirst.demo.deployments import build_specialists
from smallfirst.demo.plan import sample
from smallfirst.evaluate.separation import cross_fitted_verifier, markdown, separation_table
from smallfirst.learning.judge import JudgeError, judge_messages, parse_verdicts
from smallfirst.routing.confidence import (
    TOKEN_SIGNALS,
    agreement,
    p_true,
    self_check_messages,
    token_signal,
    verifier_features,
)
from smallfirst.service import RequestContext, Service
from smallfirst.tasks import grading, sources
from smallfirst.tasks.collect import max_tokens
from smallfirst.tasks.items import TaskItem, load_items

SPECIALISTS = {"banking77": "banking77-intent", "cuad": "cuad-clause"}


def _mix(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in (p.split("=") for p in text.split(","))}


def measure_small(service: Service, item: TaskItem, small: str, k: int) -> dict:
    """The small tier's side of one item: its answer and every confidence signal, from real model calls."""
    task, msgs = item.task, list(item.messages)
    labels = sources.labels_for(task)
    ctx = RequestContext(source="benchmark", task=task)
    budget = max_tokens(task)
    first = service.answer(msgs, small, ctx=ctx, max_tokens=budget, temperature=0.0, logprobs=True,
                           top_logprobs=5).completion
    samples = [service.answer(msgs, small, ctx=ctx, max_tokens=budget, temperature=0.7, seed=i + 1).completion.text
               for i in range(k)]
    check = service.answer(self_check_messages(msgs, first.text), small, ctx=ctx, max_tokens=1, temperature=0.0,
                           logprobs=True, top_logprobs=5).completion
    answer = grading.extract(task, first.text, labels)
    extracted = [grading.extract(task, s, labels) for s in samples]
    rec = {
        "id": item.id, "task": task, "gold": item.gold,
        "small": {"text": first.text, "quality": grading.grade(task, first.text, item.gold or "", labels),
                  **{s: token_signal(first, s) for s in TOKEN_SIGNALS},
                  "features": verifier_features(item.prompt, first)},
        "consistency": agreement(first.text, samples),
        "consistency-answer": (sum(a == answer for a in extracted) / k) if answer is not None else 0.0,
        "ptrue": p_true(check),
    }
    family = task.split("/")[0]
    if family in SPECIALISTS and answer is not None:
        clf = service.pool.backend(SPECIALISTS[family]).classifier  # type: ignore[union-attr]
        proba = clf.predict_proba([item.prompt])[0]
        rec["specialist"] = float(proba[clf.classes.index(answer)]) if answer in clf.classes else 0.0
    return rec


def measure_large(service: Service, item: TaskItem, small_text: str, large: str) -> dict:
    """The large tier's side: its answer, and its verdicts as judge of both answers."""
    task, msgs = item.task, list(item.messages)
    labels = sources.labels_for(task)
    ctx = RequestContext(source="benchmark", task=task)
    big = service.answer(msgs, large, ctx=ctx, max_tokens=max_tokens(task), temperature=0.0).completion
    verdict = service.answer(judge_messages(msgs, [small_text, big.text]), large, ctx=ctx, max_tokens=16,
                             temperature=0.0).completion.text
    try:
        judged: list[float] | None = list(parse_verdicts(verdict, 2))
    except JudgeError:
        judged = None
    return {"large": {"text": big.text, "quality": grading.grade(task, big.text, item.gold or "", labels)},
            "judge": {"reply": verdict, "verdicts": judged}}


def report(records: list[dict], k: int) -> str:
    right = [r["small"]["quality"] == 1.0 for r in records]
    tasks = [r["task"].split("/")[0] for r in records]
    signals: dict[str, list[float | None]] = {
        "mean token log-probability (`logprob`)": [r["small"]["logprob"] for r in records],
        "minimum token log-probability": [r["small"]["min-logprob"] for r in records],
        "top-2 margin": [r["small"]["margin"] for r in records],
        "entropy (negated)": [r["small"]["entropy"] for r in records],
        f"self-consistency, text ({k} samples; `consistency`)": [r["consistency"] for r in records],
        f"self-consistency, final answer ({k} samples)": [r["consistency-answer"] for r in records],
        "P(True) self-check": [r["ptrue"] for r in records],
        "specialist's probability of the answer": [r.get("specialist") for r in records],
    }
    feats = np.array([r["small"]["features"] for r in records])
    signals["verifier (cross-fitted logistic)"] = list(cross_fitted_verifier(feats, right, tasks))
    rows = separation_table(signals, right, tasks)
    out = [f"AUROC for \"the small tier's answer is right\" ({len(records)} items; bold: above 0.5 by more than two "
           "standard errors)", "", markdown(rows)]
    # the judge against gold, per answer
    judged = [r for r in records if "judge" in r]
    pairs = [(verdict, r[side]["quality"]) for r in judged if r["judge"]["verdicts"] is not None
             for verdict, side in zip(r["judge"]["verdicts"], ("small", "large"), strict=True)]
    off = sum(r["judge"]["verdicts"] is None for r in judged)
    out.append(f"Judge (the large tier, rubric in smallfirst.learning.judge), on the {len(judged)} items whose large "
               f"side was measured: {len(judged) - off} replies on the rubric ({off} off it, kept ungraded)")
    if pairs:
        j = np.array([p[0] for p in pairs])
        g = np.array([p[1] for p in pairs])
        agree = float((j == g).mean())
        pe = float(j.mean() * g.mean() + (1 - j.mean()) * (1 - g.mean()))
        kappa = (agree - pe) / (1 - pe) if pe < 1 else float("nan")
        out.append(f"agreement with gold over {len(pairs)} graded answers: {agree:.1%} (Cohen's kappa {kappa:.3f}); "
                   f"judge says correct {j.mean():.1%}, gold says correct {g.mean():.1%}")
        for fam in sorted(set(tasks)):
            fam_pairs = [(p0, g0) for r in judged if r["judge"]["verdicts"] is not None
                         and r["task"].split("/")[0] == fam
                         for p0, g0 in zip(r["judge"]["verdicts"], (r["small"]["quality"], r["large"]["quality"]),
                                           strict=True)]
            if fam_pairs:
                fa = np.mean([a == b for a, b in fam_pairs])
                out.append(f"  {fam}: {fa:.1%} of {len(fam_pairs)}")
    qs = np.array([r["small"]["quality"] for r in records])
    ql = np.array([r["large"]["quality"] for r in judged])
    out.append(f"small tier right on {qs.mean():.1%} of {len(qs)}"
               + (f", large tier on {ql.mean():.1%} of {len(ql)}" if len(ql) else ""))
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mix", default="banking77=30,cuad=30,mmlu=30,gsm8k=12")
    ap.add_argument("--small", default="qwen2.5-coder-0.5b")
    ap.add_argument("--large", default="qwen2.5-coder-1.5b")
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--specialist-limit", type=int, default=1500)
    ap.add_argument("--out", type=Path, default=Path("reports/confidence-signals"))
    ap.add_argument("--report-only", action="store_true", help="Tabulate the journal without running models.")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    journal = args.out / "journal.jsonl"
    done = {}
    if journal.exists():
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[rec["id"]] = {**done.get(rec["id"], {}), **rec}  # a later line completes an item
    items = sample(load_items(bundled("workload/mixed.jsonl")), _mix(args.mix))
    if not args.report_only:
        settings = load_settings(home=str(args.out / "home"), database_url=f"sqlite:///{args.out / 'log.db'}")
        service = Service(settings)
        build_specialists(settings, None, load_items(bundled("workload/mixed.jsonl")), args.out / "train",
                          lambda s: print(s, file=sys.stderr), args.specialist_limit)
        started = time.perf_counter()
        with journal.open("a", encoding="utf-8") as fh:
            # the small tier's side of every item first (the confidence table), then the large tier's (the judge)
            for stage in ("small", "large"):
                for n, item in enumerate(items, 1):
                    rec = done.get(item.id)
                    if stage == "small" and rec is None:
                        rec = measure_small(service, item, args.small, args.samples)
                    elif stage == "large" and rec is not None and "judge" not in rec:
                        rec = {**rec, **measure_large(service, item, rec["small"]["text"], args.large)}
                    else:
                        continue
                    fh.write(json.dumps(rec) + "\n")
                    fh.flush()
                    done[item.id] = rec
                    print(f"{stage} {n}/{len(items)} {item.id} small={rec['small']['quality']:.0f} "
                          f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        service.close()
    records = [done[it.id] for it in items if it.id in done]
    text = report(records, args.samples)
    (args.out / "report.md").write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
