"""A matrix-factorisation router in the manner of RouteLLM's ``mf``.

Each model m has a learned vector v_m; a prompt's features x are projected by W. Model m's strength on the
prompt is ``delta_m(x) = w . (v_m * W x) + b_m``, and P(strong beats weak) = sigmoid(delta_s - delta_w),
fitted on the prompts where the two models' qualities differ (ties carry no preference), as RouteLLM fits
on battles. Trained with Adam in numpy: no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from smallfirst.outcomes import Outcomes
from smallfirst.routing.learned import _featuriser
from smallfirst.routing.router import Router

__all__ = ["MatrixFactorisationRouter"]


class MatrixFactorisationRouter(Router):
    """RouteLLM's matrix-factorisation router (Ong et al., 2024, "RouteLLM", section 4.1) adapted to prompt features: a
    bilinear score of a projected prompt embedding against a learned vector per model, trained with Adam on the
    prompts where the two models differ (strong win = 1). ``dim`` is the projection's size, ``epochs`` passes over
    the data."""

    name = "mf"

    def __init__(self, features: Sequence[str] = ("static", "task"), dim: int = 64, epochs: int = 60,
                 lr: float = 0.01, l2: float = 1e-4, seed: int = 0) -> None:
        super().__init__(features=list(features), dim=dim, epochs=epochs, lr=lr, l2=l2, seed=seed)
        self._feats = [_featuriser(f) for f in features]
        self._w: dict[str, np.ndarray] = {}

    def _x(self, prompts: Sequence[str], tasks: Sequence[str] | None) -> np.ndarray:
        return np.hstack([f.transform(prompts, tasks) for f in self._feats]).astype(np.float64)

    def _fit(self, outcomes: Outcomes) -> None:
        p = self.params
        prompts, tasks = list(outcomes.prompts), list(outcomes.tasks)
        for f in self._feats:
            f.fit(prompts, tasks)
        diff = outcomes.quality[:, -1] - outcomes.quality[:, 0]
        keep = diff != 0
        x = self._x(prompts, tasks)[keep]
        y = (diff[keep] > 0).astype(float)
        rng = np.random.default_rng(p["seed"])
        d, k = x.shape[1], p["dim"]
        w = {"W": rng.normal(0, 1 / np.sqrt(d), (k, d)), "v": rng.normal(0, 1 / np.sqrt(k), (2, k)),
             "u": rng.normal(0, 1 / np.sqrt(k), k), "b": np.zeros(2)}
        m = {n: np.zeros_like(a) for n, a in w.items()}
        s = {n: np.zeros_like(a) for n, a in w.items()}
        t = 0
        for _ in range(p["epochs"]):
            for batch in np.array_split(rng.permutation(len(x)), max(1, len(x) // 256)):
                t += 1
                grads = self._grads(w, x[batch], y[batch])
                for n in w:
                    g = grads[n] + p["l2"] * w[n]
                    m[n] = 0.9 * m[n] + 0.1 * g
                    s[n] = 0.999 * s[n] + 0.001 * g * g
                    w[n] -= p["lr"] * (m[n] / (1 - 0.9 ** t)) / (np.sqrt(s[n] / (1 - 0.999 ** t)) + 1e-8)
        self._w = w

    @staticmethod
    def _logit(w: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = x @ w["W"].T
        dv = w["v"][1] - w["v"][0]
        return h @ (w["u"] * dv) + (w["b"][1] - w["b"][0]), h

    def _grads(self, w: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        z, h = self._logit(w, x)
        e = (1 / (1 + np.exp(-z)) - y) / len(y)
        dv = w["v"][1] - w["v"][0]
        gh = np.outer(e, w["u"] * dv)
        g_dv = (e @ h) * w["u"]
        return {"W": gh.T @ x, "u": (e @ h) * dv, "v": np.stack([-g_dv, g_dv]),
                "b": np.array([-e.sum(), e.sum()])}

    def _score_batch(self, prompts: list[str], tasks: list[str] | None) -> np.ndarray:
        if not prompts:
            return np.zeros(0)
        z, _ = self._logit(self._w, self._x(prompts, tasks))
        return 1 / (1 + np.exp(-z))

    def get_state(self) -> Any:
        """The learned weights."""
        return {"w": self._w, "feats": self._feats, "models": self.models}

    def set_state(self, state: Any) -> None:
        """Restore what :meth:`get_state` returned."""
        self._w, self._feats, self.models = state["w"], state["feats"], tuple(state["models"])
