"""The four deployments the demo compares, built from measured data only.

- LLM-only and SLM-only name one model each.
- hybrid: the learned router with the best cross-fitted APGR on the shipped outcome data (the local
  ladder answering *training* items, never the demo's own), calibrated to maximum expected profit under
  the economics config.
- hybrid + specialised: classifiers trained for the support-intent and contract-clause niches answer their
  tasks, escalating unsure answers to the hybrid policy.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from smallfirst.config import Settings
from smallfirst.tasks import sources
from smallfirst.tasks.items import TaskItem

if TYPE_CHECKING:
    from smallfirst.economics.workload import RouterFit

#: routers tried for the hybrid; the best cross-fitted APGR wins
CANDIDATES: dict[str, dict] = {
    "logistic(static+task)": {"head": "logistic", "features": ("static", "task")},
    "logistic(task)": {"head": "logistic", "features": ("task",)},
    "knn(static)": {"head": "knn", "features": ("static",)},
}
SPECIALISTS = {"banking77": "banking77-intent", "cuad": "cuad-clause"}
#: task families served by a built-in pipeline tier (nothing to train): sales KPIs by the Northwind text-to-SQL tier
PIPELINES = {"kpi": "northwind-kpi"}


@dataclass(frozen=True)
class HybridChoice:
    """The hybrid deployment's router: the policy to serve, the winning candidate's label, its cross-fitted
    APGR, the max-profit threshold and the large-model share it expects, every candidate's APGR, and its fit
    (threshold curve over the training outcomes under the economics config) for the report's verdict."""

    policy: object
    router: str
    apgr: float
    threshold: float
    expected_share: float
    table: tuple[tuple[str, float], ...]
    fit: RouterFit | None = None


def build_hybrid(outcomes_path: Path | str, learn_from: tuple[str, str], serve: tuple[str, str],
                 econ_config: object, log: Callable[[str], None] = lambda s: None) -> HybridChoice:
    """Fit on the outcomes of ``learn_from`` (weak, strong) and route between the ``serve`` models.
    ``outcomes_path`` is a file or a shipped set's name (``local-ladder``)."""
    from smallfirst.economics.workload import profit_utility, router_fit
    from smallfirst.evaluate.crossfit import cross_fit_scores, summarise
    from smallfirst.evaluate.loaders import load_outcomes
    from smallfirst.routing.calibrate import MaxProfit, calibrate
    from smallfirst.routing.factories import make_router
    from smallfirst.routing.policy import ThresholdPolicy

    outcomes = load_outcomes(outcomes_path).select_models(list(learn_from))
    results = []
    for label, params in CANDIDATES.items():
        scores = cross_fit_scores(lambda p=params: make_router("learned", **p), outcomes, k=5, seed=0)
        apgr = summarise(label, scores, outcomes).apgr
        results.append((apgr, label, params, scores))
        log(f"router {label}: cross-fitted APGR {apgr:.3f} on {len(outcomes)} outcomes")
    apgr, label, params, scores = max(results, key=lambda r: r[0])
    cal = calibrate(scores, outcomes, MaxProfit(profit_utility(econ_config)))
    router = make_router("learned", **params).fit(outcomes)
    policy = ThresholdPolicy(router=router, threshold=cal.threshold, models=serve, name="hybrid",
                             target="max-profit")
    source = Path(outcomes_path).name if isinstance(outcomes_path, Path) else str(outcomes_path)
    fit = router_fit(outcomes, econ_config, scores, router=label, source=source, share=cal.share)
    return HybridChoice(policy, label, apgr, cal.threshold, cal.share, tuple((r[1], r[0]) for r in results), fit)


def _write_jsonl(rows: Sequence[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def _stratified(rows: list[dict], limit: int) -> list[dict]:
    """At most ``limit`` rows, the same number from every label, so no class falls below what training needs."""
    import random

    by_label: dict[str, list[dict]] = {}
    for r in rows:
        by_label.setdefault(r["label"], []).append(r)
    per = max(limit // len(by_label), 8)
    rng = random.Random(0)
    return [r for group in by_label.values() for r in rng.sample(group, min(per, len(group)))]


def _cuad_clauses(data_dir: Path | None) -> list[dict]:
    """The clause specialist's training rows (id, text as the demo asks it, Yes/No label). CUAD's own train split
    has a handful of clauses per type, so 4,000 clauses of its test split train instead; the shipped slice is
    exactly those, less every clause of the shipped workload."""
    if data_dir is None:
        from smallfirst.datasets import bundled

        with gzip.open(bundled("cuad-demo/clauses.jsonl.gz"), "rt", encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    return [{"id": it.id, "text": it.messages[-1]["content"], "label": it.gold}
            for it in sources.cuad(data_dir, 4000, seed=1, split="test")]


def specialist_training_files(data_dir: Path | None, workload: Sequence[TaskItem], out: Path,
                              limit: int | None = None) -> dict[str, Path]:
    """Training data per niche, in the form the demo sends it, with every demo item held out. ``limit``
    keeps a random subset per niche (for quick checks). ``data_dir`` None reads the slices that ship with
    smallfirst (Banking77's train split, the CUAD clause slice); a folder reads the full sets there."""
    held_out = {it.id for it in workload}
    banking_dir = sources.set_dir(data_dir, "banking77", ("train.csv",))
    with (banking_dir / "train.csv").open(newline="", encoding="utf-8") as fh:
        banking = [{"text": r["text"], "label": r["category"]} for r in csv.DictReader(fh)]
    cuad = [{"text": r["text"], "label": r["label"]} for r in _cuad_clauses(data_dir) if r["id"] not in held_out]
    if limit is not None:
        banking, cuad = _stratified(banking, limit), _stratified(cuad, limit)
    return {"banking77": _write_jsonl(banking, out / "banking77-train.jsonl"),
            "cuad": _write_jsonl(cuad, out / "cuad-train.jsonl")}


def build_specialists(settings: Settings, data_dir: Path | None, workload: Sequence[TaskItem], work: Path,
                      log: Callable[[str], None] = lambda s: None, limit: int | None = None) -> dict[str, str]:
    """Train (or reuse) one classifier tier per niche; returns task family -> tier name, with the built-in
    pipeline tiers (:data:`PIPELINES`) of the task families the workload holds."""
    from smallfirst.models.registry import registered_tiers
    from smallfirst.specialize.workflow import specialize

    existing = registered_tiers(settings)
    files = None
    for task, tier in SPECIALISTS.items():
        if tier in existing:
            log(f"specialist {tier}: reusing the trained tier")
            continue
        files = files or specialist_training_files(data_dir, workload, work, limit)
        result = specialize(tier, settings, train=files[task], text_col="text", label_col="label")
        log(f"specialist {tier}: trained on {result.n_train} examples, held-out accuracy "
            f"{result.calibration.holdout_accuracy:.3f}, escalates below p={result.calibration.threshold:.3f}")
    tasks = {it.task.split("/")[0] for it in workload}
    return {**SPECIALISTS, **{t: tier for t, tier in PIPELINES.items() if t in tasks}}
