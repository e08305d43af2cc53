"""One call from a labelled (or teacher-labelled, or logged) data set to a registered, evaluated tier."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from smallfirst.errors import DataError
from smallfirst.specialize.artifact import ArtifactInfo, save_artifact
from smallfirst.specialize.classifier import (
    CalibrationReport,
    Progress,
    TrainConfig,
    _quiet,
    train_classifier,
)
from smallfirst.specialize.data import LabelledData, load_labelled, validate_labelled, without_rare_classes
from smallfirst.specialize.embedcache import encode_cached
from smallfirst.specialize.escalation import EscalationReport, escalation_report
from smallfirst.specialize.registration import check_name, default_artifact_path, register_tier

if TYPE_CHECKING:
    from smallfirst.config import Settings


@dataclass(frozen=True, slots=True)
class EvalReport:
    """A classifier on n held-out labelled items: accuracy (0..1) and escalation at its own threshold."""

    n: int
    accuracy: float
    escalation: EscalationReport
    #: labels in the eval file the model never saw in training
    unseen_labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SpecializeResult:
    """What ``specialize`` did: the tier name, the data's source and size, the classes, the calibration split's
    report, the evaluation (when an eval file was given), the saved artefact and the tier manifest that makes
    it routable."""

    task: str
    source: str
    n_train: int
    classes: tuple[str, ...]
    calibration: CalibrationReport
    evaluation: EvalReport | None
    artifact: ArtifactInfo
    tier_manifest: Path
    #: distillation: share of held-out training texts where the student agrees with the teacher
    teacher_agreement: float | None = None
    #: distillation: student accuracy against gold labels in the training file, where present
    gold_accuracy: float | None = None
    #: distillation: classes the teacher (or log) gave too rarely to learn, with their counts; left out
    dropped_classes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Predictions:
    """A classifier's calibrated answers on n labelled texts with k known classes.

    ``proba`` (n, k) float32, columns in ``classes`` order; ``y`` (n,) int, the gold label's column or -1 for a
    label the classifier never saw; ``correct`` (n,) bool, whether the most probable class is the gold one."""

    classes: tuple[str, ...]
    proba: np.ndarray
    y: np.ndarray
    correct: np.ndarray

    @property
    def confidence(self) -> np.ndarray:
        """(n,) the probability of each answered class: what the escalation threshold compares against."""
        return self.proba.max(axis=1)


def predict(  # type: ignore[no-untyped-def]
    clf, data: LabelledData, encoder=None, progress: Progress = _quiet, *, embeddings: np.ndarray | None = None
) -> Predictions:
    """Run ``clf`` (a ``TextClassifier``) over ``data`` and compare with its labels.

    ``embeddings`` (n, dim), when given, must be ``encoder``'s vectors of ``data.texts`` in order; otherwise they
    come from the on-disk embedding cache (``encode_cached``) with ``encoder``, or the classifier's own encoder
    when ``encoder`` is None. ``progress("evaluate", done, n)`` reports encoding."""
    texts = list(data.texts)
    if embeddings is None:
        done = 0

        def _tick(n: int) -> None:
            nonlocal done
            done += n
            progress("evaluate", done, len(texts))

        embeddings = encode_cached(encoder or clf.encoder, texts, progress=_tick)
    proba = clf.predict_proba(texts, embeddings)
    index = {c: i for i, c in enumerate(clf.classes)}
    y = np.array([index.get(v, -1) for v in data.labels], dtype=int)
    return Predictions(tuple(clf.classes), proba, y, proba.argmax(axis=1) == y)


def evaluate(  # type: ignore[no-untyped-def]
    clf, data: LabelledData, encoder, progress: Progress = _quiet, *, embeddings: np.ndarray | None = None
) -> EvalReport:
    """Accuracy and escalation of ``clf`` on held-out labelled ``data`` (see ``predict`` for the arguments).

    The escalation figures use the classifier's own threshold (set on its calibration split) and assume an
    escalated item is answered right (``escalation_report`` with no fallback)."""
    pred = predict(clf, data, encoder, progress, embeddings=embeddings)
    return EvalReport(
        n=len(data),
        accuracy=float(pred.correct.mean()),
        escalation=escalation_report(pred.confidence, pred.correct, clf.threshold),
        unseen_labels=tuple(sorted(set(data.labels) - set(clf.classes))),
    )


def specialize(
    task: str,
    settings: Settings,
    *,
    train: str | Path | None = None,
    eval_file: str | Path | None = None,
    text_col: str = "text",
    label_col: str = "label",
    teacher: str | None = None,
    labels_from_log: bool = False,
    log_model: str | None = None,
    classes: Sequence[str] | None = None,
    artifact: str | Path | None = None,
    config: TrainConfig | None = None,
    progress: Progress = _quiet,
) -> SpecializeResult:
    """Train a classifier for niche ``task`` and register it as a model tier of that name.

    The labels come from one of: ``train`` (a CSV, TSV or JSONL file with ``text_col`` and ``label_col``),
    ``teacher`` (a configured model labels ``train``'s texts, into ``classes`` when given, else into the file's own
    labels if it has them, else with short labels of its own), or ``labels_from_log`` (what ``log_model``, default
    the large tier, answered in the request log). A teacher's or the log's classes seen fewer than ``MIN_PER_CLASS``
    times are dropped and reported; a user's own rare classes are refused. ``eval_file`` (same columns) is scored
    after training. The artefact goes to ``artifact`` or ``<home>/specialized/<task>/artifact``, replacing an older
    one only once whole. Raises ConfigError for an invalid name, DataError for missing or unusable data,
    UpstreamError when the teacher fails."""
    check_name(task)
    config = config or TrainConfig()
    gold: LabelledData | None = None
    dropped: dict[str, int] = {}
    if labels_from_log:
        data, dropped = without_rare_classes(labels_from_log_data(settings, task, log_model, classes))
        data = validate_labelled(data)
    elif teacher:
        if train is None:
            raise DataError("--teacher needs --train FILE with the texts to label", hint="pass --train FILE")
        raw = load_labelled(train, text_col=text_col, label_col=None)
        try:
            gold = load_labelled(train, text_col=text_col, label_col=label_col, min_per_class=1)
        except DataError:
            gold = None
        allowed = list(classes) if classes else (list(gold.classes) if gold else None)
        from smallfirst.specialize.distill import label_with_teacher

        texts = [t for t in raw.texts if t.strip()]
        labels, _ = label_with_teacher(
            teacher, texts, settings, labels=allowed, progress=lambda d, n: progress("teacher", d, n)
        )
        labelled = LabelledData(tuple(texts), tuple(labels), f"{train} labelled by {teacher}")
        data, dropped = without_rare_classes(labelled)
        data = validate_labelled(data)
    else:
        if train is None:
            raise DataError("no training data", hint="pass --train FILE, or --labels-from-log")
        data = load_labelled(train, text_col=text_col, label_col=label_col)
    from smallfirst.embeddings.minilm import MiniLMEncoder

    encoder = MiniLMEncoder(threads=settings.threads)
    clf, cal = train_classifier(data, encoder=encoder, config=config, progress=progress)
    report = None
    if eval_file is not None:
        report = evaluate(
            clf,
            load_labelled(eval_file, text_col=text_col, label_col=label_col, min_per_class=1),
            encoder,
            progress,
        )
    gold_acc = None
    if gold is not None:
        gold_acc = evaluate(clf, gold, encoder).accuracy if report is None else report.accuracy
    metrics = {"holdout_accuracy": cal.holdout_accuracy, "temperature": cal.temperature, "ece": cal.ece_after}
    if report is not None:
        metrics.update(
            eval_accuracy=report.accuracy,
            eval_n=report.n,
            eval_answered_share=report.escalation.answered_share,
            eval_answered_accuracy=report.escalation.answered_accuracy,
        )
    path = Path(artifact) if artifact else default_artifact_path(settings.home, task)
    info = save_artifact(
        clf,
        path,
        name=task,
        task=task,
        data_sha256=data.sha256,
        n_train=len(data),
        target_precision=config.target_precision,
        metrics=metrics,
    )
    manifest = register_tier(settings.home, task, info.path)
    return SpecializeResult(
        task=task,
        source=data.source,
        n_train=len(data),
        classes=clf.classes,
        calibration=cal,
        evaluation=report,
        artifact=info,
        tier_manifest=manifest,
        teacher_agreement=cal.holdout_accuracy if teacher else None,
        gold_accuracy=gold_acc,
        dropped_classes=dropped,
    )


def labels_from_log_data(
    settings: Settings, task: str, model: str | None, classes: Sequence[str] | None
) -> LabelledData:
    """Training pairs from the request log: prompts ``model`` (default the configured large tier) answered,
    its answers mapped onto ``classes``. ``task`` names the new tier only: logged requests are not filtered by
    it. Raises DataError when the log holds no usable answers."""
    from smallfirst.specialize.distill import labels_from_log

    # the tier's own name rarely matches a logged task, so the log is filtered by the answering model only
    return labels_from_log(settings, model=model or settings.routing.large, labels=classes)
