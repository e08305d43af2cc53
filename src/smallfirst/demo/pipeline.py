"""The whole demo: plan, serve four scenarios, grade, report, verdict."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from smallfirst.config import Settings
from smallfirst.demo.deployments import HybridChoice, build_hybrid, build_specialists
from smallfirst.demo.memo import Memo, MemoModel
from smallfirst.demo.plan import SCENARIOS, DemoPlan, Journal, demo_settings, sample, serve_scenario
from smallfirst.errors import DataError
from smallfirst.models.registry import ModelPool
from smallfirst.routing.specialists import SpecialistPolicy, configured_threshold
from smallfirst.service import Service
from smallfirst.tasks import sources
from smallfirst.tasks.items import TaskItem, load_items

Log = Callable[[str], None]
Tick = Callable[[str, int, int], None]


@dataclass
class DemoResult:
    """A finished demo: the items served, the economics report and its files, the hybrid router chosen, the
    journal of every (scenario, item) answer, the wall time in seconds, the small and large tiers, and how many
    completions were reused from the memo."""

    items: list[TaskItem]
    report: Any
    files: Any
    hybrid: HybridChoice
    journal: Journal
    seconds: float
    small: str
    large: str
    memo_hits: int

    def quality(self, scenario: str) -> float | None:
        """Mean graded quality (0..1) of ``scenario``'s answers that had a gold answer; None if none had."""
        graded = [r["quality"] for (s, _), r in self.journal.done.items() if s == scenario and r["quality"] is not None]
        return sum(graded) / len(graded) if graded else None

    def models_used(self, scenario: str) -> dict[str, int]:
        """How many of ``scenario``'s requests each model answered."""
        counts: dict[str, int] = {}
        for (s, _), r in self.journal.done.items():
            if s == scenario:
                counts[r["model"]] = counts.get(r["model"], 0) + 1
        return counts


def _signature(items: list[TaskItem], small: str, large: str) -> str:
    return hashlib.sha256(json.dumps([[it.id for it in items], small, large]).encode()).hexdigest()[:16]


def run_demo(settings: Settings, plan: DemoPlan, *, small: str, large: str, learn_from: tuple[str, str],
             log: Log = lambda s: None, tick: Tick = lambda scenario, done, total: None,
             specialist_limit: int | None = None) -> DemoResult:
    """Run the main job: sample the workload by ``plan.mix``, build the hybrid router (learning from the
    ``learn_from`` pair's outcomes, serving ``small`` and ``large``) and the specialists, serve every item under
    the four scenarios through the service, grade, and write the economics report to ``plan.out_dir``.

    Progress resumes from ``plan.run_dir`` (``plan.fresh`` discards it). ``log`` gets one line per stage,
    ``tick(scenario, done, total)`` each served item; ``specialist_limit`` trains the specialists on a subset
    (quick checks). Raises DataError when the mix selects nothing or the run folder holds another plan's run."""
    from smallfirst.economics.assumptions import load_config
    from smallfirst.economics.report import write
    from smallfirst.economics.workload import from_log
    from smallfirst.store.requests import list_requests

    started = time.perf_counter()
    items = sample(load_items(plan.workload), plan.mix)
    if not items:
        raise DataError(f"the mix {plan.mix} selects no items from {plan.workload}",
                        hint="name task families the workload has, e.g. banking77=20")
    sig = _signature(items, small, large)
    if plan.per_plan:
        plan = replace(plan, run_dir=plan.run_dir / f"plan-{sig}", per_plan=False)
    if plan.fresh and plan.run_dir.exists():
        shutil.rmtree(plan.run_dir)
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    sig_file = plan.run_dir / "run.json"
    if sig_file.exists() and json.loads(sig_file.read_text()).get("signature") != sig:
        raise DataError(f"{plan.run_dir} holds a run with other items or models",
                        hint="pass --fresh to start over, or --run NAME for a separate run")
    sig_file.write_text(json.dumps({"signature": sig, "small": small, "large": large, "items": len(items)}))
    log(f"run folder {plan.run_dir}")
    econ = load_config(plan.econ_config, hardware=settings.hardware)
    memo = Memo(plan.run_dir / "memo.jsonl")
    s = demo_settings(settings, plan.run_dir, small, large)
    service = Service(s, pool=ModelPool(s, wrap=lambda m: MemoModel(m, memo)))
    journal = Journal(plan.run_dir / "journal.jsonl")
    if journal.done:
        log(f"resuming: {len(journal.done)} of {len(items) * len(SCENARIOS)} requests already served")

    hybrid = build_hybrid(plan.outcomes, learn_from, (small, large), econ, log)
    log(f"hybrid router: {hybrid.router} (APGR {hybrid.apgr:.3f}), max-profit threshold {hybrid.threshold:.3f}, "
        f"expected large-model share {hybrid.expected_share:.0%}")
    specialists = build_specialists(settings, plan.data_dir, items, plan.run_dir / "train", log, specialist_limit)

    def _threshold(name: str) -> float:
        # a classifier tier carries the threshold it was calibrated to; a pipeline tier (KPI) escalates inside
        # itself, so its configured threshold (0 unless set) applies
        cut = getattr(service.pool.backend(name), "threshold", None)
        return float(cut) if cut is not None else configured_threshold(name, s)

    service.policies["hybrid"] = hybrid.policy
    service.policies["hybrid+specialised"] = SpecialistPolicy("hybrid+specialised", specialists, hybrid.policy,
                                                               _threshold)
    routes = {"LLM-only": large, "SLM-only": small, "hybrid": "hybrid", "hybrid+specialised": "hybrid+specialised"}
    labels = lambda task: sources.labels_for(task, plan.data_dir)  # noqa: E731
    for scenario in SCENARIOS:
        done = 0

        def _advance(_item: TaskItem, scenario: str = scenario) -> None:
            nonlocal done
            done += 1
            tick(scenario, done, len(items))

        serve_scenario(service, scenario, routes[scenario], items, journal, labels, _advance)
    records = list_requests(service.engine, source="demo")
    report = from_log(records, econ, title="smallfirst demo: is small-model-first profitable for this workload?",
                      notes=[f"{len(items)} workload items per scenario from {plan.workload.name}; "
                             f"small tier {small}, large tier {large}, specialists for "
                             f"{', '.join(specialists)}; hybrid router {hybrid.router}.",
                             "Each (model, prompt) pair was computed once and its measured time, tokens and cost "
                             "reused by every scenario that sent that prompt to that model."],
                      routers={"hybrid": hybrid.fit} if hybrid.fit is not None else None)
    service.close()
    from smallfirst.demo.replayed_learning import learning_section

    sections = (learning_section(plan.run_dir, plan.out_dir, plan.replay, log),) if plan.replay else ()
    files = write(report, plan.out_dir, sections=sections)
    return DemoResult(items=items, report=report, files=files, hybrid=hybrid, journal=journal,
                      seconds=time.perf_counter() - started, small=small, large=large, memo_hits=memo.hits)
