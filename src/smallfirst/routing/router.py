"""The Router contract, in scikit-learn's spirit: ``fit(outcomes) -> self``, then ``score``.

A score is the router's estimate that a prompt needs the stronger model: higher means harder. For two
models it is compared with one threshold; routers that can also estimate each model's quality expose
``predict_quality`` for the ladder policy of more than two models.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from smallfirst.errors import DataError, NotFittedError
from smallfirst.outcomes import Outcomes

__all__ = ["Router", "two_model_gain"]


def two_model_gain(outcomes: Outcomes) -> np.ndarray:
    """Per-prompt quality gain of the strongest (last) model over the weakest (first)."""
    if len(outcomes.models) < 2:
        raise DataError(f"routing needs at least two models; outcomes hold {list(outcomes.models)}")
    return outcomes.quality[:, -1] - outcomes.quality[:, 0]


class Router(ABC):
    """Subclasses set ``name``, take their parameters as keyword arguments, and implement ``_fit`` and
    ``_score_batch``. ``get_state``/``set_state`` carry the fitted state for saving a policy."""

    name: ClassVar[str] = "router"

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.models: tuple[str, ...] = ()
        self.fitted = False

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters, as scikit-learn estimators report them."""
        return dict(self.params)

    def fit(self, outcomes: Outcomes) -> Router:
        """Fit on ``outcomes`` (at least two models; the last is "strong") and return self. Raises DataError for fewer
        than two models."""
        two_model_gain(outcomes)
        self.models = outcomes.models
        self._fit(outcomes)
        self.fitted = True
        return self

    def score(self, prompt: str, task: str | None = None) -> float:
        """One prompt's score (higher: more likely to need the strong model)."""
        return float(self.score_batch([prompt], None if task is None else [task])[0])

    def score_batch(self, prompts: Sequence[str], tasks: Sequence[str] | None = None) -> np.ndarray:
        """Shape (len(prompts),) float scores. ``tasks``, when given, has one task per prompt. Raises NotFittedError
        before fit, DataError for mismatched lengths."""
        if not self.fitted:
            raise NotFittedError(f"router {self.name!r} is not fitted",
                                 hint="call fit(outcomes) first, or load a saved policy")
        if tasks is not None and len(tasks) != len(prompts):
            raise DataError(f"{len(prompts)} prompts but {len(tasks)} tasks")
        scores = self._score_batch(list(prompts), None if tasks is None else list(tasks))
        return np.asarray(scores, dtype=float)

    def get_state(self) -> Any:
        """The fitted state, for saving a policy (default: the instance's attributes)."""
        return self.__dict__

    def set_state(self, state: Any) -> None:
        """Restore what :meth:`get_state` returned."""
        self.__dict__.update(state)

    @abstractmethod
    def _fit(self, outcomes: Outcomes) -> None: ...

    @abstractmethod
    def _score_batch(self, prompts: list[str], tasks: list[str] | None) -> np.ndarray: ...
