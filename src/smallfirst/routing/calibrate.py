"""Turn a target into a threshold, reading the same curve that evaluation draws (``smallfirst.tradeoff``).

Targets: ``StrongShare(max_share)``, ``QualityFraction(fraction)`` of the strong model's quality,
``Budget(usd_per_1000)`` and ``MaxProfit(utility)``. ``utility(outcomes)`` returns an array (n_prompts,
n_models) of expected benefit minus cost of answering each prompt with each model; the economics
package supplies it, and calibration picks the threshold with the largest total.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from smallfirst import tradeoff
from smallfirst.errors import DataError, TargetUnreachableError
from smallfirst.outcomes import Outcomes

__all__ = ["StrongShare", "QualityFraction", "Budget", "MaxProfit", "Target", "Calibration", "calibrate",
           "parse_target"]


@dataclass(frozen=True)
class StrongShare:
    """Calibration target: send at most ``max_share`` (0..1) of requests to the strong model."""

    max_share: float

    def __str__(self) -> str:
        return f"share={self.max_share:g}"


@dataclass(frozen=True)
class QualityFraction:
    """Calibration target: keep at least ``fraction`` (0..1) of the strong model's mean quality, as cheaply as
    possible. With ``confidence`` > 0 the threshold must meet it with that one-sided confidence over the prompts
    calibrated on, not just on average: the lower confidence bound of mean(q_routed - fraction * q_strong) (normal
    approximation, its standard error from the prompts' spread) must be at least 0. A threshold set on a few
    hundred outcomes then leaves the margin its own uncertainty asks for."""

    fraction: float
    confidence: float = 0.0

    def __str__(self) -> str:
        return f"quality={self.fraction:g}" + (f" (confidence {self.confidence:g})" if self.confidence else "")


@dataclass(frozen=True)
class Budget:
    """Mean spend per 1,000 requests. ``costs`` (weak, strong USD per request) stands in when the
    outcomes carry no ``cost_usd``."""

    usd_per_1000: float
    costs: tuple[float, float] | None = None

    def __str__(self) -> str:
        return f"budget={self.usd_per_1000:g}"


@dataclass(frozen=True)
class MaxProfit:
    """Calibration target: maximise expected profit; ``utility(outcomes)`` gives an (n_prompts, n_models) array of
    profit per prompt and model (the economics report's B - C)."""

    utility: Callable[[Outcomes], np.ndarray]

    def __str__(self) -> str:
        return "max-profit"


Target = StrongShare | QualityFraction | Budget | MaxProfit


@dataclass(frozen=True)
class Calibration:
    """A calibrated threshold and what it is expected to give on the data it was set on: strong-model ``share`` (0..1),
    mean ``quality``, the ``target`` it met, spend per 1,000 requests (USD) and, for a profit target, total value."""

    threshold: float
    share: float
    quality: float
    target: str
    usd_per_1000: float | None = None
    value: float | None = None


def parse_target(text: str, costs: tuple[float, float] | None = None) -> Target:
    """``share=0.3``, ``quality=0.95`` or ``budget=2.5`` (USD per 1,000 requests)."""
    key, _, val = text.partition("=")
    try:
        num = float(val)
    except ValueError:
        num = float("nan")
    if key == "share" and 0 <= num <= 1:
        return StrongShare(num)
    if key == "quality" and 0 < num <= 2:
        return QualityFraction(num)
    if key == "budget" and num >= 0:
        return Budget(num, costs)
    raise DataError(f"cannot read target {text!r}",
                    hint="use share=0.3 (at most 30% strong calls), quality=0.95 (of the strong model) or "
                         "budget=2.5 (USD per 1,000 requests)")


def _costs(outcomes: Outcomes, target: Budget) -> tuple[np.ndarray, np.ndarray]:
    if outcomes.cost_usd is not None and not np.isnan(outcomes.cost_usd[:, [0, -1]]).any():
        return outcomes.cost_usd[:, 0], outcomes.cost_usd[:, -1]
    if target.costs is None:
        raise DataError("a budget target needs costs: the outcomes carry no cost_usd",
                        hint="give Budget(..., costs=(weak_usd, strong_usd)) per request")
    n = len(outcomes)
    return np.full(n, target.costs[0]), np.full(n, target.costs[1])


def _confident_quality_point(scores: np.ndarray, weak: np.ndarray, strong: np.ndarray,
                             target: QualityFraction) -> int:
    """The first curve point (fewest strong calls) whose lower confidence bound of mean(z), z = q_routed - fraction *
    q_strong per prompt, is at least 0; the last point (every prompt strong, which is the strong model itself)
    when none is. The points are those of ``tradeoff.curve`` over the same scores."""
    from statistics import NormalDist

    f = target.fraction
    z_weak, z_strong = weak - f * strong, strong - f * strong
    mean = tradeoff.curve(scores, z_weak, z_strong).quality
    second = tradeoff.curve(scores, z_weak ** 2, z_strong ** 2).quality
    n = len(scores)
    se = np.sqrt(np.maximum(second - mean ** 2, 0.0) / n)
    lower = mean - NormalDist().inv_cdf(target.confidence) * se
    ok = np.flatnonzero(lower >= -1e-12)
    return int(ok[0]) if len(ok) else len(mean) - 1


def calibrate(scores: np.ndarray, outcomes: Outcomes, target: Target, *, cascade: bool = False) -> Calibration:
    """The threshold (route strong iff ``score >= threshold``) meeting ``target`` on held-out scores.

    ``cascade``: a strong call comes after a small attempt (see ``routing.cascade.escalation_scores``), so it
    also pays the small model's cost."""
    q = outcomes.quality
    wc = sc = wv = sv = None
    if isinstance(target, Budget):
        wc, sc = _costs(outcomes, target)
        if cascade:
            sc = sc + wc
    if isinstance(target, MaxProfit):
        u = np.asarray(target.utility(outcomes), dtype=float)
        if u.shape != q.shape:
            raise DataError(f"utility returned shape {u.shape}, expected {q.shape} (prompts, models)")
        wv, sv = u[:, 0], u[:, -1]
        if cascade:
            if outcomes.cost_usd is None or np.isnan(outcomes.cost_usd[:, 0]).any():
                raise DataError("a cascade's profit target needs the small model's cost_usd in the outcomes",
                                hint="its escalations pay for the small attempt too")
            sv = sv - outcomes.cost_usd[:, 0]
    c = tradeoff.curve(scores, q[:, 0], q[:, -1], weak_cost=wc, strong_cost=sc,
                       weak_value=wv, strong_value=sv)
    if isinstance(target, StrongShare):
        ok = np.flatnonzero(c.share <= target.max_share + 1e-12)
        k = int(ok[-1])  # share 0 is always reachable
    elif isinstance(target, QualityFraction) and target.confidence > 0:
        k = _confident_quality_point(scores, q[:, 0], q[:, -1], target)
    elif isinstance(target, QualityFraction):
        goal = target.fraction * c.strong
        ok = np.flatnonzero(c.quality >= goal - 1e-12)
        if len(ok) == 0:
            best = float(c.quality.max() / c.strong) if c.strong else float("nan")
            raise TargetUnreachableError(
                f"no threshold reaches {target.fraction:.1%} of the strong model's quality",
                hint=f"reachable: up to quality={best:.3f} (fraction of the strong model)")
        k = int(ok[0])
    elif isinstance(target, Budget):
        assert c.cost is not None
        per_1000 = c.cost * 1000
        ok = np.flatnonzero(per_1000 <= target.usd_per_1000 + 1e-12)
        if len(ok) == 0:
            raise TargetUnreachableError(
                f"no threshold keeps spend under ${target.usd_per_1000:g} per 1,000 requests",
                hint=f"reachable: budget={per_1000.min():.4g} or more (all requests on the weak model)")
        k = int(ok[np.argmax(c.quality[ok])])
    else:
        assert c.value is not None
        k = int(np.argmax(c.value))
    return Calibration(threshold=float(c.threshold[k]), share=float(c.share[k]), quality=float(c.quality[k]),
                       target=str(target), usd_per_1000=None if c.cost is None else float(c.cost[k] * 1000),
                       value=None if c.value is None else float(c.value[k]))
