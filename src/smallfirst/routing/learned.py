"""Learned routers: featurisers (embeddings, hashing, task one-hot, shape) feeding a head.

Each head estimates every model's quality on a prompt; the score is the strongest model's estimate minus
the weakest's, so sorting by score sends the largest expected gains to the strong model first, which is
what the quality-against-share curve rewards. ``predict_quality`` serves the ladder policy.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from smallfirst.errors import ConfigError
from smallfirst.outcomes import Outcomes
from smallfirst.routing.features import (
    EmbeddingFeatures,
    HashingFeatures,
    OptionFeatures,
    ShapeFeatures,
    TaskCrossedFeatures,
    TaskFeatures,
    TfidfFeatures,
    linear_term,
)
from smallfirst.routing.router import Router

__all__ = ["LearnedRouter", "FEATURES", "HEADS"]

FEATURES = ("static", "minilm", "hash", "tfidf", "task", "shape", "static-by-task", "options")
HEADS = ("logistic", "gbm", "knn")


def _featuriser(name: str):
    if name in ("static", "minilm"):
        return EmbeddingFeatures(name)
    if name == "hash":
        return HashingFeatures()
    if name == "tfidf":
        return TfidfFeatures()
    if name == "task":
        return TaskFeatures()
    if name == "shape":
        return ShapeFeatures()
    if name == "static-by-task":
        return TaskCrossedFeatures()
    if name == "options":
        return OptionFeatures()
    raise ConfigError(f"unknown feature {name!r}", hint=f"known: {', '.join(FEATURES)}")


class LearnedRouter(Router):
    """``head``: logistic | gbm | knn. ``features``: any of static, minilm, hash, tfidf, task, shape
    (tfidf is sparse: logistic and knn take it, gbm does not).

    ``Cs`` (logistic head only): candidate inverse regularisation strengths; each model's head then picks
    its own C by ``cv``-fold log loss on the training outcomes alone and is refitted at that C, instead of
    every head sharing ``C``. On RouteLLM MMLU the strong model's head (rarer, more specific errors) picks a
    weaker penalty than the weak model's, which lifts cross-fitted APGR; see benchmarks/routing_quality.py."""

    name = "learned"

    def __init__(self, head: str = "logistic", features: Sequence[str] = ("static", "task"), C: float = 0.3,
                 k: int = 50, max_iter: int = 200, seed: int = 0, Cs: Sequence[float] | float | None = None,
                 cv: int = 4) -> None:
        if head not in HEADS:
            raise ConfigError(f"unknown head {head!r}", hint=f"known: {', '.join(HEADS)}")
        if Cs is not None:
            Cs = [float(c) for c in (Cs if isinstance(Cs, Sequence) else [Cs])]
            if head != "logistic" or not Cs or min(Cs) <= 0 or cv < 2:
                raise ConfigError(f"Cs={Cs}, cv={cv}: per-head C selection needs the logistic head, positive "
                                  "candidates and cv >= 2", hint="e.g. logistic:features=static+task,Cs=0.3+1")
        params: dict[str, Any] = dict(head=head, features=list(features), C=C, k=k, max_iter=max_iter, seed=seed)
        if Cs is not None:
            params.update(Cs=Cs, cv=cv)
        super().__init__(**params)
        self._feats = [_featuriser(f) for f in features]
        self._heads: list[Any] = []
        self._train_quality: np.ndarray | None = None
        self._widths: list[int] = []  # columns per featuriser's block
        self._linear: tuple[np.ndarray | None, np.ndarray] | None = None  # the heads' stacked coefficients

    def _parts(self, prompts: Sequence[str], tasks: Sequence[str] | None) -> list[Any]:
        return [f.transform(prompts, tasks) for f in self._feats]

    def featurise(self, prompts: Sequence[str], tasks: Sequence[str] | None) -> Any:
        """The feature matrix of ``prompts`` (dense, or sparse CSR when any block is sparse), shape (n_prompts,
        n_features)."""
        return self._join(self._parts(prompts, tasks))

    def _join(self, parts: list[Any]) -> Any:
        if any(getattr(f, "sparse", False) for f in self._feats):
            import scipy.sparse as sp

            # n-gram vocabularies run to tens of thousands of columns: densifying them would cost GBs.
            return sp.hstack([sp.csr_matrix(x) for x in parts], format="csr")
        return np.hstack(parts)

    def _fit(self, outcomes: Outcomes) -> None:
        prompts, tasks = list(outcomes.prompts), list(outcomes.tasks)
        for f in self._feats:
            f.fit(prompts, tasks)
        parts = self._parts(prompts, tasks)
        self._widths = [part.shape[1] for part in parts]
        self._linear = None
        x = self._join(parts)
        p = self.params
        if p["head"] == "knn":
            from sklearn.neighbors import NearestNeighbors

            self._heads = [NearestNeighbors(n_neighbors=min(p["k"], x.shape[0]), metric="cosine").fit(x)]
            self._train_quality = outcomes.quality.copy()
            return
        q = outcomes.quality
        self._heads = [self._fit_one(x, q[:, j], outcomes.graded) for j in range(q.shape[1])]

    def _fit_one(self, x: np.ndarray, y: np.ndarray, graded: bool) -> Any:
        p = self.params
        if len(np.unique(y)) < 2:
            return float(y[0])  # a model that is always right (or wrong) needs no head
        if p["head"] == "logistic" and p.get("Cs"):
            from sklearn.linear_model import LogisticRegressionCV, RidgeCV
            from sklearn.model_selection import KFold, StratifiedKFold

            # Folds are cut from the training rows only, so the choice never sees held-out outcomes; they
            # are shuffled because outcome files come sorted by subject.
            if graded:
                m = RidgeCV(alphas=[1.0 / c for c in p["Cs"]],
                            cv=KFold(p["cv"], shuffle=True, random_state=p["seed"]))
            else:
                # The inner folds run in parallel processes: on RouteLLM MMLU's crossed features one head's
                # selection took 82 s in one process and 29 s in two (with one BLAS thread each, below).
                m = LogisticRegressionCV(Cs=p["Cs"], scoring="neg_log_loss", max_iter=3000,
                                         n_jobs=min(p["cv"], os.cpu_count() or 1),
                                         cv=StratifiedKFold(p["cv"], shuffle=True, random_state=p["seed"]))
        elif p["head"] == "logistic":
            from sklearn.linear_model import LogisticRegression, Ridge

            m = Ridge(alpha=1.0 / p["C"]) if graded else LogisticRegression(C=p["C"], max_iter=3000)
        else:
            from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

            cls = HistGradientBoostingRegressor if graded else HistGradientBoostingClassifier
            m = cls(max_iter=p["max_iter"], learning_rate=0.05, random_state=p["seed"])
        # One BLAS thread: lbfgs on these sparse-plus-dense inputs runs small matrix products, which a second
        # thread slows down (82 s against 44 s for the selection above).
        with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
            warnings.simplefilter("ignore", FutureWarning)  # scikit-learn's notices about future defaults
            return m.fit(x, y)

    def predict_quality(self, prompts: Sequence[str], tasks: Sequence[str] | None = None) -> np.ndarray:
        """Estimated quality of every model, shape (n_prompts, n_models)."""
        self.score_batch(prompts[:0], None)  # raises NotFittedError before fit
        if self.params["head"] == "logistic":
            return self._linear_quality(list(prompts), None if tasks is None else list(tasks))
        x = self.featurise(list(prompts), None if tasks is None else list(tasks))
        if self.params["head"] == "knn":
            assert self._train_quality is not None
            _, idx = self._heads[0].kneighbors(x)
            return self._train_quality[idx].mean(axis=1)
        cols = []
        for h in self._heads:
            if isinstance(h, float):
                cols.append(np.full(x.shape[0], h))
            elif hasattr(h, "predict_proba"):
                cols.append(h.predict_proba(x)[:, 1])
            else:
                cols.append(h.predict(x))
        return np.stack(cols, axis=1)

    def _linear_quality(self, prompts: list[str], tasks: list[str] | None) -> np.ndarray:
        """Linear heads applied block by block, each featuriser adding its block's term (``linear_term``) for
        all heads at once: at batch size 1, building sparse matrices and sklearn's input checks cost more than
        the dot products themselves."""
        if self._linear is None:
            fitted = [h for h in self._heads if not isinstance(h, float)]
            coef = np.stack([np.ravel(h.coef_) for h in fitted], axis=1) if fitted else None
            intercept = np.array([float(np.ravel(h.intercept_)[0]) for h in fitted])
            self._linear = (coef, intercept)
        coef, intercept = self._linear
        n = len(prompts)
        z = np.tile(intercept, (n, 1))
        if coef is not None:
            start = 0
            for f, width in zip(self._feats, self._widths, strict=True):
                z += linear_term(f, prompts, tasks, coef[start:start + width])
                start += width
        cols, k = [], 0
        for h in self._heads:
            if isinstance(h, float):
                cols.append(np.full(n, h))
            else:
                cols.append(1.0 / (1.0 + np.exp(-z[:, k])) if hasattr(h, "predict_proba") else z[:, k])
                k += 1
        return np.stack(cols, axis=1)

    def _score_batch(self, prompts: list[str], tasks: list[str] | None) -> np.ndarray:
        if not prompts:
            return np.zeros(0)
        q = self.predict_quality(prompts, tasks)
        return q[:, -1] - q[:, 0]

    def get_state(self) -> Any:
        """The fitted featurisers and heads (pickled into a saved policy)."""
        return {"heads": self._heads, "train_quality": self._train_quality, "feats": self._feats,
                "models": self.models, "widths": self._widths}

    def set_state(self, state: Any) -> None:
        """Restore what :meth:`get_state` returned."""
        self._heads = state["heads"]
        self._train_quality = state["train_quality"]
        self._feats = state["feats"]
        self.models = tuple(state["models"])
        self._linear = None
        # Policies saved before widths were stored: each fitted head's coefficients cover the blocks in order.
        self._widths = state.get("widths") or [f.transform([""], [""]).shape[1] for f in self._feats]
