"""The baseline routers: random, and rules over task type, length and keywords."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from smallfirst.errors import ConfigError
from smallfirst.outcomes import Outcomes
from smallfirst.routing.router import Router

__all__ = ["RandomRouter", "RulesRouter"]


class RandomRouter(Router):
    """Scores drawn uniformly from [0, 1): the baseline every router must beat."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self._rng = np.random.default_rng(seed)

    def _fit(self, outcomes: Outcomes) -> None:
        pass

    def _score_batch(self, prompts: list[str], tasks: list[str] | None) -> np.ndarray:
        return self._rng.random(len(prompts))


class RulesRouter(Router):
    """Adds up hand-written evidence; configurable from a dict (the ``[routing.rules]`` config table).

    ``tasks``: {task or task prefix: score}; ``keywords``: {regex: score}; ``long_prompt_chars`` and
    ``long_prompt_score``: a bonus for long prompts. With ``learn_tasks`` (the default), fit adds each
    training task's mean strong-over-weak gain, so a subject prior comes for free; a task it never saw gets the
    overall mean gain (a new kind of request is no reason to think the small model does it well).
    """

    name = "rules"

    def __init__(self, tasks: dict[str, float] | None = None, keywords: dict[str, float] | None = None,
                 long_prompt_chars: int = 2000, long_prompt_score: float = 0.0, learn_tasks: bool = True,
                 smoothing: float = 10.0) -> None:
        super().__init__(tasks=tasks or {}, keywords=keywords or {}, long_prompt_chars=long_prompt_chars,
                         long_prompt_score=long_prompt_score, learn_tasks=learn_tasks, smoothing=smoothing)
        try:
            self._patterns = [(re.compile(k, re.I), float(v)) for k, v in (keywords or {}).items()]
        except re.error as exc:
            raise ConfigError(f"rules router: bad keyword pattern ({exc})") from None
        self.learned: dict[str, float] = {}
        self.prior = 0.0

    def _fit(self, outcomes: Outcomes) -> None:
        if not self.params["learn_tasks"]:
            return
        gain = outcomes.quality[:, -1] - outcomes.quality[:, 0]
        prior, k = float(gain.mean()), self.params["smoothing"]
        self.prior = prior
        tasks = np.asarray(outcomes.tasks)
        # Shrink small tasks towards the overall gain so a handful of prompts cannot dominate.
        self.learned = {t: float((gain[tasks == t].sum() + k * prior) / ((tasks == t).sum() + k))
                        for t in set(outcomes.tasks) if t}

    def _task_score(self, task: str | None) -> float:
        if not task:
            return self.prior
        score = self.learned.get(task, self.prior)
        for prefix, v in self.params["tasks"].items():
            if task == prefix or task.startswith(prefix.rstrip("/") + "/"):
                score += float(v)
        return score

    def _score_batch(self, prompts: list[str], tasks: list[str] | None) -> np.ndarray:
        out = np.zeros(len(prompts))
        for i, p in enumerate(prompts):
            s = self._task_score(tasks[i] if tasks else None)
            s += sum(v for pat, v in self._patterns if pat.search(p))
            if len(p) >= self.params["long_prompt_chars"]:
                s += self.params["long_prompt_score"]
            out[i] = s
        return out

    def get_state(self) -> Any:
        """The learned task -> score table and the prior for unseen tasks."""
        return {"learned": self.learned, "prior": self.prior}

    def set_state(self, state: Any) -> None:
        """Restore what :meth:`get_state` returned."""
        self.learned = dict(state["learned"])
        self.prior = float(state.get("prior", 0.0))

    @classmethod
    def from_config(cls, table: dict[str, Any]) -> RulesRouter:
        """A rules router from the config's ``[routing.rules]`` table (its keys are the constructor's parameters)."""
        return cls(**table)
