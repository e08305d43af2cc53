"""Model tiers: one contract (``Model``), records (``Completion``, ``Usage``), backends, catalogue, registry."""

from smallfirst.models.base import Model
from smallfirst.models.records import Chunk, Completion, Message, TokenLogprob, Usage

__all__ = ["Chunk", "Completion", "Message", "Model", "TokenLogprob", "Usage"]
