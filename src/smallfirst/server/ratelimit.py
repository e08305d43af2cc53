"""Requests per minute per key, as a sliding window kept in this process.

Budgets live in the database because money must hold across replicas; a rate limit is a guard against
bursts, so each replica enforcing its own share is enough and costs no round trip.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from smallfirst.errors import RateLimitedError

_WINDOW_S = 60.0


class RateLimiter:
    """A sliding 60-second window of request times per key id; ``clock`` gives seconds (monotonic)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key_id: str, per_minute: int) -> None:
        """Count one request of ``key_id``; raises RateLimitedError (429, retry-after in seconds) when it already
        made ``per_minute`` in the last 60 seconds."""
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(key_id, deque())
            while hits and now - hits[0] >= _WINDOW_S:
                hits.popleft()
            if len(hits) >= per_minute:
                wait = _WINDOW_S - (now - hits[0])
                raise RateLimitedError(
                    f"key {key_id} is limited to {per_minute} requests per minute",
                    retry_after=max(wait, 0.001),
                    hint=f"retry in {wait:.0f}s, or raise the key's limit (smallfirst keys create --rpm)",
                )
            hits.append(now)
