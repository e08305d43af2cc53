"""The demo's section on learning from traffic: the replayed learning curve, with no model compute.

The gateway learns on the 3,000 RouteLLM requests that ship with smallfirst (``datasets/bundled/routellm-replay``),
GPT-4-1106 and Mixtral-8x7B replayed at list price, half of the requests carrying gold, target 95% of always-large's
quality, the settings of ``learning.curve.REPLAY_LEARNING`` with the first promotion after 750 graded outcomes (the
stream is shorter than the benchmark's). The result is kept in the run folder, so a resumed demo does not replay it
again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from smallfirst.economics.report import Section

__all__ = ["DEMO_REPLAY", "learning_section"]

#: the demo's replay: gold on half of the requests, the first promotion after 750 graded outcomes
DEMO_REPLAY = {"gold_share": 0.5, "seed": 0, "min_outcomes": 750}


def _run(run_dir: Path, out_dir: Path, n: int, log: Callable[[str], None]) -> dict:
    from smallfirst.datasets import bundled
    from smallfirst.learning.curve import REPLAY_LEARNING, CurveRun, plot, run_curve

    run = CurveRun(file=bundled("routellm-replay/outcomes.jsonl.gz"), n=n,
                   gold_share=DEMO_REPLAY["gold_share"], seed=DEMO_REPLAY["seed"],
                   learning={**REPLAY_LEARNING, "min_outcomes": DEMO_REPLAY["min_outcomes"]})
    log(f"replaying {run.n:,} recorded requests through the learning gateway (no model compute)")
    curve = run_curve(run, run_dir / "learning-replay")
    png = plot(curve, out_dir / "learning_curve.png", f"learning from traffic: {len(curve):,} replayed requests")
    low, start = curve.min_window_quality(500)
    summary = {
        "headline": curve.headline(), "rows": curve.rows((500, 1000, 2000, 3000)), "png": png.name,
        "events": curve.events, "seconds": curve.seconds, "n": len(curve), "min_window": low,
        "min_window_start": start + 1,
    }
    (run_dir / "learning-replay.json").write_text(json.dumps(summary), encoding="utf-8")
    return summary


def learning_section(run_dir: Path, out_dir: Path, n: int = 3000,
                     log: Callable[[str], None] = lambda s: None) -> Section:
    """The report's section on ``n`` replayed requests (replayed now, or read back from ``run_dir``); its plot is
    written to ``out_dir``."""
    from smallfirst.learning.curve import LearningCurve

    cached = run_dir / "learning-replay.json"
    summary = json.loads(cached.read_text(encoding="utf-8")) if cached.exists() else None
    if summary is None or summary["n"] != n or not (out_dir / summary["png"]).exists():
        summary = _run(run_dir, out_dir, n, log)
    events = "; ".join(f"at request {i:,}: {text}" for i, text in summary["events"]) or "no promotion"
    return Section(
        title="Learning from traffic (replayed)",
        paragraphs=(
            "From the first request the gateway serves the large model; in the background it shadows requests with "
            "the small model, grades both answers against gold where the request carries it, refits a router and "
            "promotes it only when it beats the serving policy by more than its fold-to-fold spread; a guard rolls "
            "back a policy whose quality falls below the target. Here on "
            f"{summary['n']:,} recorded requests (RouteLLM's MMLU and GSM8K: GPT-4-1106 as the large model, "
            "Mixtral-8x7B as the small one, replayed at list price), gold on half of them, target 95% of "
            "always-large's quality.",
            summary["headline"].removeprefix("learning: ").capitalize() + ".",
            f"Policy changes: {events}.",
            "The ceiling is the same router family fitted offline on all the requests (cross-fitted). "
            "Method and the 5,000-request benchmark: docs/learning-curve.md.",
        ),
        head=LearningCurve.HEAD,
        rows=tuple(tuple(r) for r in summary["rows"]),
        images=(("the replayed learning curve", out_dir / summary["png"]),),
    )
