"""Refit, promote with a margin, guard, roll back: the decisions learning takes on its graded outcome rows.

**Refit** (every ``learning.refit_every`` new graded rows, once there are ``learning.min_outcomes``): the rows of the
small and large tier become outcome data; the router family is the one ``smallfirst eval`` would pick on them
(``evaluate.choose``: highest APGR minus its spread over two fold seeds; chosen again each time the rows have
doubled, since choosing cross-fits every candidate twice), ordered by expected gain per extra dollar
(``routing.per_dollar``) when ``learning.per_dollar``; its threshold is calibrated on cross-fitted scores to the
user's target (a quality target with ``learning.confidence``, so few rows leave a wide margin).

**Promote** only when the challenger's cross-fitted metric beats the serving policy's by more than the challenger's
fold-to-fold spread (standard deviation over the ``learning.folds`` folds). Both are measured at the operating point
each would serve: for a quality target, the cost saved against the large tier for everything; for a share or budget
target, the quality reached. The challenger's is out of fold twice over: its scores are cross-fitted, and each fold
is decided by the threshold calibrated on the other folds; its pooled out-of-fold quality must also reach a quality
target. The serving policy is measured with its own threshold on the rows graded since it was fitted (on every row
while those are fewer than 50).

**Guard** (quality targets): over the last ``learning.guard_window`` graded rows served under the promoted version,
d = q_served - fraction * q_large per row; when even the upper confidence bound of mean(d) (one-sided,
``learning.guard_confidence``) is below 0, quality is below the target, and the version is **rolled back** to the
one it replaced (the large tier for everything, at first), in the version history, the log and the metrics. It
looks again each time a tenth of the window is new, not at every row, so repeated looks at the same rows do not
add up to a false alarm.
"""

from __future__ import annotations

import hashlib
import logging
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from smallfirst.config import Settings
from smallfirst.errors import DataError, TargetUnreachableError
from smallfirst.evaluate.choose import LEARNING_ROUTERS, choose_router
from smallfirst.evaluate.crossfit import cross_fit_scores, folds
from smallfirst.evaluate.run import RouterSpec
from smallfirst.outcomes import Outcomes, from_records
from smallfirst.routing.calibrate import Budget, QualityFraction, StrongShare, Target, calibrate, parse_target
from smallfirst.routing.policy import FixedPolicy, Policy, ThresholdPolicy
from smallfirst.store.learning_log import (
    OutcomeRecord,
    VersionRecord,
    add_version,
    graded_outcomes,
    set_version,
    versions,
)

__all__ = ["GuardCheck", "Learner", "Refit", "RowData", "baseline_policy", "outcomes_from_rows"]

log = logging.getLogger("smallfirst.learning")


@dataclass(frozen=True, slots=True)
class Refit:
    """What one refit concluded: the version row written, whether it now serves, why, and its metrics."""

    version_id: int
    promoted: bool
    reason: str
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GuardCheck:
    """One look of the guard: ``n`` rows, their quality as a share of the large tier's (``ratio``), the upper
    confidence bound of mean(q_served - fraction * q_large) (``upper``), and whether it rolled the version back."""

    version_id: int
    n: int
    ratio: float
    upper: float
    rolled_back: bool
    reason: str = ""


def baseline_policy(settings: Settings) -> FixedPolicy:
    """What the learning-managed policy serves before any learned version: the large tier, for every request."""
    large = settings.routing.large
    return FixedPolicy(large, settings.learning.policy,
                       f"no routing policy learned yet: {large}, the large tier, answers every request")


@dataclass(frozen=True)
class RowData:
    """Graded rows as outcome data (the pair, cheapest first), with each row's id. The shadow sampler draws
    uniformly within each phase (before and after a learned policy serves), so the rows are an equal-weight sample
    of the gradable traffic as long as that traffic does not drift."""

    outcomes: Outcomes
    ids: list[int]


