"""Worker threads per local model, with a bounded queue in front.

llama.cpp contexts are not thread-safe and one generation keeps the cores busy, so each model gets its own
small pool. A request that finds the queue full is refused at once (OverloadedError, 503 + Retry-After)
instead of waiting without bound while its client times out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from smallfirst.errors import OverloadedError


class Workers:
    def __init__(self, threads_per_model: int, queue_size: int, retry_after_s: float = 1.0) -> None:
        self.threads = threads_per_model
        self.queue_size = queue_size
        self.retry_after_s = retry_after_s
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()

    def submit(self, model: str, fn: Callable[[], Any]) -> Future[Any]:
        with self._lock:
            pending = self._pending.get(model, 0)
            if pending >= self.threads + self.queue_size:
                raise OverloadedError(
                    f"{model} is busy: {pending} requests running or queued (queue_size {self.queue_size})",
                    retry_after=self.retry_after_s,
                    hint="retry after the Retry-After delay, or raise server.queue_size / workers_per_model",
                )
            self._pending[model] = pending + 1
            pool = self._pools.get(model)
            if pool is None:
                pool = self._pools[model] = ThreadPoolExecutor(self.threads, thread_name_prefix=f"sf-{model}")
        future = pool.submit(fn)
        future.add_done_callback(lambda _f: self._done(model))
        return future

    def _done(self, model: str) -> None:
        with self._lock:
            self._pending[model] -= 1

    def depth(self, model: str) -> int:
        with self._lock:
            return self._pending.get(model, 0)

    def depths(self) -> dict[str, int]:
        with self._lock:
            return dict(self._pending)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
