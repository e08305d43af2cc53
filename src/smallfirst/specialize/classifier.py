"""A text classifier: encoder, features, a linear head and a temperature, trained in one call.

Serving needs numpy, scikit-learn's TF-IDF and the ONNX encoder only; the head's weights are plain arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smallfirst.embeddings.encoder import Encoder
from smallfirst.errors import DataError
from smallfirst.specialize.calibration import expected_calibration_error, fit_temperature, softmax
from smallfirst.specialize.data import LabelledData, stratified_split, validate_labelled
from smallfirst.specialize.embedcache import encode_cached
from smallfirst.specialize.escalation import threshold_for_precision
from smallfirst.specialize.head_features import FeatureConfig, Featuriser

#: (stage, done, total): training and evaluation report through this so the CLI can draw bars
Progress = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """How ``train_classifier`` trains: the features, the linear SVM's C, the share held out for calibration,
    the precision the escalation threshold must reach on that share, and the seed of the split and the SVM."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    #: inverse regularisation of the linear SVM head
    c: float = 0.3
    #: share of the training data held out to fit the temperature and the escalation threshold
    calibration_share: float = 0.15
    #: precision the answered items must reach on the held-out split; the rest escalate
    target_precision: float = 0.99
    seed: int = 0


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    """The calibration split's verdict: the fitted temperature, the escalation threshold (a probability;
    above 1 means "answer nothing"), the head's accuracy there, ECE before (temperature 1) and after scaling, and
    the split's size."""

    temperature: float
    threshold: float
    holdout_accuracy: float
    ece_before: float
    ece_after: float
    n_holdout: int


class TextClassifier:
    """A trained head over k ``classes``: features (embedding plus TF-IDF), a linear layer ``coef`` (k, d) and
    ``intercept`` (k,), a softmax ``temperature``, and the escalation ``threshold`` on the top probability.

    ``encoder`` is loaded lazily (MiniLM) when none is given and no embeddings are passed in."""

    def __init__(
        self,
        classes: Sequence[str],
        featuriser: Featuriser,
        coef: np.ndarray,
        intercept: np.ndarray,
        temperature: float,
        threshold: float,
        encoder: Encoder | None = None,
    ) -> None:
        self.classes = tuple(classes)
        self.featuriser = featuriser
        self.coef = np.asarray(coef, dtype=np.float32)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.temperature = float(temperature)
        self.threshold = float(threshold)
        self._encoder = encoder

    @property
    def encoder(self) -> Encoder:
        """The sentence encoder; MiniLM int8 is loaded on first use when none was given."""
        if self._encoder is None:
            from smallfirst.embeddings.minilm import MiniLMEncoder

            self._encoder = MiniLMEncoder()
        return self._encoder

    def scores(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        """Raw head scores, shape (len(texts), k), before temperature and softmax. ``embeddings`` (n, dim) are the
        encoder's vectors of ``texts`` when the caller has them (e.g. from the embedding cache)."""
        emb = self.encoder.encode(list(texts)) if embeddings is None else embeddings
        return _scores(self.featuriser.transform(texts, emb), self.coef, self.intercept)

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        """Calibrated class probabilities, columns in ``self.classes`` order."""
        return softmax(self.scores(texts, embeddings), self.temperature)

    def predict(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> list[str]:
        """The most probable class of each text (no escalation: see ``threshold`` for that)."""
        return [self.classes[i] for i in self.predict_proba(texts, embeddings).argmax(axis=1)]


def _scores(x: Any, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    return np.asarray(x @ coef.T, dtype=np.float32) + intercept


def _fit_head(x: Any, y: np.ndarray, n_classes: int, c: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.svm import LinearSVC

    svm = LinearSVC(C=c, random_state=seed).fit(x, y)
    coef, intercept = svm.coef_.astype(np.float32), svm.intercept_.astype(np.float32)
    if n_classes == 2:
        # a binary SVM scores only the positive class; a zero row for the negative one makes softmax a sigmoid
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros(1, np.float32), intercept])
    return coef, intercept


def train_classifier(
    data: LabelledData,
    *,
    encoder: Encoder | None = None,
    config: TrainConfig | None = None,
    progress: Progress = _quiet,
    embeddings: np.ndarray | None = None,
) -> tuple[TextClassifier, CalibrationReport]:
    """Fit on a held-in split, calibrate on the held-out one, then refit on all data with that temperature."""
    config = config or TrainConfig()
    data = validate_labelled(data)
    if encoder is None:
        from smallfirst.embeddings.minilm import MiniLMEncoder

        encoder = MiniLMEncoder()
    classes = data.classes
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[v] for v in data.labels])
    texts = list(data.texts)
    done = 0

    def _tick(n: int) -> None:
        nonlocal done
        done += n
        progress("embed", done, len(texts))

    emb = encode_cached(encoder, texts, progress=_tick) if embeddings is None else embeddings
    fit_idx, hold_idx = stratified_split(y, config.calibration_share, config.seed)
    if len(hold_idx) == 0:
        raise DataError(
            "too little data to hold out a calibration split",
            hint="give at least three examples of some classes",
        )
    steps = 3
    progress("fit", 0, steps)
    feats = Featuriser(config.features).fit([texts[i] for i in fit_idx])
    coef, icpt = _fit_head(
        feats.transform([texts[i] for i in fit_idx], emb[fit_idx]),
        y[fit_idx],
        len(classes),
        config.c,
        config.seed,
    )
    hold_scores = _scores(feats.transform([texts[i] for i in hold_idx], emb[hold_idx]), coef, icpt)
    progress("fit", 1, steps)
    y_hold = y[hold_idx]
    temperature = fit_temperature(hold_scores, y_hold)
    proba = softmax(hold_scores, temperature)
    correct = proba.argmax(axis=1) == y_hold
    threshold = threshold_for_precision(proba.max(axis=1), correct, config.target_precision)
    report = CalibrationReport(
        temperature=temperature,
        threshold=threshold,
        holdout_accuracy=float(correct.mean()),
        ece_before=expected_calibration_error(softmax(hold_scores), y_hold),
        ece_after=expected_calibration_error(proba, y_hold),
        n_holdout=len(hold_idx),
    )
    progress("fit", 2, steps)
    feats = Featuriser(config.features).fit(texts)
    coef, icpt = _fit_head(feats.transform(texts, emb), y, len(classes), config.c, config.seed)
    progress("fit", 3, steps)
    return TextClassifier(classes, feats, coef, icpt, temperature, threshold, encoder), report
