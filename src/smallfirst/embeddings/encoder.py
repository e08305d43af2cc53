"""The encoder contract: texts in, one L2-normalised float32 vector per text out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Encoder(Protocol):
    """A sentence encoder. ``name`` identifies its vectors (the embedding cache is keyed by it, so two encoders
    must never share one); ``dim`` is the vector length."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Shape (len(texts), dim) float32, each row of unit L2 norm (an empty text may give a zero row);
        ``batch_size`` bounds the texts run through the model at once."""
        ...
