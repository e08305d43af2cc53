"""A circuit breaker per model: after ``failures`` retryable failures in a row, the model is skipped for
``cooldown_s`` seconds, then one trial request is let through (half-open); its success closes the circuit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from smallfirst.errors import UpstreamError


@dataclass
class _State:
    failures: int = 0
    open_until: float = 0.0
    trial_in_flight: bool = False


class CircuitBreaker:
    """Per-model circuit breaker: after ``failures`` retryable failures in a row the model is skipped for
    ``cooldown_s`` seconds, then one trial call is let through. ``clock`` returns seconds (monotonic), replaceable
    in tests."""
    def __init__(self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()

    def check(self, name: str) -> None:
        """Raise a retryable UpstreamError when ``name`` is cooling down, so the caller falls back at once."""
        with self._lock:
            st = self._states.get(name)
            if st is None or st.failures < self.failures:
                return
            now = self.clock()
            if now < st.open_until or st.trial_in_flight:
                wait = max(st.open_until - now, 0.0)
                raise UpstreamError(
                    f"{name} skipped: its circuit is open after {st.failures} failures in a row",
                    upstream_status=503,
                    retry_after=wait or None,
                    hint=f"it is tried again in {wait:.0f}s; add a fallback to keep answering",
                )
            st.trial_in_flight = True  # half-open: this caller is the one trial

    def success(self, name: str) -> None:
        """A call to ``name`` succeeded: close its circuit."""
        with self._lock:
            self._states.pop(name, None)

    def failure(self, name: str) -> None:
        """A retryable call to ``name`` failed: count it, and open the circuit at the threshold."""
        with self._lock:
            st = self._states.setdefault(name, _State())
            st.failures += 1
            st.trial_in_flight = False
            if st.failures >= self.failures:
                st.open_until = self.clock() + self.cooldown_s

    def is_open(self, name: str) -> bool:
        """True while ``name`` is being skipped."""
        with self._lock:
            st = self._states.get(name)
            return st is not None and st.failures >= self.failures and self.clock() < st.open_until
