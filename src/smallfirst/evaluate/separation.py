"""How well a confidence signal separates a model's right answers from its wrong ones: the AUROC per task.

AUROC is the probability that a random right answer scores above a random wrong one (ties count half): 0.5 is
random, 1.0 separates perfectly. Its standard error is Hanley and McNeil's (1982, "The meaning and use of the
area under a ROC curve", Radiology 143), so a table can say whether a signal beats random by more than noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Separation", "auroc", "cross_fitted_verifier", "hanley_mcneil_se", "markdown", "separation_table"]


def auroc(scores: Sequence[float], right: Sequence[bool]) -> float:
    """AUROC of ``scores`` (higher: surer) for ``right``; NaN when all answers are right or all wrong. Raises
    ValueError when the lengths differ."""
    s = np.asarray(scores, float)
    y = np.asarray(right, bool)
    if s.shape != y.shape:
        raise ValueError(f"{len(s)} scores but {len(y)} labels")
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    # Mann-Whitney U from average ranks (ties get the mean rank, so they count half)
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[y].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def hanley_mcneil_se(a: float, n_right: int, n_wrong: int) -> float:
    """The standard error of an AUROC ``a`` measured on ``n_right`` right and ``n_wrong`` wrong answers
    (Hanley and McNeil 1982, their equation 2); NaN when either count is zero."""
    if n_right == 0 or n_wrong == 0 or math.isnan(a):
        return float("nan")
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_right - 1) * (q1 - a * a) + (n_wrong - 1) * (q2 - a * a)) / (n_right * n_wrong)
    return math.sqrt(max(var, 0.0))


@dataclass(frozen=True, slots=True)
class Separation:
    """One cell of the table: ``signal`` on ``task``, measured on ``n`` answers (``n_right`` of them right) that
    carried the signal (``missing`` did not)."""

    signal: str
    task: str
    n: int
    n_right: int
    auroc: float
    se: float
    missing: int = 0

    @property
    def beats_random(self) -> bool:
        """True when the AUROC is above 0.5 by more than two standard errors."""
        return not math.isnan(self.auroc) and self.auroc - 2 * self.se > 0.5


def separation_table(signals: Mapping[str, Sequence[float | None]], right: Sequence[bool],
                     tasks: Sequence[str]) -> list[Separation]:
    """Per signal, one row per task plus one over all tasks ("all"). ``signals`` maps a signal's name to one
    value per answer (None where the answer lacks it); ``right`` and ``tasks`` have one entry per answer."""
    out = []
    names = sorted(set(tasks))
    for signal, values in signals.items():
        if len(values) != len(right) or len(tasks) != len(right):
            raise ValueError(f"signal {signal!r}: {len(values)} values, {len(right)} labels, {len(tasks)} tasks")
        for task in [*names, "all"]:
            idx = [i for i, t in enumerate(tasks) if task == "all" or t == task]
            have = [i for i in idx if values[i] is not None and not math.isnan(float(values[i]))]  # type: ignore[arg-type]
            y = [bool(right[i]) for i in have]
            a = auroc([float(values[i]) for i in have], y) if have else float("nan")  # type: ignore[arg-type]
            n_right = sum(y)
            out.append(Separation(signal, task, len(have), n_right, a,
                                  hanley_mcneil_se(a, n_right, len(have) - n_right), len(idx) - len(have)))
    return out


def markdown(rows: Sequence[Separation]) -> str:
    """The table as Markdown: one row per signal, one column per task, each cell "AUROC ± SE" (bold when it beats
    random by more than two standard errors)."""
    tasks = sorted({r.task for r in rows} - {"all"}) + ["all"]
    signals = list(dict.fromkeys(r.signal for r in rows))
    cell = {(r.signal, r.task): r for r in rows}
    head = ["signal", *[f"{t} (n={cell[(signals[0], t)].n})" if (signals[0], t) in cell else t for t in tasks]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in signals:
        cells = []
        for t in tasks:
            r = cell.get((s, t))
            if r is None or math.isnan(r.auroc):
                cells.append("-")
                continue
            text = f"{r.auroc:.3f} ± {r.se:.3f}" + (f" ({r.missing} missing)" if r.missing else "")
            cells.append(f"**{text}**" if r.beats_random else text)
        lines.append("| " + " | ".join([s, *cells]) + " |")
    return "\n".join(lines) + "\n"


def cross_fitted_verifier(features: np.ndarray, right: Sequence[bool], tasks: Sequence[str], *, k: int = 5,
                          seed: int = 0) -> np.ndarray:
    """Out-of-fold P(right) from a small verifier: logistic regression on ``features`` (n_answers, n_features; see
    ``routing.confidence.verifier_features``) plus the task family one-hot, standardised, fitted on the other
    ``k - 1`` folds (stratified by ``right``). Shape (n_answers,)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(right, bool)
    families = sorted({t.split("/")[0] for t in tasks})
    onehot = np.array([[float(t.split("/")[0] == f) for f in families] for t in tasks])
    x = np.hstack([np.asarray(features, float), onehot])
    out = np.full(len(y), np.nan)
    folds = min(k, int(y.sum()), int((~y).sum()))
    if folds < 2:
        return out
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)).fit(x[train], y[train])
        out[test] = model.predict_proba(x[test])[:, 1]
    return out
