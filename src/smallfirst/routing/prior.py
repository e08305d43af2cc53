"""A prior over task type and prompt length: each model's mean quality in the prompt's (task, length third)
group, shrunk towards its task mean and then the global mean.

The economics report needs E[B | model] without calling any model; when no router's predictions are given,
this prior, cross-fitted (``evaluate.crossfit.cross_fit_quality``), is the max-profit hybrid's estimate of
quality. Registered as router ``prior`` (``routing/builtin.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from smallfirst.errors import DataError
from smallfirst.outcomes import Outcomes
from smallfirst.routing.router import Router

__all__ = ["QualityPriorRouter", "length_cuts"]


def length_cuts(prompts: Sequence[str], tasks: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Per task, the prompt lengths (characters) at its first and second thirds. Lengths are features, not
    labels, so cuts taken over a whole data set (test prompts included) leak no outcome."""
    lengths = np.array([len(p) for p in prompts], dtype=float)
    by_task: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(tasks):
        by_task[t].append(i)
    return {t: tuple(float(x) for x in np.quantile(lengths[idx], [1 / 3, 2 / 3])) for t, idx in by_task.items()}


class QualityPriorRouter(Router):
    """Predicts each model's quality from the prompt's task type and length third.

    ``shrink``: pseudo-count pulling a group's mean towards its parent (task, then global) mean.
    ``cuts``: per-task length cuts (see :func:`length_cuts`); default: taken from the training prompts at fit.
    ``predict_quality`` gives an (n_prompts, n_models) array; the score is the last model's predicted quality
    minus the first's. A task unseen in training scores at the global mean.
    """

    name = "prior"

    def __init__(self, shrink: float = 10.0, cuts: Mapping[str, tuple[float, float]] | None = None) -> None:
        super().__init__(shrink=shrink, cuts=dict(cuts) if cuts is not None else None)
        self._global = np.zeros(0)
        self._task: dict[str, np.ndarray] = {}
        self._fine: dict[str, np.ndarray] = {}
        self._cuts: dict[str, tuple[float, float]] = {}

    def _key(self, prompt: str, task: str) -> str:
        cuts = self._cuts.get(task)
        if cuts is None:
            return f"{task}|?"
        return f"{task}|{int(np.searchsorted(np.asarray(cuts), float(len(prompt))))}"

    def _fit(self, outcomes: Outcomes) -> None:
        q = outcomes.quality.astype(float)
        tasks = list(outcomes.tasks)
        given = self.params["cuts"]
        self._cuts = dict(given) if given is not None else length_cuts(outcomes.prompts, tasks)
        fine = [self._key(p, t) for p, t in zip(outcomes.prompts, tasks, strict=True)]
        shrink = float(self.params["shrink"])
        self._global = q.mean(axis=0)
        self._task = _shrunk_means(q, tasks, {t: self._global for t in tasks}, shrink)
        self._fine = _shrunk_means(
            q, fine, {f: self._task.get(t, self._global) for f, t in zip(fine, tasks, strict=True)}, shrink
        )

    def predict_quality(self, prompts: Sequence[str], tasks: Sequence[str] | None = None) -> np.ndarray:
        """(n_prompts, n_models) predicted quality; DataError without tasks (the prior is over task types)."""
        if tasks is None:
            raise DataError("the prior router needs each prompt's task type", hint="pass tasks with the prompts")
        out = np.zeros((len(prompts), len(self._global)))
        for i, (p, t) in enumerate(zip(prompts, tasks, strict=True)):
            out[i] = self._fine.get(self._key(p, t), self._task.get(t, self._global))
        return out

    def _score_batch(self, prompts: list[str], tasks: list[str] | None) -> np.ndarray:
        q = self.predict_quality(prompts, tasks)
        return q[:, -1] - q[:, 0]


def _shrunk_means(
    q: np.ndarray, keys: list[str], prior: Mapping[str, np.ndarray], shrink: float
) -> dict[str, np.ndarray]:
    """Per key, (sum of its rows + shrink * prior) / (count + shrink)."""
    sums: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(q.shape[1]))
    counts: dict[str, int] = defaultdict(int)
    for i, k in enumerate(keys):
        sums[k] += q[i]
        counts[k] += 1
    return {k: (sums[k] + shrink * prior[k]) / (counts[k] + shrink) for k in sums}
