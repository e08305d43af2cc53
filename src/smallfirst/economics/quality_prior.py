"""Predicted quality per prompt and model from a cross-fitted prior over task type and prompt length.

The economics report needs E[B | model] without calling any model. When no router's predictions are given,
this prior is the hybrid's quality estimate: each model's mean quality in the prompt's (task, length third)
group, shrunk towards its task mean and then the global mean, learned on the other folds only so that no
prompt is scored by a fit that saw it.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from smallfirst.outcomes import Outcomes

_SHRINK = 10.0


def _groups(outcomes: Outcomes) -> tuple[list[str], list[str]]:
    lengths = np.array([len(p) for p in outcomes.prompts], dtype=float)
    tasks = list(outcomes.tasks)
    by_task: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(tasks):
        by_task[t].append(i)
    fine = [""] * len(tasks)
    for t, idx in by_task.items():
        cuts = np.quantile(lengths[idx], [1 / 3, 2 / 3])
        for i in idx:
            fine[i] = f"{t}|{int(np.searchsorted(cuts, lengths[i]))}"
    return tasks, fine


def predicted_quality(outcomes: Outcomes, *, folds: int = 5, seed: int = 0) -> np.ndarray:
    q = outcomes.quality.astype(float)
    n = len(outcomes)
    tasks, fine = _groups(outcomes)
    order = np.random.default_rng(seed).permutation(n)
    out = np.zeros_like(q)
    for k in range(min(folds, n)):
        test = order[k::folds]
        train = np.setdiff1d(order, test) if folds > 1 and n > 1 else order
        glob = q[train].mean(axis=0)
        task_mean = _means(q, tasks, train, {t: glob for t in set(tasks)})
        fine_mean = _means(
            q, fine, train, {f: task_mean.get(t, glob) for f, t in zip(fine, tasks, strict=True)}
        )
        for i in test:
            out[i] = fine_mean.get(fine[i], task_mean.get(tasks[i], glob))
    return out


def _means(
    q: np.ndarray, keys: list[str], train: np.ndarray, prior: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    sums: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(q.shape[1]))
    counts: dict[str, int] = defaultdict(int)
    for i in train:
        sums[keys[i]] += q[i]
        counts[keys[i]] += 1
    return {k: (sums[k] + _SHRINK * prior[k]) / (counts[k] + _SHRINK) for k in sums}
