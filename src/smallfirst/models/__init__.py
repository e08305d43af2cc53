"""Model tiers: one contract (``Model``), records (``Completion``, ``Usage``), backends, catalogue, registry."""

from smallfirst.models.completion import Chunk, Completion, Message, TokenLogprob, Usage
from smallfirst.models.model import Model

__all__ = ["Chunk", "Completion", "Message", "Model", "TokenLogprob", "Usage"]
