"""A static (model2vec-style) embedding distilled offline from all-MiniLM-L6-v2: one vector per token.

Encoding a prompt is a tokenizer call and a mean of table rows, tens of microseconds instead of a
transformer pass, which is what lets a learned router decide in well under 2 ms at batch size 1.

The distillation follows model2vec's recipe (each vocabulary token run through the transformer as
``[CLS] token [SEP]``, mean-pooled, PCA, then Zipf/SIF weighting) but runs the MiniLM graph through
onnxruntime, so neither distilling nor encoding needs torch. The table is cached on disk under
:func:`cache_dir` and distilled again only when missing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["StaticEncoder", "cache_dir", "distill_minilm"]

_FORMAT = 1


def cache_dir() -> Path:
    """The machine-wide cache root (see :func:`smallfirst.config.cache_root`)."""
    from smallfirst.config import cache_root

    return cache_root()


def distill_minilm(out_dir: Path, *, pca_dims: int = 256, sif_coefficient: float = 1e-4,
                   batch_size: int = 1024) -> Path:
    """Distil the token table into ``out_dir`` (``table.npy``, ``tokenizer.json``, ``meta.json``)."""
    from tokenizers import Tokenizer

    from smallfirst.embeddings.minilm import MiniLMEncoder, default_paths

    _, tok_path = default_paths()
    enc = MiniLMEncoder()
    tok = Tokenizer.from_file(str(tok_path))
    vocab = tok.get_vocab_size()
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    vecs = np.zeros((vocab, enc.dim), dtype=np.float32)
    for start in range(0, vocab, batch_size):
        ids = np.arange(start, min(start + batch_size, vocab))
        batch = np.stack([np.full_like(ids, cls_id), ids, np.full_like(ids, sep_id)], axis=1).astype(np.int64)
        hidden = enc.session.run(None, {"input_ids": batch, "attention_mask": np.ones_like(batch),
                                        "token_type_ids": np.zeros_like(batch)})[0]
        vecs[ids] = hidden.mean(axis=1)
    centred = vecs - vecs.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    table = centred @ vt[:pca_dims].T
    # Zipf's law stands in for token frequencies: WordPiece ids are roughly frequency-ranked.
    inv_rank = 1.0 / np.arange(2, vocab + 2)
    proba = inv_rank / inv_rank.sum()
    table *= (sif_coefficient / (sif_coefficient + proba))[:, None]
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "table.tmp.npy"
    np.save(tmp, table.astype(np.float32))
    tmp.replace(out_dir / "table.npy")
    (out_dir / "tokenizer.json").write_text(tok_path.read_text(encoding="utf-8"), encoding="utf-8")
    meta = {"format": _FORMAT, "source": "all-MiniLM-L6-v2 (int8 ONNX graph)", "pca_dims": pca_dims,
            "sif_coefficient": sif_coefficient}
    (out_dir / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return out_dir


# BERT's normaliser and pre-tokeniser on ASCII text: control characters other than tab, newline and return are
# deleted, the rest is lower-cased and split into runs of letters and digits and single punctuation marks.
_ASCII_CONTROL = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32), 127])
_ASCII_WORD = re.compile(r"[a-z0-9]+|[!-/:-@\[-`{-~]")
_WORD_CACHE_MAX = 1 << 18


class StaticEncoder:
    """Mean of distilled token vectors, L2-normalised. Distils on first use if the cache is empty.

    At batch size 1 the Rust tokenizer's normaliser and pre-tokeniser cost 0.15-0.25 ms per prompt here, most
    of a routing decision. ASCII text (almost every prompt) is therefore split into words in Python and each
    word's ids come from a cache filled by the tokenizer's own WordPiece model; WordPiece works word by word, so
    the ids are the tokenizer's (tests compare both on every RouteLLM prompt and on generated text). Other text
    goes through the tokenizer whole."""

    name = "minilm-static"

    def __init__(self, path: str | Path | None = None, max_tokens: int = 512) -> None:
        from tokenizers import Tokenizer

        d = Path(path) if path is not None else cache_dir() / "static" / self.name
        if not (d / "table.npy").exists() or not (d / "meta.json").exists():
            distill_minilm(d)
        self.table = np.load(d / "table.npy")
        self.dim = int(self.table.shape[1])
        self.tokenizer = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.max_tokens = max_tokens
        self._words: dict[str, list[int]] = {}
        self._wordpiece = self.tokenizer.model

    def ids(self, text: str) -> list[int]:
        """The tokenizer's ids for ``text`` (no special tokens, truncated to ``max_tokens``)."""
        if not text.isascii():
            return self.tokenizer.encode(text, add_special_tokens=False).ids
        words = self._words
        if len(words) > _WORD_CACHE_MAX:
            words.clear()
        out: list[int] = []
        for w in _ASCII_WORD.findall(text.translate(_ASCII_CONTROL).lower()):
            piece = words.get(w)
            if piece is None:  # the WordPiece model alone: w is already normalised and pre-tokenised
                piece = words[w] = [t.id for t in self._wordpiece.tokenize(w)]
            out += piece
        return out[: self.max_tokens]

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Shape (len(texts), dim) float32 (dim 256 by default, the PCA size): the normalised sum of each text's
        token rows. A text with no tokens gives a zero row. ``batch_size`` is ignored (there is no model pass)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            ids = self.ids(text)
            if ids:
                out[i] = self.table[ids].sum(axis=0)  # the mean's direction; the norm is divided out below
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.clip(norms, 1e-12, None)
