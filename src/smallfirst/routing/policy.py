"""The policy contract, and the policies that turn a router's score into a Decision.

A :class:`Policy` picks a model for a prompt before any model runs (``decide``). An :class:`Escalating` policy
also judges the answer of the model it picked first (``judge``), and may send the request on to another model:
a cascade, or a specialist that hands its unsure answers to a general policy. The service runs both kinds the
same way on every path (CLI, gateway, demo, streaming or not); what a policy concluded is a :class:`Decision`
before the call and a :class:`Verdict` after it, both recorded in the request log.

Two models: one threshold (:class:`ThresholdPolicy`). More: a ladder (:class:`LadderPolicy`). One model for
everything: :class:`FixedPolicy` (what ``auto`` serves before anything is learned: the large model).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from smallfirst.errors import ConfigError
from smallfirst.models.completion import Completion
from smallfirst.routing.router import Router

__all__ = ["Decision", "Escalating", "FixedPolicy", "LadderPolicy", "Policy", "Resample", "ThresholdPolicy",
           "Verdict"]


@dataclass(frozen=True, slots=True)
class Decision:
    """The chosen model and why, as recorded in the request log. ``score`` is the router's estimate that the
    request needs the larger model (higher means harder), or a cascade's confidence once judged; ``threshold``
    is the cut it was compared with."""

    model: str
    policy: str
    reason: str
    score: float | None = None
    threshold: float | None = None
    #: models tried before ``model`` answered (a cascade's escalation, or fallbacks)
    attempted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    """An escalating policy's judgement of a first answer: keep it, or escalate to ``escalate_to``.

    ``score`` is the confidence the judgement read (None when the signal was missing); ``extra`` are completions
    the judgement itself paid for (a consistency cascade's samples), which the request's cost includes."""

    accept: bool
    reason: str
    score: float | None = None
    escalate_to: str | None = None
    extra: tuple[Completion, ...] = ()

    def __post_init__(self) -> None:
        if not self.accept and not self.escalate_to:
            raise ValueError("a verdict that escalates must name the model to escalate to")


#: another sample of the first model's answer, at a temperature above 0 and the given sample index (its seed)
Resample = Callable[[int], Awaitable[Completion]]


@runtime_checkable
class Policy(Protocol):
    """Anything that picks a model for a prompt: ``decide(prompt, task) -> Decision``, with no model call."""

    name: str

    def decide(self, prompt: str, task: str | None = None) -> Decision:
        """The model for ``prompt`` (of task type ``task``, when known), and why."""
        ...


@runtime_checkable
class Escalating(Policy, Protocol):
    """A policy that judges the first answer before it is kept.

    ``judge`` returns None when it has nothing to say about this answer (it came from a model the policy does
    not judge), else a :class:`Verdict`. ``resample`` draws further answers from the first model when the
    signal needs them."""

    async def judge(self, first: Completion, prompt: str, task: str | None,
                    resample: Resample) -> Verdict | None:
        """Keep ``first``, escalate, or None when this answer is not the policy's to judge."""
        ...


@dataclass(frozen=True)
class FixedPolicy:
    """Every request to ``model``, with ``reason`` in the log. ``auto`` is one of these, naming the large tier, until a
    routing policy is configured or learned: nothing goes to a smaller model on a guess."""

    model: str
    name: str = "auto"
    reason: str = "every request to one model"

    def decide(self, prompt: str, task: str | None = None) -> Decision:
        """``model``, whatever the prompt."""
        return Decision(model=self.model, policy=self.name, reason=self.reason)


@dataclass
class ThresholdPolicy:
    """Route to ``models[-1]`` iff ``score >= threshold``, else ``models[0]``.

    ``models`` are the serving names (cheapest first); they may differ from the names in the outcome data
    the router learned from.
    """

    router: Router
    threshold: float
    models: tuple[str, ...]
    name: str = "auto"
    target: str | None = None

    def __post_init__(self) -> None:
        if len(self.models) < 2:
            raise ConfigError(f"a threshold policy needs two models, got {list(self.models)}")

    def decide(self, prompt: str, task: str | None = None) -> Decision:
        """The strong model iff the router's score reaches the threshold."""
        score = self.router.score(prompt, task)
        strong = score >= self.threshold
        model = self.models[-1] if strong else self.models[0]
        cmp = ">=" if strong else "<"
        return Decision(model=model, policy=self.name, score=score, threshold=self.threshold,
                        reason=f"{self.router.name}: score {score:.3f} {cmp} {self.threshold:.3f}"
                               + (f" ({self.target})" if self.target else ""))


@dataclass
class LadderPolicy:
    """Per-model utility: pick argmax of predicted quality minus ``cost_weight`` x relative cost.

    Needs a router with ``predict_quality`` (the learned ones). ``costs`` are per request, one per model.
    """

    router: Router
    models: tuple[str, ...]
    costs: tuple[float, ...]
    cost_weight: float = 1.0
    name: str = "auto"
    target: str | None = None
    _rel: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.costs) != len(self.models):
            raise ConfigError(f"ladder: {len(self.models)} models but {len(self.costs)} costs")
        if not hasattr(self.router, "predict_quality"):
            raise ConfigError(f"router {self.router.name!r} cannot estimate per-model quality",
                              hint="use a learned router (logistic, gbm, knn) for a ladder")
        c = np.asarray(self.costs, float)
        self._rel = c / c.max() if c.max() > 0 else c

    def utilities(self, prompt: str, task: str | None = None) -> np.ndarray:
        """Shape (n_models,): predicted quality minus cost_weight times each model's cost relative to the
        dearest."""
        q = self.router.predict_quality([prompt], None if task is None else [task])[0]  # type: ignore[attr-defined]
        return q - self.cost_weight * self._rel

    def decide(self, prompt: str, task: str | None = None) -> Decision:
        """The model of highest utility."""
        u = self.utilities(prompt, task)
        j = int(np.argmax(u))
        return Decision(model=self.models[j], policy=self.name, score=float(u[j]), threshold=self.cost_weight,
                        reason=f"ladder: best utility {u[j]:.3f} of {len(u)} models at cost weight "
                               f"{self.cost_weight:g}")
