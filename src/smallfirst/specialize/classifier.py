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
from smallfirst.specialize.data import LabelledData, validate_labelled
from smallfirst.specialize.embedcache import encode_cached
from smallfirst.specialize.escalation import threshold_for_precision
from smallfirst.specialize.head_features import FeatureConfig, Featuriser

#: (stage, done, total): training and evaluation report through this so the CLI can draw bars
Progress = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class TrainConfig:
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
    temperature: float
    threshold: float
    holdout_accuracy: float
    ece_before: float
    ece_after: float
    n_holdout: int


class TextClassifier:
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
        if self._encoder is None:
            from smallfirst.embeddings.minilm import MiniLMEncoder

            self._encoder = MiniLMEncoder()
        return self._encoder

    def scores(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        emb = self.encoder.encode(list(texts)) if embeddings is None else embeddings
        return _scores(self.featuriser.transform(texts, emb), self.coef, self.intercept)

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        """Calibrated class probabilities, columns in ``self.classes`` order."""
        return softmax(self.scores(texts, embeddings), self.temperature)

    def predict(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> list[str]:
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


def _split(y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified holdout that leaves every class at least two training examples."""
    rng = np.random.default_rng(seed)
    train, hold = [], []
    for k in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == k))
        n_hold = min(int(round(len(idx) * share)), max(len(idx) - 2, 0))
        n_hold = max(n_hold, 1) if len(idx) >= 3 else n_hold
        hold.extend(idx[:n_hold])
        train.extend(idx[n_hold:])
    return np.sort(np.array(train, dtype=int)), np.sort(np.array(hold, dtype=int))


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

    def tick(n: int) -> None:
        nonlocal done
        done += n
        progress("embed", done, len(texts))

    emb = encode_cached(encoder, texts, progress=tick) if embeddings is None else embeddings
    fit_idx, hold_idx = _split(y, config.calibration_share, config.seed)
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
