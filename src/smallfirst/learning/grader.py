"""Grade the answers of one outcome row, by the best evidence at hand, into the outcome format's ``quality``.

In order of trust:

1. ``gold``: the right answer, from the request's ``smallfirst`` object or from feedback. Each answer is graded
   against it by the task's grader (``smallfirst.tasks.grading``: the final number for GSM8K, the option letter for
   MMLU, the label for classification tasks, else an exact match after normalising).
2. ``feedback``: a user's score (0..1) for the served answer. It grades the served answer; another tier's answer
   gets the same score where the two say the same thing (same extracted answer, or the same text), and 0 where a
   closed-answer task (a label, an option, yes/no, a number) was answered right and the other answer differs;
   otherwise it needs gold or the judge.
3. ``judge``: the judge's verdicts (``learning.judge``), for every answer.

A row is graded only when every answer has a quality; until then it stays pending, with a note saying what it
waits for.
"""

from __future__ import annotations

from collections.abc import Mapping

from smallfirst.tasks import grading, sources

__all__ = ["by_feedback", "by_gold", "same_answer"]


def _labels(task: str | None) -> tuple[str, ...]:
    try:
        return sources.labels_for(task or "")
    except Exception:  # noqa: BLE001 - a label set that cannot be read leaves the grader to exact matching
        return ()


def by_gold(task: str | None, answers: Mapping[str, str], gold: str) -> dict[str, float]:
    """Quality (0 or 1) of each model's answer against ``gold``."""
    t = task or "general"
    labels = _labels(task)
    return {model: grading.grade(t, text, gold, labels) for model, text in answers.items()}


_CLOSED = ("gsm8k", "mmlu", "cuad")


def _closed(task: str | None) -> bool:
    return (task or "").split("/")[0] in _CLOSED or bool(_labels(task))


def same_answer(task: str | None, a: str, b: str) -> bool:
    """True when two answers give the same final answer (by the task's extractor), or the same text."""
    t = task or "general"
    labels = _labels(task)
    ea, eb = grading.extract(t, a, labels), grading.extract(t, b, labels)
    if ea is not None and eb is not None:
        return grading.grade(t, a, eb, labels) == 1.0
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def by_feedback(task: str | None, answers: Mapping[str, str], served: str, score: float) -> dict[str, float | None]:
    """The served answer gets ``score``; another answer the same score where it says the same thing, 0 where a
    closed-answer task's served answer was right (score 1) and it says something else, else None (ungraded by
    feedback alone)."""
    out: dict[str, float | None] = {}
    for model, text in answers.items():
        if model == served or same_answer(task, text, answers[served]):
            out[model] = score
        else:
            out[model] = 0.0 if score >= 1.0 and _closed(task) else None
    return out
