"""A response cache for deterministic requests: off by default, exact match on the normalised request, with a
time to live.

Only a request whose answer is determined by the request itself is cached: temperature 0 or a fixed seed (the
local backend gives the same tokens for those whatever came before; see ``models/llama.py``). The key is the
sha256 of the requested model or policy, the messages and every parameter that shapes the answer (the end
user's identity does not), and, with ``scope = "key"``, the gateway key, so one key never sees an answer
another key paid for. A hit costs nothing; the service logs it with its saving against the baseline.

A semantic cache (near-duplicate prompts by embedding similarity) is not offered: it would answer a different
question with a stored answer, and its false-hit rate would have to be measured on the user's own paraphrases.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_json

from smallfirst.models.completion import Completion, Message

__all__ = ["CachedAnswer", "ResponseCache", "is_deterministic"]

#: parameters that identify who asked, not what: they do not change the answer, so not the key
_IDENTITY = frozenset({"user", "safety_identifier", "prompt_cache_key", "service_tier"})


def is_deterministic(params: dict[str, Any]) -> bool:
    """True for a request whose answer the request fixes: temperature 0, or a seed."""
    return params.get("temperature") == 0 or params.get("seed") is not None


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A stored answer: the completion, the model and policy that produced it, the request that paid for it
    (its log row id), and when it was stored (``time.monotonic`` seconds)."""

    completion: Completion
    policy: str
    request_id: str
    stored_at: float


class ResponseCache:
    """Answers by request key, least recently used first out beyond ``max_entries``, each for ``ttl_s`` seconds.
    Thread-safe. ``models`` limits caching to those requested names (empty: every model and policy)."""

    def __init__(self, ttl_s: float, max_entries: int, *, scope: str = "key", models: Sequence[str] = ()) -> None:
        self.ttl_s, self.max_entries, self.scope, self.models = ttl_s, max_entries, scope, frozenset(models)
        self._entries: OrderedDict[str, CachedAnswer] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def key(self, requested: str, messages: Sequence[Message], params: dict[str, Any],
            key_id: str | None) -> str | None:
        """The request's cache key, or None when it is not cached (not deterministic, or a model not cached)."""
        if not is_deterministic(params) or (self.models and requested not in self.models):
            return None
        shaping = {k: v for k, v in params.items() if k not in _IDENTITY}
        owner = key_id if self.scope == "key" else None
        blob = to_json([owner, requested, list(messages), shaping], serialize_unknown=True)
        return hashlib.sha256(blob).hexdigest()

    def get(self, key: str) -> CachedAnswer | None:
        """The live answer stored under ``key``, or None."""
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or now - hit.stored_at > self.ttl_s:
                if hit is not None:
                    del self._entries[key]
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return hit

    def put(self, key: str, completion: Completion, policy: str, request_id: str) -> None:
        """Store an answer (the request that produced it is ``request_id``)."""
        with self._lock:
            self._entries[key] = CachedAnswer(completion, policy, request_id, time.monotonic())
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
