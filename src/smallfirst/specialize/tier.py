"""A trained classifier served as a model tier: the registry's ``"classifier"`` backend.

``complete`` classifies the last user message and answers with the label. Its one logprob is the log of
the calibrated probability of that label, so a cascade reads the confidence as it does any model's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from smallfirst.errors import ConfigError, DataError
from smallfirst.models.completion import Chunk, Completion, Message, TokenLogprob, Usage
from smallfirst.specialize.artifact import ArtifactInfo, load_artifact
from smallfirst.specialize.classifier import TextClassifier

if TYPE_CHECKING:
    from smallfirst.config import ModelSpec, Settings


def _last_user(messages: Sequence[Message]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            content = m.get("content")
            return content if isinstance(content, str) else str(content or "")
    raise DataError(
        "a classifier tier needs a user message to classify", hint="send one message with role 'user'"
    )


class ClassifierModel:
    """A trained classifier behind the ``Model`` contract, so routing, pricing and the log treat it as any tier.

    ``info`` is the artefact's manifest, or None for a head trained in this process and never saved."""

    kind = "local"
    #: the encoder truncates long inputs instead of failing on them
    context_length: int | None = None

    def __init__(self, name: str, classifier: TextClassifier, info: ArtifactInfo | None = None) -> None:
        self.name = name
        self.classifier = classifier
        self.info = info

    @property
    def threshold(self) -> float:
        """Confidence below which answers escalate (set for the target precision on held-out data)."""
        return self.classifier.threshold

    @property
    def logprob_threshold(self) -> float:
        """``threshold`` as a log-probability (natural log), the scale a cascade compares a completion's logprob
        on."""
        return math.log(max(self.classifier.threshold, 1e-12))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, shape (len(texts), k), columns in the classifier's class order."""
        return self.classifier.predict_proba(texts)

    def _count_tokens(self, text: str) -> int:
        tok = getattr(self.classifier.encoder, "tokenizer", None)
        if tok is None:
            return max(1, len(text.split()))
        return len(tok.encode(text).ids)

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """Classify the last user message: the label as text, one completion token, prompt tokens counted by the
        encoder's tokenizer, and one logprob (the label's calibrated probability, natural log). Sampling
        ``params`` are accepted and ignored. Raises DataError when no message has role "user"."""
        text = _last_user(messages)
        start = time.perf_counter()
        proba = self.classifier.predict_proba([text])[0]
        best = int(proba.argmax())
        wall = time.perf_counter() - start
        label = self.classifier.classes[best]
        return Completion(
            model=self.name,
            text=label,
            finish_reason="stop",
            usage=Usage(prompt_tokens=self._count_tokens(text), completion_tokens=1),
            wall_seconds=wall,
            ttft_seconds=wall,
            logprobs=(TokenLogprob(label, float(np.log(max(proba[best], 1e-12)))),),
            kind="local",
        )

    def stream(self, messages: Sequence[Message], **params: Any) -> Iterator[Chunk]:
        """The answer of ``complete`` as two chunks: the label, then the finish carrying the completion."""
        c = self.complete(messages, **params)
        yield Chunk(text=c.text)
        yield Chunk(text="", finish_reason=c.finish_reason, completion=c)

    def close(self) -> None:
        """Drop the encoder (its ONNX session); it is loaded again if the model is used after."""
        self.classifier._encoder = None


def build(name: str, spec: ModelSpec, settings: Settings) -> ClassifierModel:
    """The registry's factory for ``backend = "classifier"``: load ``spec.artifact`` (checked against its
    manifest) and warm the encoder with ``spec.n_threads`` or the configured threads. Raises ConfigError when no
    artefact is named, ModelFileError when it is missing, corrupt or of another format."""
    if not spec.artifact:
        raise ConfigError(
            f"model {name!r} has backend 'classifier' but no artifact path",
            hint="set artifact = '<path>' or register it with `smallfirst specialize`",
        )
    clf, info = load_artifact(spec.artifact)
    from smallfirst.embeddings.minilm import MiniLMEncoder

    # Load and warm the encoder here, as a GGUF backend loads its weights at build time: the first request's
    # measured wall time (and so its price) must not include opening the ONNX session.
    clf._encoder = MiniLMEncoder(threads=spec.n_threads or settings.threads)
    clf.predict_proba(["warm up"])
    return ClassifierModel(name, clf, info)
