"""Answer extractors per task type: turn a model's free text into the answer it gives, then compare."""

from __future__ import annotations

import re

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")


def extract(task: str, text: str, labels: tuple[str, ...] = ()) -> str | None:
    """The answer a model's free ``text`` gives for a ``task`` item, or None when it gives none.

    By task family (the part of ``task`` before "/"): gsm8k, the number after "####" or "answer is", else the
    last number, commas dropped; mmlu, the letter A-D after "answer" or at the start; cuad, the first Yes or No;
    with ``labels`` (classification), the label the text is (case and punctuation aside), else the longest label
    it mentions; any other task, the stripped text."""
    family = task.split("/")[0]
    t = text.strip()
    if family == "gsm8k":
        marked = re.search(r"####\s*(-?[\d,\.]+)", t) or re.search(r"answer is[:\s]*\$?(-?[\d,\.]+)", t, re.I)
        nums = [marked.group(1)] if marked else _NUMBER.findall(t)
        if not nums:
            return None
        value = nums[-1].replace(",", "").rstrip(".")
        try:
            f = float(value)
        except ValueError:
            return None
        return str(int(f)) if f == int(f) else str(f)
    if family == "mmlu":
        m = re.search(r"(?:answer(?: is)?[:\s]*\(?)([ABCD])\b", t, re.I) or re.match(r"\(?([ABCD])\b", t)
        return m.group(1).upper() if m else None
    if family == "cuad":
        m = re.search(r"\b(yes|no)\b", t, re.I)
        return m.group(1).capitalize() if m else None
    if labels:
        # Classification: the label named in the answer; prefer an exact label, then the longest mention.
        normed = _norm(t)
        for label in labels:
            if normed == _norm(label):
                return label
        mentioned = [lab for lab in labels if _norm(lab) in normed]
        return max(mentioned, key=len) if mentioned else None
    return t


def grade(task: str, text: str, gold: str, labels: tuple[str, ...] = ()) -> float:
    """1.0 when the extracted answer matches gold, else 0.0."""
    answer = extract(task, text, labels)
    if answer is None:
        return 0.0
    family = task.split("/")[0]
    if family == "gsm8k":
        try:
            return float(abs(float(answer) - float(gold.replace(",", ""))) < 1e-6)
        except ValueError:
            return 0.0
    return float(_norm(answer) == _norm(gold))
