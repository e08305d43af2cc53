"""Token counts from a real tokenizer where a model's own is not at hand: OpenAI's cl100k_base (GPT-4's), shipped
offline by ``bpe-openai``. Replayed models and RouteLLM's token-counted outcomes both count with it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

from smallfirst.errors import DataError

__all__ = ["TOKENIZER", "count_tokens", "token_count", "tokenizer_name"]

TOKENIZER = "cl100k_base (bpe-openai {version})"


def tokenizer_name() -> str:
    """The tokenizer and the package version that counted, for reports."""
    from importlib.metadata import version

    return TOKENIZER.format(version=version("bpe-openai"))


@cache
def _encoder():  # noqa: ANN202 - the package ships no public type for it
    try:
        import bpe_openai
    except ImportError:
        raise DataError("token counts need the bpe-openai package",
                        hint="pip install bpe-openai (an offline cl100k_base tokenizer)") from None
    return bpe_openai.get_encoding("cl100k_base")


def token_count(text: str) -> int:
    """cl100k_base tokens of ``text``."""
    return len(_encoder().encode(text))


def count_tokens(texts: Sequence[str]) -> np.ndarray:
    """cl100k_base tokens of each text, shape (len(texts),) float."""
    enc = _encoder()
    return np.array([len(enc.encode(t)) for t in texts], dtype=float)
