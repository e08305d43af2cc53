"""Temperature scaling: one scalar that turns a head's scores into probabilities whose confidence matches
its accuracy on held-out data (Guo et al., 2017). It never changes which class wins."""

from __future__ import annotations

import numpy as np


def softmax(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``scores / temperature``: (n, k) scores to (n, k) probabilities, each row summing to 1
    (max-shifted, so large scores do not overflow)."""
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(scores: np.ndarray, y: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood (nats) of the true classes ``y`` (n,) under ``softmax(scores, temperature)``,
    probabilities clipped at 1e-12."""
    p = softmax(scores, temperature)[np.arange(len(y)), y]
    return float(-np.log(np.clip(p, 1e-12, None)).mean())


def smoothed_nll(scores: np.ndarray, y: np.ndarray, temperature: float, eps: float) -> float:
    """Cross-entropy (nats, mean over n) against label-smoothed targets: 1 - ``eps`` on the true class, ``eps``
    spread evenly over the other k - 1 (Szegedy et al., 2016). What ``fit_temperature`` minimises."""
    logp = np.log(np.clip(softmax(scores, temperature), 1e-12, None))
    k = scores.shape[1]
    own = logp[np.arange(len(y)), y]
    others = (logp.sum(axis=1) - own) / max(k - 1, 1)
    return float(-((1 - eps) * own + eps * others).mean())


def fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising held-out cross-entropy (a log-spaced search, then refined).

    The targets are smoothed by 1/(n+2), as if one more error were possible: a small held-out split that the
    head gets all right would otherwise drive the temperature to zero and every probability to 1."""
    eps = 1.0 / (len(y) + 2)
    grid = np.exp(np.linspace(np.log(1e-3), np.log(1e2), 101))
    best = min(grid, key=lambda t: smoothed_nll(scores, y, t, eps))
    fine = np.exp(np.linspace(np.log(best / 1.2), np.log(best * 1.2), 41))
    return float(min(fine, key=lambda t: smoothed_nll(scores, y, t, eps)))


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """ECE (Naeini et al., 2015; Guo et al., 2017): the top-class confidence of (n, k) ``proba`` cut into
    ``bins`` equal-width bins over (0, 1], and the share-weighted mean of |accuracy - mean confidence| per bin.
    0 is perfect calibration; a ``y`` of -1 (a class the model lacks) counts as wrong."""
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)
