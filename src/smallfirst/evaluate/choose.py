"""Which router family to serve: the one whose advantage is least likely to be an accident of one split.

``smallfirst eval`` names it under its table, and the gateway's learner refits it on the user's own outcomes.
Each candidate is cross-fitted under several fold seeds; the pick is the highest APGR minus its standard deviation
over the seeds (a router whose figure moves with the split is trusted less), and on a tie the earlier, simpler spec.
The candidates the learner starts from are simple, robust families: the best row of the MMLU table (features tuned
on MMLU) ranked 7th of 10 routers on public routing outcomes it had never seen, where the subject prior and plain
logistic heads held up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from smallfirst.evaluate.crossfit import RouterResult
from smallfirst.evaluate.run import RouterSpec, evaluate, parse_spec
from smallfirst.outcomes import Outcomes

__all__ = ["LEARNING_ROUTERS", "choose_router", "pick", "robust_apgr"]

#: the families the learner chooses among (``smallfirst eval`` spec syntax), simplest first
LEARNING_ROUTERS = (
    "task-prior=rules",
    "logistic-static+task=logistic:features=static+task,C=0.3",
    "logistic-tfidf+static+task=logistic:features=tfidf+static+task,C=0.3",
)


def robust_apgr(result: RouterResult) -> float:
    """APGR minus its standard deviation over fold seeds (APGR itself when measured under one seed)."""
    return result.apgr - (result.apgr_sd or 0.0)


def pick(results: Sequence[RouterResult]) -> RouterResult | None:
    """The result with the highest :func:`robust_apgr` (the first on a tie), ignoring random and oracle rows and
    NaN figures; None when nothing is left."""
    best: RouterResult | None = None
    for r in results:
        if r.name.startswith(("random", "oracle")) or math.isnan(r.apgr):
            continue
        if best is None or robust_apgr(r) > robust_apgr(best) + 1e-12:
            best = r
    return best


def choose_router(outcomes: Outcomes, specs: Sequence[str] = LEARNING_ROUTERS, *, seeds: int = 2, k: int = 5,
                  progress: Callable[[str], None] | None = None) -> tuple[RouterSpec, list[RouterResult]]:
    """Cross-fit every spec under ``seeds`` fold seeds and return the picked spec with every result. Raises
    DataError (from cross-fitting) when the outcomes are too few for ``k`` folds."""
    parsed = [parse_spec(s) for s in specs]
    results = evaluate(parsed, outcomes, k=k, seeds=seeds, progress=progress)
    best = pick(results) or results[0]
    return parsed[[r.name for r in results].index(best.name)], results
