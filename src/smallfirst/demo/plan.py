"""Serve the workload under each scenario through the service (the gateway's code path), grade every
answer, and keep a journal so an interrupted run resumes where it stopped."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from smallfirst.config import Settings
from smallfirst.errors import (
    ContextOverflowError,
    InvalidReplyError,
    OverloadedError,
    QueryError,
    QueryRefusedError,
    UpstreamError,
)
from smallfirst.service import RequestContext, Service
from smallfirst.tasks import grading
from smallfirst.tasks.collect import max_tokens
from smallfirst.tasks.items import TaskItem

SCENARIOS = ("LLM-only", "SLM-only", "hybrid", "hybrid+specialised")


@dataclass
class DemoPlan:
    """What one demo run serves and where it writes. Defaults are the files that ship with smallfirst."""

    #: the workload (JSONL, docs/formats.md)
    workload: Path
    #: outcome data the hybrid router learns from: a file or a shipped set's name (``local-ladder``)
    outcomes: Path | str
    #: the economics config (B and P per task type)
    econ_config: Path
    out_dir: Path
    #: the run's folder; with ``per_plan`` the folder that holds one run folder per plan
    run_dir: Path
    #: a folder with the full data sets to train the specialists on; None uses the shipped slices
    data_dir: Path | None = None
    #: items per task family; None serves the whole workload
    mix: dict[str, int] | None = field(
        default_factory=lambda: {"banking77": 30, "cuad": 30, "mmlu": 30, "gsm8k": 6, "kpi": 4})
    #: name the run after its plan (items and models), so another mix or model gets its own run, and the
    #: same plan resumes
    per_plan: bool = False
    #: discard the run's earlier progress first
    fresh: bool = False
    #: requests of the replayed learning curve (the report's learning section; no model compute); 0 leaves it out
    replay: int = 3000


def sample(items: Sequence[TaskItem], mix: dict[str, int] | None) -> list[TaskItem]:
    """The first ``mix[family]`` items of each task family, in workload order (a family the mix does not name
    gets none); None keeps every item."""
    if mix is None:
        return list(items)
    taken: dict[str, int] = {}
    out = []
    for it in items:  # the shipped workload is already shuffled with a fixed seed: take the first n per task
        fam = it.task.split("/")[0]
        if taken.get(fam, 0) < mix.get(fam, 0):
            taken[fam] = taken.get(fam, 0) + 1
            out.append(it)
    return out


class Journal:
    """(scenario, item) pairs already served, with their request id and grade."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[tuple[str, str], dict] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                    self.done[(rec["scenario"], rec["item"])] = rec
                except (ValueError, KeyError):
                    continue

    def add(self, rec: dict) -> None:
        """Record one served (scenario, item) answer and append it to the journal file."""
        self.done[(rec["scenario"], rec["item"])] = rec
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")


#: errors that fail one request (the prompt, the upstream, the query), not the run
REQUEST_FAILURES = (ContextOverflowError, InvalidReplyError, UpstreamError, OverloadedError, QueryRefusedError,
                    QueryError)


def serve_scenario(service: Service, scenario: str, route: str, items: Sequence[TaskItem], journal: Journal,
                   labels: Callable[[str], tuple[str, ...]], tick: Callable[[TaskItem], None]) -> None:
    """Serve every item not yet in ``journal`` under ``scenario`` through ``service`` with model or policy
    ``route`` (temperature 0, the task's token budget), grade it against its gold answer with the task's
    ``labels``, store the grade on the request-log row, and journal it; ``tick`` is called per item, done or
    skipped. A request that fails (:data:`REQUEST_FAILURES`) is journalled with its error and graded 0.0."""
    from smallfirst.store.requests import set_quality

    for item in sorted(items, key=lambda it: it.task.split("/")[0]):
        if (scenario, item.id) in journal.done:
            tick(item)
            continue
        started = time.perf_counter()
        try:
            answer = service.answer(list(item.messages), route,
                                    ctx=RequestContext(source="demo", task=item.task, tag=scenario),
                                    max_tokens=max_tokens(item.task), temperature=0.0)
        except REQUEST_FAILURES as exc:
            # the user got no answer: graded as wrong (0) when gold exists, its error row is in the log already,
            # and the run goes on; a configuration error still stops it
            journal.add({"scenario": scenario, "item": item.id, "task": item.task, "request": None,
                         "model": route, "quality": 0.0 if item.gold is not None else None, "cost": "0",
                         "error": f"{type(exc).__name__}: {exc}", "seconds": round(time.perf_counter() - started, 4)})
            tick(item)
            continue
        quality = None
        if item.gold is not None:
            quality = grading.grade(item.task, answer.completion.text, item.gold, labels(item.task))
            set_quality(service.engine, answer.request_id, quality)
        journal.add({"scenario": scenario, "item": item.id, "task": item.task, "request": answer.request_id,
                     "model": answer.model, "quality": quality, "cost": str(answer.cost.amount),
                     "seconds": round(time.perf_counter() - started, 4)})
        tick(item)


def demo_settings(settings: Settings, run_dir: Path, small: str | None = None, large: str | None = None) -> Settings:
    """The run's own request log, so its report covers exactly this run; ``small`` and ``large`` (when given)
    become the routing tiers, so a pipeline tier such as ``northwind-kpi`` calls the demo's two models."""
    routing = settings.routing.model_copy(update={k: v for k, v in (("small", small), ("large", large)) if v})
    return settings.model_copy(update={"database_url": f"sqlite:///{run_dir / 'requests.db'}", "routing": routing})
