"""Run named router specs over outcome data: cross-fitted or train-on-one/test-on-another, with timings.

A spec reads ``label=router:key=value,key=value``; list values join with ``+``; ``tasks=no`` hides
task labels (the prompt-text-only setting). Example: ``lr=logistic:features=static+task,C=0.3``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from smallfirst.errors import ConfigError
from smallfirst.evaluate.crossfit import RouterResult, cross_fit_scores, summarise, transfer_scores
from smallfirst.outcomes import Outcomes
from smallfirst.routing.cascade import escalation_scores
from smallfirst.routing.factories import make_router
from smallfirst.routing.router import Router

__all__ = ["RouterSpec", "parse_spec", "evaluate", "measure_latency", "GOAL_ROUTERS"]

#: The routers of the README's routing table: what `smallfirst eval` runs by default, and the first rows of
#: benchmarks/routing_quality.py. The best row chooses each head's C inside every training fold (nested), so it
#: alone takes most of the run (about 7 minutes on two cores).
GOAL_ROUTERS = [
    "random=random",
    "subject-prior=rules",
    "logistic-tfidf+static+subject=logistic:features=tfidf+static+task,C=0.3",
    "logistic-crossed+options-cvC=logistic:features=tfidf+static+task+static-by-task+options,Cs=0.1+0.3+1+3",
    "logistic-static+subject=logistic:features=static+task,C=0.3",
    "logistic-tfidf+static=logistic:features=tfidf+static,C=0.3,tasks=no",
    "logistic-static=logistic:features=static,C=0.3,tasks=no",
    "knn50-static=knn:features=static,k=50,tasks=no",
]

#: Each latency run gets its own suffix: routers sharing an embedding cache must not reuse an earlier
#: router's freshly encoded prompts, or every router after the first would time cache hits.
_RUN = itertools.count()


@dataclass(frozen=True)
class RouterSpec:
    """A named router configuration to evaluate: ``router`` is a registered router name, ``params`` its keyword
    arguments, ``use_tasks`` whether it may read task labels. Raises ConfigError for a cascade given parameters
    other than ``signal=logprob``."""

    label: str
    router: str
    params: dict[str, Any] = field(default_factory=dict)
    use_tasks: bool = True

    def __post_init__(self) -> None:
        if self.cascade and (set(self.params) - {"signal"} or self.params.get("signal", "logprob") != "logprob"):
            raise ConfigError(f"router spec {self.label!r}: over outcome data a cascade takes no parameters but "
                              "signal=logprob", hint="it escalates on the confidence the outcome file records")

    @property
    def cascade(self) -> bool:
        """``cascade`` is no fitted router: over outcome data it reads the small model's recorded confidence."""
        return self.router == "cascade"

    def make(self) -> Router:
        """A fresh, unfitted router (one per fold). Raises ConfigError for an unknown router or parameter."""
        return make_router(self.router, **self.params)


def _value(v: str) -> Any:
    if "+" in v:
        return [_value(x) for x in v.split("+")]
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(v.lower(), v)


def parse_spec(text: str) -> RouterSpec:
    """Parse ``label=router:key=value,...`` (label optional; ``a+b`` is a list; numbers and true/false are cast;
    ``tasks=no`` clears ``use_tasks``). Raises ConfigError for a part that is not key=value."""
    label, _, rest = text.partition("=") if "=" in text.split(":")[0] else ("", "", text)
    name, _, args = rest.partition(":")
    params: dict[str, Any] = {}
    use_tasks = True
    for kv in filter(None, args.split(",")):
        k, sep, v = kv.partition("=")
        if not sep:
            raise ConfigError(f"router spec {text!r}: {kv!r} is not key=value",
                              hint="e.g. lr=logistic:features=static+task,C=0.3")
        if k == "tasks":
            use_tasks = v.lower() not in ("no", "false", "0")
        else:
            params[k] = _value(v)
    if "features" in params and isinstance(params["features"], str):
        params["features"] = [params["features"]]
    return RouterSpec(label or name, name, params, use_tasks)


def measure_latency(router: Router, prompts: list[str], tasks: list[str] | None, n: int = 200,
                    batch: int = 64) -> tuple[float, float]:
    """(median ms per decision at batch size 1, prompts per second at ``batch``), featurisation included.
    Prompts are fresh strings so no embedding cache can answer."""
    rng = np.random.default_rng(0)
    run = next(_RUN)
    idx = rng.choice(len(prompts), size=min(n, len(prompts)), replace=False)
    times = []
    for i in idx:
        p = prompts[i] + f" #{run}.{i}"
        t0 = time.perf_counter()
        router.score(p, tasks[i] if tasks else None)
        times.append(time.perf_counter() - t0)
    bidx = rng.choice(len(prompts), size=batch, replace=len(prompts) < batch)
    bp = [prompts[i] + f" ##{run}.{j}" for j, i in enumerate(bidx)]
    bt = [tasks[i] for i in bidx] if tasks else None
    t0 = time.perf_counter()
    router.score_batch(bp, bt)
    return float(np.median(times) * 1000), batch / (time.perf_counter() - t0)


def evaluate(specs: list[RouterSpec], outcomes: Outcomes, *, test: Outcomes | None = None, k: int = 5,
             seed: int = 0, latency: bool = False, seeds: int = 1,
             progress: Callable[[str], None] | None = None) -> list[RouterResult]:
    """Cross-fitted on ``outcomes``, or fitted on ``outcomes`` and scored on ``test``. With ``seeds`` > 1 each
    cross-fitted router runs again under fold seeds ``seed + 1`` ... and its result carries the standard deviation
    of APGR and CPT(50%) over them (the figure itself stays the ``seed`` run's)."""
    results = []
    for spec in specs:
        if progress:
            progress(spec.label)
        target = test if test is not None else outcomes
        if spec.cascade:
            # Nothing to fit, so nothing to cross-fit; its decision waits on the small answer, not a featuriser.
            results.append(summarise(spec.label, escalation_scores(target), target, cascade=True))
            continue
        if test is None:
            scores = cross_fit_scores(spec.make, outcomes, k=k, seed=seed, use_tasks=spec.use_tasks)
        else:
            scores = transfer_scores(spec.make, outcomes, test, use_tasks=spec.use_tasks)
        res = summarise(spec.label, scores, target)
        if test is None and seeds > 1:
            others = [summarise(spec.label, cross_fit_scores(spec.make, outcomes, k=k, seed=seed + i,
                                                             use_tasks=spec.use_tasks), target)
                      for i in range(1, seeds)]
            runs = [res, *others]
            res = replace(res, apgr_sd=float(np.std([r.apgr for r in runs], ddof=1)),
                          cpt50_sd=float(np.nanstd([r.cpt50 for r in runs], ddof=1)), seeds=seeds)
        if latency:
            router = spec.make().fit(outcomes)
            tasks = list(target.tasks) if spec.use_tasks else None
            ms, tput = measure_latency(router, list(target.prompts), tasks)
            res = replace(res, latency_ms=ms, throughput_64=tput)
        results.append(res)
    return results
