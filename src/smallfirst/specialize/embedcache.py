"""Sentence embeddings cached on disk in chunks keyed by their texts, so an interrupted run resumes from
the last finished chunk and a rerun on the same data costs nothing."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from smallfirst.embeddings.encoder import Encoder

CHUNK = 512


def cache_root() -> Path:
    """Where embedding chunks are cached: ``$SMALLFIRST_EMBED_CACHE``, else ``~/.cache/smallfirst/embeddings``;
    one folder per encoder name, one ``.npy`` per chunk of ``CHUNK`` texts."""
    base = os.environ.get("SMALLFIRST_EMBED_CACHE")
    return Path(base).expanduser() if base else Path("~/.cache/smallfirst/embeddings").expanduser()


def _key(encoder_name: str, texts: Sequence[str]) -> str:
    h = hashlib.sha256(encoder_name.encode())
    for t in texts:
        h.update(b"\x1e" + t.encode("utf-8"))
    return h.hexdigest()[:32]


def _save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, arr)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encode_cached(
    encoder: Encoder,
    texts: Sequence[str],
    *,
    cache: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``encoder.encode(texts)``, chunk by chunk through the cache. ``progress(n)`` is told of each chunk.

    Repeated texts are encoded once: legal clauses, for one, recur across clause types."""
    unique = list(dict.fromkeys(texts))
    if len(unique) < len(texts):
        vecs = _encode_unique(encoder, unique, cache, progress)
        index = {t: i for i, t in enumerate(unique)}
        return vecs[[index[t] for t in texts]]
    return _encode_unique(encoder, texts, cache, progress)


def _encode_unique(
    encoder: Encoder, texts: Sequence[str], cache: Path | None, progress: Callable[[int], None] | None
) -> np.ndarray:
    root = (cache or cache_root()) / encoder.name
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for start in range(0, len(texts), CHUNK):
        part = list(texts[start : start + CHUNK])
        path = root / f"{_key(encoder.name, part)}.npy"
        vec: np.ndarray | None = None
        if path.exists():
            try:
                vec = np.load(path)
            except (OSError, ValueError):
                vec = None
            if vec is not None and vec.shape != (len(part), encoder.dim):
                vec = None
        if vec is None:
            vec = encoder.encode(part).astype(np.float32)
            _save(path, vec)
        out[start : start + len(part)] = vec
        if progress is not None:
            progress(len(part))
    return out
