"""Sentence embeddings for routers and classifier heads.

``Encoder`` is the contract: ``encode(texts) -> float32 array (n, dim)``, L2-normalised rows.
"""

from smallfirst.embeddings.encoder import Encoder

__all__ = ["Encoder"]
