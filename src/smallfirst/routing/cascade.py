"""The cascade: answer with the small model first, escalate when a confidence signal is below threshold.

Signals (``signal``):

* ``logprob``: the small answer's mean token log-probability (needs a backend that returns logprobs);
* ``consistency``: ``samples`` extra small answers at temperature > 0; the share agreeing with the first
  (normalised text) is the confidence: a cheap self-verifier;
* ``classifier``: a fitted learned router's estimate that the small model answers well, read before
  the call (so a hopeless prompt still tries small first only if the estimate clears the threshold).

The wasted small attempt is returned in :class:`CascadeResult` so the caller prices it.

Offline, over outcome data that records the small model's ``confidence`` (``smallfirst collect`` writes the
mean token log-probability), :func:`escalation_scores` puts a log-probability cascade on the same curve as
any router, so ``smallfirst eval`` reports it and ``smallfirst route fit`` calibrates its threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smallfirst.errors import ConfigError, DataError
from smallfirst.models.base import Model
from smallfirst.models.records import Completion, Message
from smallfirst.outcomes import Outcomes
from smallfirst.routing.base import Router
from smallfirst.routing.records import Decision

__all__ = ["Cascade", "CascadeResult", "SIGNALS", "escalation_scores", "threshold_for"]

SIGNALS = ("logprob", "consistency", "classifier")


def _norm(text: str) -> str:
    return " ".join(text.lower().split())[:200]


@dataclass(frozen=True)
class CascadeResult:
    completion: Completion
    decision: Decision
    #: Small-model completions paid for but not returned (the escalated attempt, consistency samples).
    wasted: tuple[Completion, ...] = ()


@dataclass
class Cascade:
    small: str
    large: str
    threshold: float
    signal: str = "logprob"
    name: str = "cascade"
    samples: int = 2
    router: Router | None = None
    #: the calibration target the threshold was set for, when it was
    target: str | None = None
    _extra: list[Completion] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.signal not in SIGNALS:
            raise ConfigError(f"unknown cascade signal {self.signal!r}", hint=f"known: {', '.join(SIGNALS)}")
        if self.signal == "classifier" and not hasattr(self.router, "predict_quality"):
            raise ConfigError("the classifier signal needs a fitted learned router",
                              hint="fit one with `smallfirst route fit --router logistic`")

    def decide(self, prompt: str, task: str | None = None) -> Decision:
        return Decision(model=self.small, policy=self.name, threshold=self.threshold,
                        reason=f"cascade: try {self.small} first ({self.signal})")

    def confidence(self, completion: Completion, prompt: str, task: str | None = None,
                   resample: Callable[[], Completion] | None = None) -> float | None:
        if self.signal == "logprob":
            return completion.mean_logprob
        if self.signal == "classifier":
            assert self.router is not None
            return float(self.router.predict_quality([prompt], None if task is None else [task])[0, 0])  # type: ignore[attr-defined]
        if resample is None:
            return None
        others = [resample() for _ in range(self.samples)]
        self._extra = others
        first = _norm(completion.text)
        return sum(_norm(o.text) == first for o in others) / len(others)

    def accept(self, completion: Completion, prompt: str, task: str | None = None) -> tuple[bool, float, str]:
        """The service's hook: keep the small answer or escalate, with the confidence and the reason."""
        conf = self.confidence(completion, prompt, task)
        if conf is None:
            why = f"cascade: no {self.signal} signal from {completion.model}; escalated"
            return False, float("-inf"), why
        if conf >= self.threshold:
            return True, conf, (f"cascade: {self.signal} {conf:.3f} >= {self.threshold:g}; "
                                f"kept {completion.model}")
        return False, conf, (f"cascade: {self.signal} {conf:.3f} < {self.threshold:g}; "
                             f"escalated to {self.large}")

    def run(self, models: dict[str, Model], messages: Sequence[Message], prompt: str | None = None,
            task: str | None = None, **params: Any) -> CascadeResult:
        """Answer through ``models[small]`` and, if needed, ``models[large]``."""
        prompt = prompt if prompt is not None else "\n".join(m["content"] for m in messages)
        small, large = models[self.small], models[self.large]
        first = small.complete(messages, **{**params, "logprobs": True})

        def resample() -> Completion:
            hot = max(params.get("temperature", 0), 0.7)
            return small.complete(messages, **{**params, "temperature": hot})

        self._extra = []
        conf = self.confidence(first, prompt, task, resample)
        extra = tuple(self._extra)
        if conf is not None and conf >= self.threshold:
            d = Decision(model=self.small, policy=self.name, score=conf, threshold=self.threshold,
                         reason=f"cascade: {self.signal} {conf:.3f} >= {self.threshold:g}; kept {self.small}")
            return CascadeResult(first, d, extra)
        second = large.complete(messages, **params)
        shown = "none" if conf is None else f"{conf:.3f}"
        d = Decision(model=self.large, policy=self.name, score=conf, threshold=self.threshold,
                     attempted=(self.small,),
                     reason=f"cascade: {self.signal} {shown} < {self.threshold:g}; escalated to {self.large}")
        return CascadeResult(second, d, (first, *extra))


def escalation_scores(outcomes: Outcomes) -> np.ndarray:
    """A cascade as a router score over outcome data: the small (first) model's recorded confidence, negated,
    so that "strong iff score >= t" is "escalate iff confidence <= -t". Escalated prompts also pay for the
    small attempt: price them with ``cascade=True`` in calibration and evaluation."""
    small = outcomes.models[0]
    conf = None if outcomes.confidence is None else outcomes.confidence[:, 0]
    if conf is None or np.isnan(conf).all():
        raise DataError(f"a cascade needs the small model's confidence, and these outcomes record none for {small!r}",
                        hint="collect them with `smallfirst collect` (it records each answer's mean token "
                             "log-probability), or give results[model].confidence in the file")
    missing = np.flatnonzero(np.isnan(conf))
    if len(missing):
        raise DataError(f"{len(missing)} of {len(conf)} prompts lack {small!r}'s confidence "
                        f"(first: {outcomes.ids[missing[0]]!r})",
                        hint="collect them again, or drop those prompts")
    return -conf


def threshold_for(curve_threshold: float) -> float:
    """The cascade threshold (keep the small answer iff confidence >= it) that escalates exactly the prompts
    a curve threshold over :func:`escalation_scores` sends strong: those with confidence <= -t."""
    return float(np.nextafter(-curve_threshold, np.inf))
