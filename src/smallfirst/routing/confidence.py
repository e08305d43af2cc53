"""Confidence signals: how sure a model is of one answer, read off that answer (higher means surer).

A cascade keeps the small model's answer when its confidence reaches a threshold, so a signal is worth serving
only if it separates right answers from wrong ones (its AUROC for "the answer is right" is above 0.5; see
``smallfirst.evaluate.separation`` and docs/confidence-signals.md). The signals:

* read off the answer's token log-probabilities (no extra call): ``logprob`` (mean token log-probability),
  ``min-logprob`` (the least likely token), ``margin`` (mean gap between the two most likely tokens of each
  step, in nats) and ``entropy`` (minus the mean entropy of each step's top alternatives, in nats);
* ``consistency``: the share of extra samples (temperature above 0) that agree with the first answer;
* ``ptrue``: the model's own probability that its answer is correct when asked (Kadavath et al. 2022,
  "Language Models (Mostly) Know What They Know": P(True)), one extra short call.

The entropy is over the alternatives the backend reports (the top five by default), renormalised: the tail
beyond them is ignored, as an API that returns ``top_logprobs`` allows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from smallfirst.models.completion import Completion, Message

__all__ = ["TOKEN_SIGNALS", "agreement", "normalise", "p_true", "self_check_messages", "token_signal", "transcript"]

#: signals read off one answer's token log-probabilities
TOKEN_SIGNALS = ("logprob", "min-logprob", "margin", "entropy")


def token_signal(completion: Completion, signal: str) -> float | None:
    """The ``signal`` (one of :data:`TOKEN_SIGNALS`) of ``completion``, or None when the backend returned no
    log-probabilities (or, for ``margin`` and ``entropy``, no alternatives). Raises ValueError for another name."""
    lps = completion.logprobs
    if not lps:
        return None
    if signal == "logprob":
        return sum(t.logprob for t in lps) / len(lps)
    if signal == "min-logprob":
        return min(t.logprob for t in lps)
    if signal not in ("margin", "entropy"):
        raise ValueError(f"unknown token signal {signal!r}; known: {', '.join(TOKEN_SIGNALS)}")
    values = []
    for t in lps:
        alts = [a.logprob for a in t.top]
        if signal == "margin":
            if len(alts) >= 2:
                values.append(alts[0] - alts[1])
        elif alts:
            probs = [math.exp(lp) for lp in alts]
            total = sum(probs)
            values.append(sum(p / total * math.log(p / total) for p in probs if p > 0))
    return sum(values) / len(values) if values else None


def normalise(text: str) -> str:
    """The form two answers are compared in: lower case, single spaces, the first 200 characters."""
    return " ".join(text.lower().split())[:200]


def agreement(first: str, samples: Sequence[str]) -> float:
    """The share of ``samples`` equal to ``first`` once normalised (0..1). Raises ValueError without samples."""
    if not samples:
        raise ValueError("agreement needs at least one sample")
    anchor = normalise(first)
    return sum(normalise(s) == anchor for s in samples) / len(samples)


def transcript(messages: Sequence[Message]) -> str:
    """A request as one text: every turn, labelled by its role (what a self-check or a judge reads)."""
    return "\n\n".join(f"{str(m.get('role', 'user')).capitalize()}: {m.get('content') or ''}" for m in messages)


_SELF_CHECK = ("Here is a request and a proposed answer.\n\nRequest:\n{request}\n\nProposed answer:\n{answer}\n\n"
               "Is the proposed answer correct? Reply with Yes or No only.")


def self_check_messages(request: Sequence[Message], answer: str) -> list[Message]:
    """The P(True) question put back to the model that answered: is this answer to this request correct?"""
    return [Message(role="user", content=_SELF_CHECK.format(request=transcript(request), answer=answer.strip()))]


def p_true(check: Completion) -> float | None:
    """P(Yes) / (P(Yes) + P(No)) at the first token of the answer to :func:`self_check_messages`, from that token
    and its alternatives (0..1); None without log-probabilities or when neither word is among them."""
    if not check.logprobs:
        return None
    first = check.logprobs[0]
    yes = no = 0.0
    seen: set[str] = set()
    for token, lp in ((first.token, first.logprob), *((a.token, a.logprob) for a in first.top)):
        word = token.strip().lower()
        if token in seen:
            continue
        seen.add(token)
        if word in ("yes", "y"):
            yes += math.exp(lp)
        elif word in ("no", "n"):
            no += math.exp(lp)
    return yes / (yes + no) if yes + no > 0 else None


def verifier_features(prompt: str, completion: Completion) -> list[float]:
    """What a small verifier reads about one answer: the four token signals (0 where missing), the log of the
    answer's and the prompt's length in characters, and the number of generated tokens (log). Shape (7,)."""
    stats = [token_signal(completion, s) for s in TOKEN_SIGNALS]
    return [*(0.0 if v is None else float(v) for v in stats), math.log1p(len(completion.text)),
            math.log1p(len(prompt)), math.log1p(completion.usage.completion_tokens)]
