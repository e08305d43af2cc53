"""The judge: a model grades the answers several tiers gave to one request, when no gold answer is known.

The rubric (:data:`RUBRIC`) asks for one verdict per answer, ``correct`` or ``incorrect``, on its own: the final
answer must be right (the right label, option, yes/no or number); wording and length do not matter; an answer
without a clear final answer is incorrect. The answers are shown as A, B, ... in the order given (the served
answer first), and the judge must reply with exactly one line per answer, ``A: correct`` and so on. Anything else
(a missing line, another word, an extra answer) is off the rubric: :class:`JudgeError`, and the pair is kept
ungraded and logged, never guessed.

How far such a judge agrees with gold is measured, not assumed: docs/confidence-signals.md (the local large tier
judging the demo workload).
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from smallfirst.errors import SmallfirstError
from smallfirst.models.completion import Message
from smallfirst.routing.confidence import transcript

__all__ = ["RUBRIC", "JudgeError", "judge_messages", "parse_verdicts"]

RUBRIC = (
    "Grade each answer to the request on its own; several may be correct, or none. An answer is correct when its "
    "final answer is right: the right label, option, yes or no, or number. Wording, length and reasoning style do "
    "not matter. An answer that gives no clear final answer is incorrect."
)

_INSTRUCTIONS = "Reply with exactly one line per answer and nothing else, in this form:\n{lines}"


class JudgeError(SmallfirstError):
    """The judge could not grade: it answered outside the rubric, or its model failed. The pair stays ungraded."""

    status = 502
    kind = "api_error"
    code = "judge_failed"


def judge_messages(request: Sequence[Message], answers: Sequence[str]) -> list[Message]:
    """The judge's prompt: the rubric, the request, and the answers labelled A, B, ... in order. Raises
    JudgeError for no answers or more than 26."""
    if not answers or len(answers) > 26:
        raise JudgeError(f"a judge grades 1 to 26 answers at a time, got {len(answers)}")
    labels = string.ascii_uppercase[: len(answers)]
    body = [f"Request:\n{transcript(request)}"]
    body += [f"Answer {label}:\n{text.strip() or '(empty)'}" for label, text in zip(labels, answers, strict=True)]
    lines = "\n".join(f"{label}: correct or incorrect" for label in labels)
    return [Message(role="system", content=f"You grade answers. {RUBRIC}"),
            Message(role="user", content="\n\n".join(body) + "\n\n" + _INSTRUCTIONS.format(lines=lines))]


_LINE = re.compile(r"^\s*\**\s*(?:answer\s+)?([A-Z])\s*\**\s*[:\-=]\s*\**\s*(correct|incorrect)\b", re.I | re.M)


def parse_verdicts(text: str, n: int) -> tuple[float, ...]:
    """The judge's reply as one quality per answer (1.0 correct, 0.0 incorrect), in the order given. Raises
    JudgeError when the reply does not grade exactly the ``n`` answers, once each, in the rubric's words."""
    labels = string.ascii_uppercase[:n]
    found: dict[str, float] = {}
    for label, word in _LINE.findall(text):
        label = label.upper()
        if label not in labels or label in found:
            raise JudgeError(f"the judge's reply is off the rubric: it grades answer {label} "
                             f"{'twice' if label in found else 'that does not exist'} ({text.strip()[:120]!r})")
        found[label] = 1.0 if word.lower() == "correct" else 0.0
    missing = [label for label in labels if label not in found]
    if missing:
        raise JudgeError(f"the judge's reply is off the rubric: no verdict for answer {', '.join(missing)} "
                         f"({text.strip()[:120]!r})", hint="the pair stays ungraded; a larger judge model follows "
                                                           "the rubric more reliably")
    return tuple(found[label] for label in labels)
