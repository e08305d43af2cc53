"""The profit-maximising routing policy: per request, the model maximising E[B | model] - C_model.

This is RouterBench's willingness-to-pay rule with B in money. ``profit_utility`` is the seam to routing
calibration: its ``MaxProfit(utility)`` target takes the callable it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from smallfirst.economics.config import EconConfig
from smallfirst.economics.costing import benefit_matrix, cost_matrix, price_matrix, to_float
from smallfirst.outcomes import Outcomes


def profit_utility(econ_config: EconConfig) -> Callable[[Outcomes], np.ndarray]:
    """A callable giving the (n_prompts, n_models) float array of expected benefit minus cost in USD.

    Pass outcomes whose ``quality`` holds predicted quality (a router's probability of a good answer) to
    get E[B | model]; with observed quality it is the realised value."""

    def utility(outcomes: Outcomes) -> np.ndarray:
        return to_float(benefit_matrix(outcomes, econ_config) - cost_matrix(outcomes, econ_config))

    return utility


def profit_optimal_choice(utility: np.ndarray) -> np.ndarray:
    """The best model per prompt; ties go to the cheaper (earlier) model."""
    return np.argmax(utility, axis=1)


@dataclass(frozen=True)
class ThresholdCurve:
    """Value created and profit of a two-model router as its threshold sweeps from all-small to all-large."""

    thresholds: np.ndarray
    large_share: np.ndarray
    quality: np.ndarray
    #: per 1,000 requests, USD
    value_created: np.ndarray
    profit: np.ndarray
    cost: np.ndarray
    best: int

    @property
    def best_threshold(self) -> float:
        return float(self.thresholds[self.best])


def threshold_curve(
    outcomes: Outcomes,
    config: EconConfig,
    scores: np.ndarray,
    *,
    small: int = 0,
    large: int = -1,
    points: int = 101,
    overhead: bool = True,
) -> ThresholdCurve:
    """Send a prompt to ``large`` when its score >= threshold. Floats are fine here: the curve is drawn;
    the chosen threshold is priced again exactly as a scenario."""
    b = to_float(benefit_matrix(outcomes, config))
    p = to_float(price_matrix(outcomes, config))
    c = to_float(cost_matrix(outcomes, config)) + (float(config.overhead.per_request) if overhead else 0.0)
    q = outcomes.quality
    cuts = np.unique(np.quantile(scores, np.linspace(0, 1, points)))
    ts = np.concatenate([cuts, [np.inf]])[::-1]  # from all-small (inf) to all-large
    n = len(outcomes)
    rows = []
    for t in ts:
        big = scores >= t
        j = np.where(big, large % q.shape[1], small)
        idx = np.arange(n)
        rows.append(
            (
                big.mean(),
                q[idx, j].mean(),
                (b[idx, j] - c[idx, j]).sum(),
                (p[idx, j] - c[idx, j]).sum(),
                c[idx, j].sum(),
            )
        )
    arr = np.array(rows)
    scale = 1000.0 / n
    vc = arr[:, 2] * scale
    return ThresholdCurve(
        ts, arr[:, 0], arr[:, 1], vc, arr[:, 3] * scale, arr[:, 4] * scale, int(np.argmax(vc))
    )
