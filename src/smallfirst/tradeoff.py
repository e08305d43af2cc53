"""The quality-against-strong-share curve and the metrics the field reads off it.

Calibration and evaluation both call this module, so the threshold a policy ships with and the number
in the evaluation table come from one curve. It imports nothing else of smallfirst.

The curve of a router with scores ``s`` (higher means "send to the strong model") is exact, not
sampled: prompts are sent to the strong model in order of falling score, and every distinct score is a
threshold ``t`` (strong iff ``s >= t``). Ties are one step, and the straight segment across a tie is the
expected curve under random tie-breaking, so a constant score draws the diagonal. Definitions follow
RouteLLM's ``routellm/evals/evaluate.py``:

* PGR(q) = (q - weak) / (strong - weak).
* APGR = (area under quality(share) - weak) / (strong - weak), share running over [0, 1].
* CPT(x%) = the smallest strong-call share at which the curve recovers x% of the strong-weak gap
  (linear within a segment).

AIQ is RouterBench's: the mean over the cost range of the non-decreasing upper convex hull of the
(cost, quality) points a router reaches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Curve", "curve", "oracle_curve", "oracle_label_curve", "random_curve", "pgr", "apgr", "cpt", "aiq", "upper_hull",
    "cost_reduction_at", "share_for_threshold", "apgr_deciles",
]


@dataclass(frozen=True)
class Curve:
    """Points of a routing trade-off, ordered by rising strong share.

    ``threshold[k]`` reaches point k by routing strong iff ``score >= threshold[k]`` (``inf`` routes none).
    ``quality``, ``cost`` and ``value`` are per-prompt means of the routed outcome.
    """

    share: np.ndarray
    quality: np.ndarray
    threshold: np.ndarray
    cost: np.ndarray | None = None
    value: np.ndarray | None = None
    #: Baselines: all-weak and all-strong mean quality.
    weak: float = 0.0
    strong: float = 1.0

    def __len__(self) -> int:
        return len(self.share)


def _cumulative(order: np.ndarray, bounds: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> np.ndarray:
    gain = np.concatenate([[0.0], np.cumsum((strong - weak)[order])])
    return (weak.sum() + gain[bounds]) / len(weak)


def curve(scores: np.ndarray, weak: np.ndarray, strong: np.ndarray, *,
          weak_cost: np.ndarray | None = None, strong_cost: np.ndarray | None = None,
          weak_value: np.ndarray | None = None, strong_value: np.ndarray | None = None) -> Curve:
    """The exact curve of ``scores`` over per-prompt outcomes of the weak and strong model."""
    scores = np.asarray(scores, dtype=float)
    weak = np.asarray(weak, dtype=float)
    strong = np.asarray(strong, dtype=float)
    n = len(scores)
    if n == 0 or weak.shape != (n,) or strong.shape != (n,):
        raise ValueError(f"scores, weak and strong need one equal, non-zero length; got {n}, {weak.shape}, "
                         f"{strong.shape}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    # A point after each run of equal scores: ties move together through one threshold.
    ends = np.flatnonzero(np.diff(ranked) != 0) + 1
    bounds = np.concatenate([[0], ends, [n]])
    thresholds = np.concatenate([[np.inf], ranked[bounds[1:] - 1]])

    def _cum(w: np.ndarray | None, s: np.ndarray | None) -> np.ndarray | None:
        if w is None or s is None:
            return None
        return _cumulative(order, bounds, np.asarray(w, float), np.asarray(s, float))

    return Curve(share=bounds / n, quality=_cumulative(order, bounds, weak, strong), threshold=thresholds,
                 cost=_cum(weak_cost, strong_cost), value=_cum(weak_value, strong_value),
                 weak=float(weak.mean()), strong=float(strong.mean()))


def oracle_curve(weak: np.ndarray, strong: np.ndarray) -> Curve:
    """The best any router can do: strong calls go first where they gain most, and never where they lose."""
    weak = np.asarray(weak, float)
    strong = np.asarray(strong, float)
    gain = strong - weak
    c = curve(gain, weak, strong)
    # Past the last useful call the oracle stays put, as RouteLLM's get_optimal_accuracy does.
    return Curve(share=c.share, quality=np.maximum.accumulate(c.quality), threshold=c.threshold,
                 weak=c.weak, strong=c.strong)


def oracle_label_curve(weak: np.ndarray, strong: np.ndarray) -> Curve:
    """A router whose score is the binary label "the strong model wins" (RouteLLM's training label).

    Unlike :func:`oracle_curve` it must spend every strong call it is given: past the winning prompts
    it sends the rest, losing ones included, as one tie, so the curve falls back to the strong model at
    share 1. This is the oracle figure RouteLLM-style comparisons quote (1.12 on decontaminated MMLU,
    against 1.30 for the upper bound that never makes a useless strong call)."""
    weak = np.asarray(weak, float)
    strong = np.asarray(strong, float)
    return curve((strong > weak).astype(float), weak, strong)


def random_curve(weak: np.ndarray, strong: np.ndarray) -> Curve:
    """The expected curve of a router that picks prompts at random: the straight line."""
    return curve(np.zeros(len(weak)), weak, strong)


def pgr(quality: float, weak: float, strong: float) -> float:
    """Performance gap recovered: (quality - weak) / (strong - weak), 0 at the weak model's quality and 1 at the
    strong model's (RouteLLM, Ong et al. 2024). Raises ValueError when weak == strong."""
    if strong == weak:
        raise ValueError("PGR is undefined when the weak and strong model have equal quality")
    return (quality - weak) / (strong - weak)


def apgr(c: Curve) -> float:
    """Average PGR: PGR of the area under ``c``'s quality over strong share [0, 1] (trapezoids between the
    curve's exact points): random routing (the diagonal) scores 0.5, an oracle that skips useless strong calls
    more than 1. Raises ValueError when the weak and strong qualities are equal."""
    area = float(np.trapezoid(c.quality, c.share))
    return pgr(area, c.weak, c.strong)


def cpt(c: Curve, percent: float) -> float:
    """Strong-call share (0..1) needed to recover ``percent`` % of the gap; NaN if never reached."""
    target = c.weak + percent / 100.0 * (c.strong - c.weak)
    q = c.quality
    hit = np.flatnonzero(q >= target - 1e-12)
    if len(hit) == 0:
        return float("nan")
    k = int(hit[0])
    if k == 0:
        return float(c.share[0])
    q0, q1 = q[k - 1], q[k]
    frac = (target - q0) / (q1 - q0) if q1 != q0 else 1.0
    return float(c.share[k - 1] + frac * (c.share[k] - c.share[k - 1]))


def upper_hull(cost: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The non-decreasing upper convex hull of (cost, quality) points, as RouterBench draws it."""
    pts = sorted(zip(np.asarray(cost, float), np.asarray(quality, float), strict=True))
    hull: list[tuple[float, float]] = []
    for p in pts:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # Drop the middle point when it lies on or below the chord: it is dominated by mixing.
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    xs = np.array([h[0] for h in hull])
    ys = np.maximum.accumulate(np.array([h[1] for h in hull]))
    return xs, ys


def aiq(cost: np.ndarray, quality: np.ndarray, c_min: float | None = None,
        c_max: float | None = None) -> float:
    """Mean of the non-decreasing upper hull over [c_min, c_max] (default: the points' own range)."""
    xs, ys = upper_hull(cost, quality)
    lo = float(xs[0]) if c_min is None else c_min
    hi = float(xs[-1]) if c_max is None else c_max
    if hi <= lo:
        return float(ys[-1])
    grid = np.unique(np.clip(np.concatenate([xs, [lo, hi]]), lo, hi))
    # Below the cheapest point nothing is reachable; beyond the dearest, its quality holds.
    vals = np.interp(grid, xs, ys, left=np.nan, right=ys[-1])
    vals = np.nan_to_num(vals, nan=0.0)
    return float(np.trapezoid(vals, grid) / (hi - lo))


def cost_reduction_at(c: Curve, fraction: float = 0.95) -> float:
    """1 - cost/all-strong cost at the cheapest point reaching ``fraction`` of the strong model's quality.

    Uses ``c.cost`` when present, else the strong share (a weak call counted free). NaN if unreachable.
    """
    target = fraction * c.strong
    cost = c.cost if c.cost is not None else c.share
    ok = np.flatnonzero(c.quality >= target - 1e-12)
    if len(ok) == 0:
        return float("nan")
    return float(1.0 - cost[ok].min() / cost[-1]) if cost[-1] > 0 else float("nan")


def share_for_threshold(scores: np.ndarray, threshold: float) -> float:
    """Share (0..1) of ``scores`` (shape (n,)) at or above ``threshold``: the strong-call share a policy with that
    threshold makes on these prompts."""
    return float(np.mean(np.asarray(scores) >= threshold))


def apgr_deciles(scores: np.ndarray, weak: np.ndarray, strong: np.ndarray, bins: int = 10) -> float:
    """APGR sampled as RouteLLM's benchmarks do: thresholds at the score quantiles (``pd.qcut`` bins),
    strong iff ``score >= t`` except ``>`` at the top one, trapezoid over those points only. Kept to
    compare with published figures; it under-reads a concave curve, so :func:`apgr` is the reference."""
    scores = np.asarray(scores, float)
    weak = np.asarray(weak, float)
    strong = np.asarray(strong, float)
    ts = np.quantile(scores, np.linspace(0, 1, bins + 1))
    pts = []
    for i, t in enumerate(ts):
        sel = scores > t if i == len(ts) - 1 else scores >= t
        pts.append((sel.mean(), np.where(sel, strong, weak).mean()))
    pts.sort()
    xs, ys = np.array(pts).T
    return pgr(float(np.trapezoid(ys, xs)), float(weak.mean()), float(strong.mean()))
