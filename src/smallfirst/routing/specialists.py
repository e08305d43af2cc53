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

    @property
    def small(self) -> str:
        """The general policy's first model, when it has one (a cascade's): what a budget hold reserves for."""
        return self.general.small

    @property
    def large(self) -> str:
        """The general policy's escalation model, when it has one (a cascade's)."""
        return self.general.large

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
        """The specialist's answer kept or escalated by its confidence; any other answer is the general policy's
        to judge (None when it judges nothing)."""
        if self._specialist(task) is None or completion.model not in self.specialists.values():
            judge = getattr(self.general, "accept", None)
            return judge(completion, prompt, task) if judge is not None else None
        lp = completion.logprobs[0].logprob if completion.logprobs else float("-inf")
        p, cut = math.exp(lp), self.thresholds(completion.model)
        if p >= cut:
            return True, p, f"specialist {completion.model}: confidence {p:.3f} >= {cut:.3f}; kept"
        return False, p, f"specialist {completion.model}: confidence {p:.3f} < {cut:.3f}; escalated"

    def escalate(self, prompt: str, task: str | None = None) -> Decision:
        """Where an answer judged unsure goes: a specialist's to the general policy's pick; the general policy's
        own (a cascade's small answer) to where that policy escalates."""
        if self._specialist(task) is not None:
            return self.general.decide(prompt, task)
        escalate = getattr(self.general, "escalate", None)
        if escalate is not None:
            return escalate(prompt, task)
        large = getattr(self.general, "large", None)
        if large:
            return Decision(model=large, policy=self.name, reason=f"{self.general.name}: escalated to {large}")
        return self.general.decide(prompt, task)


def configured_threshold(name: str, settings: Any) -> float:
    """The confidence below which a specialist named in ``[routing.specialists]`` escalates: a classifier tier's
    own threshold (set for its target precision when it was trained), else 0, i.e. its answers are kept (the KPI
    tier repairs and escalates inside itself)."""
    from smallfirst.models.registry import resolve

    spec = resolve(name, settings)
    if spec.backend == "classifier" and spec.artifact:
        from smallfirst.specialize.artifact import read_info

        return float(read_info(spec.artifact).threshold)
    return 0.0
