"""K-fold cross-fitting: every prompt is scored by a router that never saw it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from smallfirst import tradeoff
from smallfirst.errors import DataError
from smallfirst.outcomes import Outcomes
from smallfirst.routing.router import Router

__all__ = ["cross_fit_scores", "cross_fit_quality", "transfer_scores", "RouterResult", "summarise", "folds",
           "interleaved_folds", "oracle_results"]


def folds(n: int, k: int = 5, seed: int = 0) -> list[np.ndarray]:
    """``k`` disjoint index arrays covering ``range(n)``: a ``numpy.random.default_rng(seed)`` permutation cut
    by ``np.array_split`` (sizes differ by at most one). Raises DataError when k < 2 or n < k."""
    if k < 2 or n < k:
        raise DataError(f"cannot cut {n} prompts into {k} folds", hint="use fewer folds or more data")
    return np.array_split(np.random.default_rng(seed).permutation(n), k)


def interleaved_folds(n: int, k: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Test folds dealt from a seeded permutation like cards (fold j takes positions j, j + k, ...): at most
    ``k`` folds, one per prompt when ``n < k``. DataError for fewer than two prompts."""
    if n < 2 or k < 2:
        raise DataError(f"cannot cross-fit {n} prompts in {k} folds", hint="use more data, or fit on all of it")
    order = np.random.default_rng(seed).permutation(n)
    return [order[j::k] for j in range(min(k, n))]


def cross_fit_quality(make: Callable[[], Router], outcomes: Outcomes, k: int = 5, seed: int = 0,
                      splits: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """Held-out predicted quality, shape (n_prompts, n_models), from a router with ``predict_quality``; each
    fold's router never saw its prompts. ``splits``: the test folds (default ``folds(n, k, seed)``)."""
    out = np.zeros(outcomes.quality.shape)
    for test in (folds(len(outcomes), k, seed) if splits is None else splits):
        train = np.setdiff1d(np.arange(len(outcomes)), test)
        router = make().fit(outcomes.subset(train))
        out[test] = router.predict_quality(  # type: ignore[attr-defined]
            [outcomes.prompts[j] for j in test], [outcomes.tasks[j] for j in test])
    return out


def cross_fit_scores(make: Callable[[], Router], outcomes: Outcomes, k: int = 5, seed: int = 0,
                     use_tasks: bool = True, on_fold: Callable[[int], None] | None = None) -> np.ndarray:
    """Held-out scores for every prompt; ``make`` builds a fresh router per fold."""
    scores = np.zeros(len(outcomes))
    for i, test in enumerate(folds(len(outcomes), k, seed)):
        train = np.setdiff1d(np.arange(len(outcomes)), test)
        router = make().fit(outcomes.subset(train))
        tasks = [outcomes.tasks[j] for j in test] if use_tasks else None
        scores[test] = router.score_batch([outcomes.prompts[j] for j in test], tasks)
        if on_fold:
            on_fold(i)
    return scores


def transfer_scores(make: Callable[[], Router], train: Outcomes, test: Outcomes,
                    use_tasks: bool = True) -> np.ndarray:
    """Fit on one data set, score another (e.g. MMLU to GSM8K)."""
    router = make().fit(train)
    return router.score_batch(list(test.prompts), list(test.tasks) if use_tasks else None)


@dataclass(frozen=True)
class RouterResult:
    """One router's row of the evaluation table, read off its cross-fitted curve (``smallfirst.tradeoff``).

    ``apgr`` on the exact curve, ``apgr_deciles`` as RouteLLM samples it; ``cpt50``/``cpt80`` strong-call shares
    (0..1) recovering 50%/80% of the gap; ``cost_reduction_95`` 1 - cost/all-strong cost at 95% of the strong
    model's quality; ``aiq`` RouterBench's AIQ over cost (or over share when the data carry no cost);
    ``latency_ms`` one decision at batch 1 and ``throughput_64`` decisions per second at batch 64, when
    measured."""

    name: str
    apgr: float
    apgr_deciles: float
    cpt50: float
    cpt80: float
    cost_reduction_95: float
    aiq: float | None
    curve: tradeoff.Curve
    latency_ms: float | None = None
    throughput_64: float | None = None
    #: standard deviation of APGR and CPT(50%) over the fold seeds in ``seeds`` (None: one seed)
    apgr_sd: float | None = None
    cpt50_sd: float | None = None
    seeds: int = 1


def summarise(name: str, scores: np.ndarray, outcomes: Outcomes, *, cascade: bool = False) -> RouterResult:
    """``cascade``: every strong call follows a small attempt, so it costs both models."""
    q = outcomes.quality
    wc = sc = None
    if outcomes.cost_usd is not None and not np.isnan(outcomes.cost_usd[:, [0, -1]]).any():
        wc, sc = outcomes.cost_usd[:, 0], outcomes.cost_usd[:, -1]
        if cascade:
            sc = sc + wc
    c = tradeoff.curve(scores, q[:, 0], q[:, -1], weak_cost=wc, strong_cost=sc)
    return _from_curve(name, c, tradeoff.apgr_deciles(scores, q[:, 0], q[:, -1]))


def _from_curve(name: str, c: tradeoff.Curve, apgr_deciles: float = float("nan")) -> RouterResult:
    aiq = tradeoff.aiq(c.cost, c.quality) if c.cost is not None else tradeoff.aiq(c.share, c.quality, 0.0, 1.0)
    return RouterResult(name=name, apgr=tradeoff.apgr(c), apgr_deciles=apgr_deciles, cpt50=tradeoff.cpt(c, 50),
                        cpt80=tradeoff.cpt(c, 80), cost_reduction_95=tradeoff.cost_reduction_at(c, 0.95),
                        aiq=aiq, curve=c)


def oracle_results(outcomes: Outcomes) -> list[RouterResult]:
    """The two oracle figures in use: the upper bound (RouteLLM's ``get_optimal_accuracy``, which never
    makes a useless strong call) and a router scored by the true binary strong-wins label, which must
    spend every call it is given and so ends at the strong model (the 1.12 quoted for MMLU)."""
    q = outcomes.quality
    return [_from_curve("oracle (upper bound)", tradeoff.oracle_curve(q[:, 0], q[:, -1])),
            _from_curve("oracle label router", tradeoff.oracle_label_curve(q[:, 0], q[:, -1]))]
