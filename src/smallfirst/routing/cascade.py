"""The cascade: answer with the small model first, escalate when a confidence signal is below threshold.

Signals (``signal``):

* ``logprob``: the small answer's mean token log-probability (needs a backend that returns logprobs);
  ``min-logprob``, ``margin`` and ``entropy``: its least likely token, the mean gap between the two most likely
  tokens of each step, minus the mean entropy of each step's top alternatives (``routing.confidence``);
* ``consistency``: ``samples`` extra small answers at temperature >= 0.7 (seeds 1, 2, ...); the share
  agreeing with the first (normalised text) is the confidence: a cheap self-verifier;
* ``classifier``: a fitted learned router's estimate that the small model answers well, read before
  the call (so a hopeless prompt still tries small first only if the estimate clears the threshold).

The service prices what the cascade paid for besides the answer it kept: the escalated small attempt, and a
consistency cascade's samples (``Verdict.extra``).

Offline, over outcome data that records the small model's ``confidence`` (``smallfirst collect`` writes the
mean token log-probability), :func:`escalation_scores` puts a log-probability cascade on the same curve as
any router, so ``smallfirst eval`` reports it and ``smallfirst route fit`` calibrates its threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smallfirst.errors import ConfigError, DataError
from smallfirst.models.completion import Completion
from smallfirst.outcomes import Outcomes
from smallfirst.routing.confidence import TOKEN_SIGNALS, agreement, token_signal
from smallfirst.routing.policy import Decision, Resample, Verdict
from smallfirst.routing.router import Router

__all__ = ["Cascade", "SIGNALS", "escalation_scores", "threshold_for"]

SIGNALS = ("logprob", "min-logprob", "margin", "entropy", "consistency", "classifier")


@dataclass
class Cascade:
    """Answer with ``small`` first; keep the answer when its confidence reaches ``threshold``, else escalate to
    ``large``. An :class:`~smallfirst.routing.policy.Escalating` policy."""

    small: str
    large: str
    threshold: float
    signal: str = "logprob"
    name: str = "cascade"
    #: extra answers a consistency cascade draws (each at temperature >= 0.7, seeds 1..samples)
    samples: int = 2
    router: Router | None = None
    #: the calibration target the threshold was set for, when it was
    target: str | None = None

    def __post_init__(self) -> None:
        if self.signal not in SIGNALS:
            raise ConfigError(f"unknown cascade signal {self.signal!r}", hint=f"known: {', '.join(SIGNALS)}")
        if self.signal == "classifier" and not hasattr(self.router, "predict_quality"):
            raise ConfigError("the classifier signal needs a fitted learned router",
                              hint="fit one with `smallfirst route fit --router logistic`")
        if self.signal == "consistency" and self.samples < 1:
            raise ConfigError(f"a consistency cascade needs at least one extra sample, got {self.samples}",
                              hint="set samples to 2 or more")

    def decide(self, prompt: str, task: str | None = None) -> Decision:
        """Always the small model first."""
        return Decision(model=self.small, policy=self.name, threshold=self.threshold,
                        reason=f"cascade: try {self.small} first ({self.signal})")

    async def judge(self, first: Completion, prompt: str, task: str | None, resample: Resample) -> Verdict:
        """Keep ``first`` iff its confidence reaches the threshold. ``logprob`` (and the other token signals): read
        off its token log-probabilities;
        ``classifier``: the router's estimate that the small model answers well; ``consistency``: the share of
        ``samples`` resampled answers equal to it (normalised text), the samples paid for by the request."""
        extra: tuple[Completion, ...] = ()
        conf: float | None
        if self.signal in TOKEN_SIGNALS:
            conf = token_signal(first, self.signal)
        elif self.signal == "classifier":
            assert self.router is not None
            conf = float(self.router.predict_quality([prompt], None if task is None else [task])[0, 0])  # type: ignore[attr-defined]
        else:
            extra = tuple([await resample(i + 1) for i in range(self.samples)])
            conf = agreement(first.text, [o.text for o in extra])
        if conf is None:
            return Verdict(False, f"cascade: no {self.signal} signal from {first.model}; escalated to {self.large}",
                           escalate_to=self.large, extra=extra)
        if conf >= self.threshold:
            return Verdict(True, f"cascade: {self.signal} {conf:.3f} >= {self.threshold:g}; kept {first.model}",
                           score=conf, extra=extra)
        return Verdict(False, f"cascade: {self.signal} {conf:.3f} < {self.threshold:g}; escalated to {self.large}",
                       score=conf, escalate_to=self.large, extra=extra)


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
