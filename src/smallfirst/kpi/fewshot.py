"""Few-shot examples by retrieval: the solved questions most similar to a new one, from a training set.

Similarity is the cosine of the distilled static embedding (:class:`smallfirst.embeddings.static.StaticEncoder`,
about 0.1 ms a question), enough to find "revenue by category in 2017" for "sales per shipper in 2018". The
examples go into the prompt nearest last, closest to the question.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smallfirst.errors import DataError
from smallfirst.kpi.sqlprompt import SolvedQuestion

__all__ = ["ExampleIndex", "load_examples"]


class ExampleIndex:
    """Solved questions, embedded once; :meth:`nearest` returns the ``k`` most similar to a question.

    ``encoder`` is anything with ``encode(texts) -> (n, d)`` L2-normalised rows; the static embedding by
    default (distilled on first use into the cache if missing, about 15 s once)."""

    def __init__(self, examples: Sequence[SolvedQuestion], encoder: Any = None) -> None:
        if encoder is None:
            from smallfirst.embeddings.static import StaticEncoder

            encoder = StaticEncoder()
        self.examples = list(examples)
        self.encoder = encoder
        self._matrix = (encoder.encode([e.question for e in self.examples]) if self.examples
                        else np.zeros((0, 1), np.float32))

    def __len__(self) -> int:
        return len(self.examples)

    def nearest(self, question: str, k: int) -> list[SolvedQuestion]:
        """Up to ``k`` examples, least similar first; an example whose question is ``question`` itself is skipped."""
        if k <= 0 or not self.examples:
            return []
        scores = self._matrix @ self.encoder.encode([question])[0]
        order = np.argsort(-scores, kind="stable")
        picked = [self.examples[i] for i in order if self.examples[i].question.strip() != question.strip()][:k]
        return picked[::-1]


def load_examples(path: str | Path) -> list[SolvedQuestion]:
    """Solved questions from a JSONL file of ``{"question": ..., "sql": ...}`` objects (other keys ignored).
    Raises DataError naming the line at fault."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"examples file {p} does not exist",
                        hint='give a JSONL file of {"question": ..., "sql": ...} lines')
    out = []
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            out.append(SolvedQuestion(question=str(rec["question"]), sql=str(rec["sql"])))
        except (ValueError, KeyError, TypeError):
            raise DataError(f"{p}:{lineno}: expected a JSON object with 'question' and 'sql'") from None
    return out
