"""Send a task type to its specialised model, and escalate its unsure answers to a general policy.

A specialist answers with one token whose log-probability is its calibrated confidence; below the
specialist's own threshold (set for a target precision when it was trained) the request goes to whatever
the general policy picks for it. Tasks without a specialist go to the general policy directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from smallfirst.models.completion import Completion
from smallfirst.routing.policy import Decision, Policy, Resample, Verdict


@dataclass
class SpecialistPolicy:
    """An :class:`~smallfirst.routing.policy.Escalating` policy: each task family with a specialist goes to it
    first; every other request, and every unsure specialist answer, to ``general``."""

    name: str
    #: task family -> specialised model name
    specialists: Mapping[str, str]
    general: Policy
    #: specialised model name -> probability below which it escalates
    thresholds: Callable[[str], float]

    def _specialist(self, task: str | None) -> str | None:
        return self.specialists.get((task or "").split("/")[0])

    def decide(self, prompt: str, task: str | None = None) -> Decision:
        """The task's specialist, else the general policy's choice."""
        model = self._specialist(task)
        if model is None:
            d = self.general.decide(prompt, task)
            return Decision(model=d.model, policy=self.name, score=d.score, threshold=d.threshold,
                            reason=f"no specialist for {task or 'this task'}; {d.reason}")
        return Decision(model=model, policy=self.name, threshold=self.thresholds(model),
                        reason=f"specialist {model} for {task}")

    async def judge(self, first: Completion, prompt: str, task: str | None, resample: Resample) -> Verdict | None:
        """Keep a specialist's answer when its calibrated probability reaches the specialist's threshold, else
        escalate to the model the general policy picks. Answers of other models are not judged (None)."""
        if first.model not in self.specialists.values():
            return None  # the general policy's own choice: nothing to judge
        lp = first.logprobs[0].logprob if first.logprobs else float("-inf")
        p, cut = math.exp(lp), self.thresholds(first.model)
        if p >= cut:
            return Verdict(True, f"specialist {first.model}: confidence {p:.3f} >= {cut:.3f}; kept", score=p)
        target = self.general.decide(prompt, task).model
        return Verdict(False, f"specialist {first.model}: confidence {p:.3f} < {cut:.3f}; escalated to {target}",
                       score=p, escalate_to=target)
