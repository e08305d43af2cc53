"""Send a task type to its specialised model, and escalate its unsure answers to a general policy.

A specialist answers with one token whose log-probability is its calibrated confidence; below the
specialist's own threshold (set for a target precision when it was trained) the request goes to whatever
the general policy picks for it. Tasks without a specialist go to the general policy directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from smallfirst.models.records import Completion
from smallfirst.routing.records import Decision


@dataclass
class SpecialistPolicy:
    name: str
    #: task family -> specialised model name
    specialists: Mapping[str, str]
    general: Any
    #: specialised model name -> probability below which it escalates
    thresholds: Callable[[str], float]

    def _specialist(self, task: str | None) -> str | None:
        return self.specialists.get((task or "").split("/")[0])

    def decide(self, prompt: str, task: str | None = None) -> Decision:
        model = self._specialist(task)
        if model is None:
            d = self.general.decide(prompt, task)
            return Decision(model=d.model, policy=self.name, score=d.score, threshold=d.threshold,
                            reason=f"no specialist for {task or 'this task'}; {d.reason}")
        return Decision(model=model, policy=self.name, threshold=self.thresholds(model),
                        reason=f"specialist {model} for {task}")

    def accept(self, completion: Completion, prompt: str, task: str | None = None) -> tuple[bool, float, str] | None:
        if completion.model not in self.specialists.values():
            return None  # the general policy's own choice: nothing to judge
        lp = completion.logprobs[0].logprob if completion.logprobs else float("-inf")
        p, cut = math.exp(lp), self.thresholds(completion.model)
        if p >= cut:
            return True, p, f"specialist {completion.model}: confidence {p:.3f} >= {cut:.3f}; kept"
        return False, p, f"specialist {completion.model}: confidence {p:.3f} < {cut:.3f}; escalated"

    def escalate(self, prompt: str, task: str | None = None) -> Decision:
        return self.general.decide(prompt, task)
