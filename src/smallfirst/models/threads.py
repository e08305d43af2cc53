"""Blocking in-process backends served through the async Model contract, on worker threads of their own.

llama.cpp contexts are not thread-safe and one generation keeps the cores busy, so each model gets its own
small pool of threads (``server.workers_per_model``) with a bounded queue in front (``server.queue_size``). A
request that finds the queue full is refused at once (``OverloadedError``, 503 with Retry-After) rather than
waiting without bound while its client times out. Chunks cross from the worker to the event loop through an
asyncio queue; a caller that goes away (a cancelled task, a closed stream) sets a flag the worker checks between
tokens, which closes the backend's generator and frees the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from smallfirst.errors import OverloadedError, UpstreamError
from smallfirst.models.completion import Chunk, Completion, Message
from smallfirst.models.model import BlockingModel

__all__ = ["Threaded", "Workers"]

_END = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Workers:
    """Worker threads per model name, with at most ``threads + queue_size`` calls admitted at once.

    ``retry_after_s`` is what a refused caller is told to wait (seconds)."""

    def __init__(self, threads_per_model: int, queue_size: int, retry_after_s: float = 1.0) -> None:
        self.threads = threads_per_model
        self.queue_size = queue_size
        self.retry_after_s = retry_after_s
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()

    def submit(self, model: str, fn: Callable[[], Any]) -> Future[Any]:
        """Run ``fn`` on ``model``'s threads. Raises OverloadedError when its queue is full."""
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
        """Calls running or queued for ``model``."""
        with self._lock:
            return self._pending.get(model, 0)

    def depths(self) -> dict[str, int]:
        """Calls running or queued, per model."""
        with self._lock:
            return dict(self._pending)

    def close(self) -> None:
        """Stop the threads; queued calls are cancelled, running ones finish on their own."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)


class Threaded:
    """A :class:`BlockingModel` as an async :class:`~smallfirst.models.model.Model`. ``inner`` is the backend."""

    def __init__(self, inner: BlockingModel, workers: Workers) -> None:
        self.inner, self.workers = inner, workers
        self.name, self.kind, self.context_length = inner.name, inner.kind, inner.context_length

    async def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """The backend's streamed generation, collected: a cancelled caller stops it between tokens."""
        async for chunk in self.stream(messages, **params):
            if chunk.completion is not None:
                return chunk.completion
        raise UpstreamError(f"{self.name} ended without a completion")

    async def stream(self, messages: Sequence[Message], **params: Any) -> AsyncIterator[Chunk]:
        """Text chunks from the worker thread, then the chunk that holds the Completion."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def _put(item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening any more
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def _work() -> None:
            if cancelled.is_set():
                _put(_END)
                return
            gen = None
            try:
                gen = self.inner.stream(messages, **params)
                for chunk in gen:
                    if cancelled.is_set():
                        break
                    _put(chunk)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller
                _put(_Failed(exc))
            finally:
                if gen is not None:
                    with contextlib.suppress(Exception):
                        gen.close()
                _put(_END)

        self.workers.submit(self.name, _work)
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, _Failed):
                    raise item.exc
                yield item
        finally:
            cancelled.set()

    async def aclose(self) -> None:
        """Free the backend (its weights, its context)."""
        await asyncio.to_thread(self.inner.close)
