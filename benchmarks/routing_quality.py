"""Routing quality on RouteLLM's MMLU and GSM8K outcomes (Mixtral-8x7B weak, GPT-4 strong).

5-fold cross-fitting (seed 0), contaminated prompts excluded by their ``eval_prompt``. Prints one line
per router (APGR, CPT(50%), decision latency at batch 1, throughput at batch 64) and writes Markdown,
CSV and PNG under ``--out``. Embeddings are cached under ``~/.cache/smallfirst`` so reruns are fast.

    PYTHONPATH=src python benchmarks/routing_quality.py [--data ../shared/data] [--out bench-out/routing]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from smallfirst.evaluate import summary
from smallfirst.evaluate.crossfit import RouterResult, oracle_results
from smallfirst.evaluate.loaders import load_routellm_gsm8k, load_routellm_mmlu
from smallfirst.evaluate.run import GOAL_ROUTERS, RouterSpec, evaluate, parse_spec
from smallfirst.outcomes import Outcomes
from smallfirst.routing.features import shared_cache

# The goal table's routers, then variants that show what each choice is worth.
SPECS = [
    *GOAL_ROUTERS,
    # Each head picks C from four candidates by 4-fold log loss inside the training folds (nested).
    "logistic-tfidf+static+subject-cvC=logistic:features=tfidf+static+task,Cs=0.1+0.3+1+3",
    "ensemble-static+subject=ensemble",
    "mf-static+subject=mf:features=static+task",
    "gbm-static+subject=gbm:features=static+task,max_iter=100",
    "logistic-hash+subject=logistic:features=hash+task,C=1.0",
]
MINILM = ["logistic-minilm+subject=logistic:features=minilm+task,C=0.3",
          "knn50-minilm=knn:features=minilm,k=50,tasks=no"]


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    ap.add_argument("--data", default=str(shared) if shared.is_dir() else None,
                    help="folder holding routellm/ (default: ../shared/data where it exists, else the installed "
                         "set, `smallfirst data pull routellm`)")
    ap.add_argument("--out", default="bench-out/routing")
    ap.add_argument("--minilm", action="store_true", help="also MiniLM int8 embeddings (slow to encode once)")
    ap.add_argument("--only", nargs="*", help="labels to run")
    ap.add_argument("--seeds", type=int, default=0,
                    help="rerun the best MMLU router under fold seeds 1..N: how far its numbers move with the split")
    args = ap.parse_args()
    out = Path(args.out)
    mmlu, gsm = load_routellm_mmlu(args.data), load_routellm_gsm8k(args.data)
    print(f"MMLU {len(mmlu)} prompts, GSM8K {len(gsm)} prompts after decontamination")
    encoders = ["static"] + (["minilm"] if args.minilm else [])
    for enc in encoders:  # warm the disk cache so the cross-fitted runs never wait on an encoder
        cache = shared_cache(enc, disk=True)
        cache.encode(list(mmlu.prompts) + list(gsm.prompts))
        cache.path = None  # timed batches would otherwise rewrite the whole cache file on every miss
    specs = [parse_spec(s) for s in SPECS + (MINILM if args.minilm else [])]
    if args.only:
        specs = [s for s in specs if s.label in args.only]
    runs = {"mmlu": (mmlu, None, True), "gsm8k": (gsm, None, False), "mmlu-to-gsm8k": (mmlu, gsm, False)}
    by_run = {}
    for name, (train, test, latency) in runs.items():
        results = by_run[name] = evaluate(specs, train, test=test, latency=latency)
        oracles = oracle_results(test if test is not None else train)
        for o in oracles:
            # Worded apart from the router lines: an oracle is a bound, not a router to compare.
            print(f"[{name}] {o.name:<28} area measure {_fmt(o.apgr)}  CPT(50%) {o.cpt50:.1%}", flush=True)
        for r in results:
            lat = "" if r.latency_ms is None else \
                f"  latency {r.latency_ms:.2f} ms  {r.throughput_64:.0f}/s@64"
            print(f"[{name}] {r.name:<28} APGR {_fmt(r.apgr)}  CPT(50%) {r.cpt50:.1%}  "
                  f"APGR-deciles {_fmt(r.apgr_deciles)}{lat}", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        table = results + oracles
        (out / f"{name}.md").write_text(summary.markdown_table(table), encoding="utf-8")
        summary.write_csv(table, out / f"{name}.csv")
        summary.plot_share(results, out / f"{name}-share.png", f"{name}: quality vs strong-call share")
        summary.plot_cost(results, out / f"{name}-cost.png", f"{name}: quality vs cost")
    c = results[0].curve
    print(f"weak {c.weak:.3f} strong {c.strong:.3f}")
    goals(by_run["mmlu"], {s.label for s in specs if not s.use_tasks})
    if args.seeds and by_run["mmlu"]:
        best = max(by_run["mmlu"], key=lambda r: r.apgr)
        seed_spread(next(s for s in specs if s.label == best.name), mmlu, best, args.seeds)


def seed_spread(spec: RouterSpec, outcomes: Outcomes, seed0: RouterResult, n: int) -> None:
    """The best router under other fold assignments: a goal met or missed by less than this spread is
    decided by which prompts share a fold, not by the router."""
    rows = [seed0]
    print(f"\nfold-seed spread of {spec.label} (seed 0: APGR {_fmt(seed0.apgr)}, CPT(50%) {seed0.cpt50:.1%})")
    for seed in range(1, n + 1):
        r = evaluate([spec], outcomes, seed=seed)[0]
        rows.append(r)
        print(f"  seed {seed}: APGR {_fmt(r.apgr)}  CPT(50%) {r.cpt50:.1%}", flush=True)
    a = np.array([r.apgr for r in rows])
    c = np.array([r.cpt50 for r in rows])
    print(f"  seeds 0-{n}: APGR mean {a.mean():.3f} (min {a.min():.3f}, max {a.max():.3f}); "
          f"CPT(50%) mean {c.mean():.1%} (min {c.min():.1%}, max {c.max():.1%})")


def goals(results: list[RouterResult], prompt_only: set[str]) -> None:
    """The issue's goal table, read off the MMLU rows: printed last, so a log's tail always holds it."""
    if not results:
        return
    best = max(results, key=lambda r: r.apgr)
    lat = "n/a" if best.latency_ms is None else f"{best.latency_ms:.2f} ms"
    print("\nMMLU goals (5-fold cross-fitted):")
    print(f"  best APGR, any router: {best.name} APGR {_fmt(best.apgr)} (goal >= 0.72: "
          f"{'met' if best.apgr >= 0.72 else 'NOT met'})")
    print(f"  its CPT(50%): {best.cpt50:.1%} (goal <= 22%: {'met' if best.cpt50 <= 0.22 else 'NOT met'})")
    lat_ok = best.latency_ms is not None and best.latency_ms <= 2
    print(f"  its median decision latency at batch 1: {lat} (goal <= 2 ms: {'met' if lat_ok else 'NOT met'})")
    text = [r for r in results if r.name in prompt_only]
    if text:
        top = max(text, key=lambda r: r.apgr)
        print(f"  best APGR from the prompt alone: {top.name} APGR {_fmt(top.apgr)} (goal >= 0.68: "
              f"{'met' if top.apgr >= 0.68 else 'NOT met'})")
    rnd = [r for r in results if r.name == "random"]
    if rnd:
        print(f"  random: APGR {_fmt(rnd[0].apgr)}, CPT(50%) {rnd[0].cpt50:.1%} (expected about 0.50 and 50%)")


if __name__ == "__main__":
    main()
