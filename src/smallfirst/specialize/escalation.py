"""Out-of-scope handling: answer locally only above a confidence threshold, escalate below it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def threshold_for_precision(confidence: np.ndarray, correct: np.ndarray, target: float = 0.99) -> float:
    """The lowest threshold whose answered items (confidence >= threshold) reach ``target`` precision.

    Scans thresholds from the most confident item down and keeps the lowest one still on target, so the
    share answered is as large as the held-out data allow. Returns 1.0+ (answer nothing) if none is."""
    order = np.argsort(-confidence, kind="stable")
    conf = confidence[order]
    hits = np.cumsum(correct[order].astype(float))
    precision = hits / np.arange(1, len(conf) + 1)
    best = float(np.nextafter(1.0, 2.0))
    for i in range(len(conf)):
        # only cut between distinct confidences: equal scores are answered together or not at all
        if (i + 1 == len(conf) or conf[i + 1] < conf[i]) and precision[i] >= target:
            best = float(conf[i])
    return best


@dataclass(frozen=True, slots=True)
class EscalationReport:
    """What escalating below ``threshold`` does on n items: the share answered locally, their accuracy (NaN when
    none is answered), and the accuracy of the whole pipeline."""

    threshold: float
    answered_share: float
    answered_accuracy: float
    #: accuracy when escalated items get the fallback's answers (or count as right, if it is an oracle)
    pipeline_accuracy: float
    n: int


def escalation_report(
    confidence: np.ndarray, correct: np.ndarray, threshold: float, fallback_correct: np.ndarray | None = None
) -> EscalationReport:
    """``fallback_correct`` is whether the larger model got each item right; None assumes it always does."""
    answered = confidence >= threshold
    fb = np.ones_like(correct, dtype=bool) if fallback_correct is None else fallback_correct.astype(bool)
    final = np.where(answered, correct, fb)
    return EscalationReport(
        threshold=float(threshold),
        answered_share=float(answered.mean()),
        answered_accuracy=float(correct[answered].mean()) if answered.any() else float("nan"),
        pipeline_accuracy=float(final.mean()),
        n=int(len(correct)),
    )
