"""Features for the head: the sentence embedding, scaled, beside TF-IDF word and character n-grams.

The embedding carries meaning; the n-grams carry the exact words and spellings that separate near-synonym
intents ("card arrival" against "card delivery estimate"). Together they beat either alone on Banking77.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    """The feature blocks: the embedding times ``embed_weight`` beside unit-norm TF-IDF blocks of character
    (``char_wb``) and word n-grams, with sublinear term frequency; ``char_min_df`` drops rarer character
    n-grams. ``use_tfidf=False`` keeps the embedding alone."""

    #: weight of the embedding block against the unit-norm TF-IDF blocks
    embed_weight: float = 2.5
    use_tfidf: bool = True
    char_ngrams: tuple[int, int] = (2, 5)
    word_ngrams: tuple[int, int] = (1, 2)
    char_min_df: int = 2


class Featuriser:
    """Turns texts plus their embeddings into one sparse matrix. Fitted state is plain data (vocabularies
    and idf vectors), so an artefact stores it without pickle."""

    def __init__(self, config: FeatureConfig, state: dict[str, Any] | None = None) -> None:
        self.config = config
        self._char = self._word = None
        if state is not None:
            self._char = self._vectoriser("char", state["char_vocab"], np.asarray(state["char_idf"]))
            self._word = self._vectoriser("word", state["word_vocab"], np.asarray(state["word_idf"]))

    def _vectoriser(
        self, which: str, vocab: dict[str, int] | None = None, idf: np.ndarray | None = None
    ) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        c = self.config
        if which == "char":
            vec = TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=c.char_ngrams,
                sublinear_tf=True,
                min_df=1 if vocab else c.char_min_df,
                vocabulary=vocab,
                dtype=np.float32,
            )
        else:
            vec = TfidfVectorizer(
                ngram_range=c.word_ngrams, sublinear_tf=True, vocabulary=vocab, dtype=np.float32
            )
        if idf is not None:
            vec.idf_ = idf
        return vec

    def fit(self, texts: Sequence[str]) -> Featuriser:
        """Learn the n-gram vocabularies and idf weights from ``texts`` (a no-op without TF-IDF); returns self."""
        if self.config.use_tfidf:
            self._char = self._vectoriser("char").fit(texts)
            self._word = self._vectoriser("word").fit(texts)
        return self

    def transform(self, texts: Sequence[str], embeddings: np.ndarray) -> sparse.csr_matrix:
        """Sparse float32 (n, char vocabulary + word vocabulary + dim) features of ``texts`` and their (n, dim)
        ``embeddings``. Raises RuntimeError when TF-IDF is on and the featuriser was never fitted."""
        blocks = []
        if self.config.use_tfidf:
            if self._char is None or self._word is None:
                raise RuntimeError("Featuriser.transform before fit")
            blocks += [self._char.transform(texts), self._word.transform(texts)]
        blocks.append(sparse.csr_matrix(embeddings.astype(np.float32) * self.config.embed_weight))
        return sparse.hstack(blocks, format="csr", dtype=np.float32)

    def state(self) -> dict[str, Any]:
        """The fitted vocabularies (n-gram -> column) and idf vectors as plain data, what an artefact stores and
        ``Featuriser(config, state)`` restores; all None without TF-IDF."""
        if not self.config.use_tfidf or self._char is None or self._word is None:
            return {"char_vocab": None, "char_idf": None, "word_vocab": None, "word_idf": None}
        return {
            "char_vocab": {k: int(v) for k, v in self._char.vocabulary_.items()},
            "char_idf": self._char.idf_.astype(np.float32),
            "word_vocab": {k: int(v) for k, v in self._word.vocabulary_.items()},
            "word_idf": self._word.idf_.astype(np.float32),
        }
