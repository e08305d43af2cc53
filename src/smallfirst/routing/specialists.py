"""Send a task type to its specialised model, and escalate its unsure answers to a general policy.

A specialist answers with one token whose log-probability is its calibrated confidence; below the
specialist's own threshold (set for a target precision when it was trained) the request goes to whatever
the general policy picks for it. Tasks without a specialist go to the general policy directly, and the general
policy judges its own answers (a cascade still escalates its small model's unsure answers to its large one).

``auto`` is built this way from ``[routing.specialists]`` (task family -> tier; ``kpi = "northwind-kpi"`` by
default); :func:`configured_threshold` gives each such specialist its escalation threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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

    @property
    def small(self) -> str:
        """The general policy's first model, when it has one (a cascade's): what a budget hold reserves for."""
        return self.general.small  # type: ignore[attr-defined,no-any-return]

    @property
    def large(self) -> str:
        """The general policy's escalation model, when it has one (a cascade's)."""
        return self.general.large  # type: ignore[attr-defined,no-any-return]

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
        escalate to the model the general policy picks. Any other answer is the general policy's to judge (a
        cascade's small answer), or not judged (None) when that policy judges nothing."""
        if self._specialist(task) is None or first.model not in self.specialists.values():
            general_judge = getattr(self.general, "judge", None)
            return await general_judge(first, prompt, task, resample) if general_judge is not None else None
        lp = first.logprobs[0].logprob if first.logprobs else float("-inf")
        p, cut = math.exp(lp), self.thresholds(first.model)
        if p >= cut:
            return Verdict(True, f"specialist {first.model}: confidence {p:.3f} >= {cut:.3f}; kept", score=p)
        target = self.general.decide(prompt, task).model
        return Verdict(False, f"specialist {first.model}: confidence {p:.3f} < {cut:.3f}; escalated to {target}",
                       score=p, escalate_to=target)


def configured_threshold(name: str, settings: Any) -> float:
    """The confidence below which a specialist named in ``[routing.specialists]`` escalates: its model's
    ``options.escalate_below`` (a probability, e.g. the threshold a classifier tier was calibrated to),
    else 0, i.e. its answers are kept (the KPI tier repairs and escalates inside itself)."""
    from smallfirst.models.registry import resolve

    return float(resolve(name, settings).options.get("escalate_below", 0.0))