def outcomes_from_rows(rows: Sequence[OutcomeRecord], pair: tuple[str, str]) -> RowData | None:
    """The graded rows that hold both models of ``pair`` as :class:`RowData`; None when no row does."""
    records, ids = [], []
    for row in rows:
        res = row.results
        if not all(m in res and res[m].get("quality") is not None for m in pair):
            continue
        records.append({"id": str(row.id), "prompt": row.prompt, "task": row.task or "", "gold": row.gold,
                        "results": {m: {k: res[m].get(k) for k in ("quality", "prompt_tokens", "completion_tokens",
                                                                    "latency_s", "cost_usd")} for m in pair}})
        ids.append(int(row.id or 0))
    if not records:
        return None
    return RowData(from_records(records, source="learned outcome rows", models=list(pair)), ids)


def data_sha256(outcomes: Outcomes) -> str:
    """sha256 over each row's id and qualities: names exactly the data a version learned from."""
    h = hashlib.sha256()
    for i, rid in enumerate(outcomes.ids):
        h.update(f"{rid}:{','.join(f'{q:g}' for q in outcomes.quality[i])}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """What a policy's decisions give on some rows (weighted): the cost saved against the large tier for all of them
    (0..1), the quality as a share of the large tier's, the large tier's share of the rows, and the rows counted."""

    saving: float
    quality_ratio: float
    large_share: float
    n: int


def operating_point(strong: np.ndarray, data: RowData, rows: np.ndarray | None = None) -> OperatingPoint:
    """The point reached by sending ``rows`` (default: all) to the large tier where ``strong`` is True."""
    idx = np.arange(len(data.outcomes)) if rows is None else rows
    q = data.outcomes.quality[idx]
    w = np.ones(len(idx))
    big = np.asarray(strong, bool)[idx] if len(strong) == len(data.outcomes) else np.asarray(strong, bool)
    routed_q = np.where(big, q[:, -1], q[:, 0])
    cost = data.outcomes.cost_usd
    saving = float("nan")
    if cost is not None and not np.isnan(cost[idx][:, [0, -1]]).any():
        c = cost[idx]
        large_cost = float((w * c[:, -1]).sum())
        saving = 1.0 - float((w * np.where(big, c[:, -1], c[:, 0])).sum()) / large_cost if large_cost else 0.0
    ref = float((w * q[:, -1]).sum())
    ratio = float((w * routed_q).sum()) / ref if ref else float("nan")
    return OperatingPoint(saving, ratio, float((w * big).sum() / w.sum()), len(idx))


def _metric(point: OperatingPoint, target: Target, data: RowData, rows: np.ndarray) -> float:
    """The number promotion compares: the cost saved for a quality target, else the quality reached (absolute), or
    -inf where the point breaks a share or budget target."""
    if isinstance(target, QualityFraction):
        return 0.0 if math.isnan(point.saving) else point.saving
    if isinstance(target, StrongShare) and point.large_share > target.max_share + 1e-9:
        return float("-inf")
    cost = data.outcomes.cost_usd
    if isinstance(target, Budget) and cost is not None and not math.isnan(point.saving):
        large = float(np.mean(cost[rows, -1]))
        if (1.0 - point.saving) * large * 1000 > target.usd_per_1000 + 1e-12:
            return float("-inf")
    ref = np.mean(data.outcomes.quality[rows, -1])
    return point.quality_ratio * float(ref)


def nested_points(scores: np.ndarray, data: RowData, target: Target, k: int) -> list[tuple[np.ndarray, float]]:
    """Out-of-fold operating points of cross-fitted ``scores``: for each fold, the threshold calibrated to
    ``target`` on the other folds decides the fold's rows. Returns (fold rows, their decisions as 0/1) per fold, and
    for an unreachable target on the other folds every row of the fold goes to the large tier."""
    out = []
    n = len(data.outcomes)
    for idx in folds(n, k, 0):
        train = np.setdiff1d(np.arange(n), idx)
        try:
            cal = calibrate(scores[train], data.outcomes.subset(train), target)
            decide = scores[idx] >= cal.threshold
        except TargetUnreachableError:
            decide = np.ones(len(idx), bool)
        out.append((idx, decide.astype(float)))
    return out


class Learner:
    """The refit, guard and rollback decisions over one request log (``engine``) for the pair (small, large) of
    ``settings.routing``. Every call is synchronous and may take seconds: run it off the event loop. ``home`` holds
    the saved policy files (``<home>/learning``)."""

    def __init__(self, settings: Settings, engine: Any, *, progress: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.cfg = settings.learning
        self.pair = (settings.routing.small, settings.routing.large)
        self.folder = settings.home / "learning"
        self.progress = progress
        #: the family `smallfirst eval` would pick, chosen again whenever the graded rows have doubled since
        self._family: RouterSpec | None = None
        self._family_n = 0
        self._family_table: dict[str, Any] = {}

    # -- target -----------------------------------------------------------------------------------------

    def target(self, outcomes: Outcomes | None = None) -> Target:
        """The configured target; a quality target carries ``learning.confidence``. Raises DataError for a target
        learning cannot calibrate to (max profit needs an economics config: use `smallfirst route fit`)."""
        t = parse_target(self.cfg.target)
        if isinstance(t, QualityFraction):
            return QualityFraction(t.fraction, self.cfg.confidence)
        return t

    # -- refit and promotion ------------------------------------------------------------------------------

    def graded(self) -> RowData | None:
        """Every graded row of the pair as outcome data, with the rows' ids and weights."""
        return outcomes_from_rows(graded_outcomes(self.engine), self.pair)

    def refit(self, serving: Policy, serving_id: int | None) -> Refit:
        """Fit a challenger on every graded row, compare it with ``serving`` (version ``serving_id``; None for the
        baseline) and promote it or not; the version row is written either way. Raises DataError when the rows
        are too few to cross-fit."""
        data = self.graded()
        if data is None:
            raise DataError("no graded outcome rows hold both tiers yet", hint="wait for shadowed, graded requests")
        outcomes, ids = data.outcomes, data.ids
        k = min(self.cfg.folds, len(outcomes))
        target = self.target(outcomes)
        if self._family is None or len(outcomes) >= 2 * self._family_n:
            specs = self.cfg.routers or list(LEARNING_ROUTERS)
            self._family, table = choose_router(outcomes, specs, seeds=2, k=k, progress=self.progress)
            self._family_n = len(outcomes)
            self._family_table = {r.name: {"apgr": r.apgr, "apgr_sd": r.apgr_sd} for r in table}
        assert self._family is not None
        spec = self._challenger_spec(self._family, outcomes)
        scores = cross_fit_scores(spec.make, outcomes, k=k, use_tasks=spec.use_tasks)
        # the challenger at its own operating point, out of fold: each fold decided by a threshold set on the others
        fold_metrics, pooled = [], np.zeros(len(outcomes))
        for idx, decide in nested_points(scores, data, target, k):
            pooled[idx] = decide
            fold_metrics.append(_metric(operating_point(decide, data, idx), target, data, idx))
        ch_point = operating_point(pooled.astype(bool), data)
        ch_mean = float(np.mean(fold_metrics))
        spread = float(np.std(fold_metrics, ddof=1)) if len(fold_metrics) > 1 else float("inf")
        inc_point, inc_rows = self._serving_point(serving, serving_id, data)
        inc = _metric(inc_point, target, data, inc_rows)
        metrics: dict[str, Any] = {
            "metric": "cost saved at the target" if isinstance(target, QualityFraction) else "quality within target",
            "challenger": ch_mean, "challenger_folds": fold_metrics, "spread": spread, "serving": inc,
            "challenger_quality_ratio": ch_point.quality_ratio, "challenger_large_share": ch_point.large_share,
            "serving_quality_ratio": inc_point.quality_ratio, "serving_rows": inc_point.n,
            "families": self._family_table, "families_chosen_on": self._family_n,
            "n": len(outcomes), "folds": k,
        }
        try:
            cal = calibrate(scores, outcomes, target)
        except TargetUnreachableError as exc:
            return self._record(serving_id, spec, outcomes, ids, target, metrics, None,
                                f"not promoted: the target cannot be met on these outcomes ({exc})")
        strong = float(np.mean(outcomes.quality[:, -1]))
        metrics.update(threshold=cal.threshold, expected_large_share=cal.share,
                       expected_quality_ratio=cal.quality / max(strong, 1e-12))
        if isinstance(target, QualityFraction) and ch_point.quality_ratio < target.fraction:
            return self._record(serving_id, spec, outcomes, ids, target, metrics, None,
                                f"not promoted: out of fold, {spec.label}'s calibrated thresholds kept "
                                f"{ch_point.quality_ratio:.1%} of {self.pair[1]}'s quality, below the target "
                                f"{target.fraction:.0%}")
        if not ch_mean - inc > spread:
            return self._record(serving_id, spec, outcomes, ids, target, metrics, None,
                                f"not promoted: {spec.label} scores {ch_mean:.4f} out of fold against the serving "
                                f"policy's {inc:.4f}, a margin within its fold-to-fold spread {spread:.4f}")
        router = spec.make().fit(outcomes)
        policy = ThresholdPolicy(router, cal.threshold, self.pair, name=self.cfg.policy, target=str(target))
        return self._record(serving_id, spec, outcomes, ids, target, metrics, policy,
                            f"promoted: {spec.label} scores {ch_mean:.4f} out of fold against the serving policy's "
                            f"{inc:.4f}, beyond its fold-to-fold spread {spread:.4f}; threshold {cal.threshold:.4g} "
                            f"sends an expected {cal.share:.1%} to {self.pair[1]}")

    def _challenger_spec(self, base: RouterSpec, outcomes: Outcomes) -> RouterSpec:
        if not self.cfg.per_dollar or outcomes.cost_usd is None or np.isnan(outcomes.cost_usd).any():
            return base
        return RouterSpec(f"{base.label} per dollar", "per-dollar", {"base": base.router, "base_params": base.params},
                          base.use_tasks)

    def _serving_point(self, serving: Policy, serving_id: int | None, data: RowData) -> tuple[OperatingPoint,
                                                                                                np.ndarray]:
        """The serving policy at its own operating point, on the rows it did not learn from (those graded after its
        fit) when there are at least 50 of them, else on every row (then partly in sample: an optimistic incumbent
        makes promotion harder, not easier)."""
        outcomes = data.outcomes
        if isinstance(serving, ThresholdPolicy):
            strong = serving.router.score_batch(list(outcomes.prompts), list(outcomes.tasks)) >= serving.threshold
        elif isinstance(serving, FixedPolicy):
            strong = np.full(len(outcomes), serving.model == self.pair[1])
        else:
            strong = np.array([serving.decide(p, t).model == self.pair[1]
                               for p, t in zip(outcomes.prompts, outcomes.tasks, strict=True)])
        rows = np.arange(len(outcomes))
        if serving_id is not None:
            last = next((v.last_outcome_id for v in versions(self.engine, ids=[serving_id])), 0)
            fresh = np.flatnonzero(np.asarray(data.ids) > last)
            if len(fresh) >= 50:
                rows = fresh
        return operating_point(strong, data, rows), rows

    def _record(self, serving_id: int | None, spec: RouterSpec, outcomes: Outcomes, ids: list[int], target: Target,
                metrics: dict[str, Any], policy: ThresholdPolicy | None, reason: str) -> Refit:
        now = datetime.now(UTC)
        document = self._document(policy) if policy is not None else None
        record = VersionRecord(created_at=now, status="serving" if policy is not None else "rejected",
                               policy=self.cfg.policy, router=spec.label, target=str(target), n_outcomes=len(outcomes),
                               last_outcome_id=max(ids), data_sha256=data_sha256(outcomes), reason=reason,
                               metrics=_jsonable(metrics), replaced=serving_id if policy is not None else None,
                               document=document)
        vid = add_version(self.engine, record)
        if policy is not None and serving_id is not None:
            set_version(self.engine, serving_id, status="retired", ended_at=now)
        (log.info if policy is not None else log.debug)("learning v%d: %s", vid, reason)
        return Refit(vid, policy is not None, reason, metrics)

    def _document(self, policy: ThresholdPolicy) -> str:
        from smallfirst.routing.policy_store import save_policy

        self.folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.folder) as tmp:
            path = save_policy(policy, Path(tmp) / "policy.json")
            return path.read_text(encoding="utf-8")

    # -- guard and rollback -------------------------------------------------------------------------------

    def guard(self, serving_id: int, rows: Sequence[OutcomeRecord] | None = None) -> GuardCheck | None:
        """Look at the last graded rows served under version ``serving_id`` (``rows``, else read from the log): is
        quality below a quality target with the guard's confidence? None when the target is not a quality one, or
        the rows are fewer than a tenth of the window (at least 20). Deciding is all it does; see :meth:`rollback`."""
        target = self.target()
        if not isinstance(target, QualityFraction):
            return None
        if rows is None:
            rows = graded_outcomes(self.engine, policy_version=serving_id, newest_first=True,
                                   limit=self.cfg.guard_window)
        rows = list(rows)[-self.cfg.guard_window:]
        large = self.pair[1]
        kept = [(r.results[r.served_model]["quality"], r.results[large]["quality"])
                for r in rows if r.served_model in r.results and large in r.results
                and r.results[r.served_model].get("quality") is not None
                and r.results[large].get("quality") is not None]
        if len(kept) < max(20, self.cfg.guard_window // 10):
            return None
        served = np.array([k[0] for k in kept], float)
        ref = np.array([k[1] for k in kept], float)
        d = served - target.fraction * ref
        mean = float(d.mean())
        se = float(d.std(ddof=1)) / math.sqrt(len(d))
        upper = mean + NormalDist().inv_cdf(self.cfg.guard_confidence) * se
        ratio = float(served.sum() / ref.sum()) if ref.sum() > 0 else float("nan")
        if upper >= 0:
            return GuardCheck(serving_id, len(d), ratio, upper, False)
        reason = (f"guard: over the last {len(d)} graded requests served by v{serving_id}, quality was {ratio:.1%} "
                  f"of {large}'s, below the target {target.fraction:.0%} with {self.cfg.guard_confidence:.0%} "
                  f"confidence; rolled back")
        return GuardCheck(serving_id, len(d), ratio, upper, True, reason)

    def rollback(self, serving_id: int, reason: str) -> VersionRecord | None:
        """Mark ``serving_id`` rolled back and put the version it replaced back into service. Returns that version,
        or None when it replaced the baseline (the large tier then serves everything). Raises DataError for an
        unknown or non-serving version."""
        found = versions(self.engine, ids=[serving_id])
        if not found or found[0].status != "serving":
            raise DataError(f"policy version {serving_id} is not serving", hint="see `smallfirst learn history`")
        now = datetime.now(UTC)
        set_version(self.engine, serving_id, status="rolled-back", ended_at=now,
                    reason=f"{found[0].reason}; {reason}")
        log.warning("learning v%d: %s", serving_id, reason)
        previous = found[0].replaced
        if previous is None:
            return None
        set_version(self.engine, previous, status="serving", ended_at=None)
        return versions(self.engine, ids=[previous])[0]


def _jsonable(value: Any) -> Any:
    """Metrics as JSON: floats (inf and NaN as None), lists and dicts."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float | np.floating):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(value, np.integer):
        return int(value)
    return value
