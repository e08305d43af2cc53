"""One model call from async code, under the circuit breaker.

Endpoints (``backend = "openai"``) use one pooled async HTTP client each (``endpoint.py``). Everything else
runs on the model's worker thread; its chunks cross to the event loop through an asyncio queue, and a
cancelled caller (a client that hung up) sets a flag the worker checks between tokens, which closes the
generator and frees the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

from smallfirst.config import Settings
from smallfirst.dispatch.circuit import CircuitBreaker
from smallfirst.dispatch.endpoint import Endpoint
from smallfirst.dispatch.workers import Workers
from smallfirst.errors import UpstreamError
from smallfirst.models.records import Chunk, Completion, Message
from smallfirst.models.registry import ModelPool, resolve

_END = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class AsyncCalls:
    def __init__(
        self,
        settings: Settings,
        pool: ModelPool,
        workers: Workers | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        s = settings.server
        self.settings = settings
        self.pool = pool
        self.workers = workers or Workers(s.workers_per_model, s.queue_size, s.overload_retry_after_s)
        self.breaker = breaker or CircuitBreaker(s.circuit_failures, s.circuit_cooldown_s)
        self._endpoints: dict[str, Endpoint | None] = {}

    def endpoint(self, name: str) -> Endpoint | None:
        """The pooled HTTP client for an endpoint model, or None for a model that runs here."""
        if name not in self._endpoints:
            spec = resolve(name, self.settings)
            self._endpoints[name] = Endpoint(name, spec) if spec.backend == "openai" else None
        return self._endpoints[name]

    async def complete(self, name: str, messages: Sequence[Message], params: dict[str, Any]) -> Completion:
        self.breaker.check(name)
        try:
            endpoint = self.endpoint(name)
            if endpoint is not None:
                completion = await endpoint.complete(messages, params)
            else:
                completion = await self._local_complete(name, messages, params)
        except UpstreamError as exc:
            if exc.retryable:
                self.breaker.failure(name)
            raise
        self.breaker.success(name)
        return completion

    async def stream(
        self, name: str, messages: Sequence[Message], params: dict[str, Any]
    ) -> AsyncIterator[Chunk]:
        """Text chunks, then a last chunk holding the Completion."""
        self.breaker.check(name)
        endpoint = self.endpoint(name)
        source = (
            endpoint.stream(messages, params) if endpoint is not None
            else self._local_stream(name, messages, params)
        )
        try:
            async for chunk in source:
                if chunk.completion is not None:
                    self.breaker.success(name)
                yield chunk
        except UpstreamError as exc:
            if exc.retryable:
                self.breaker.failure(name)
            raise
        finally:
            with contextlib.suppress(Exception):
                await source.aclose()  # type: ignore[attr-defined]

    async def _local_complete(
        self, name: str, messages: Sequence[Message], params: dict[str, Any]
    ) -> Completion:
        async for chunk in self._local_stream(name, messages, params):
            if chunk.completion is not None:
                return chunk.completion
        raise UpstreamError(f"{name} ended without a completion")

    async def _local_stream(
        self, name: str, messages: Sequence[Message], params: dict[str, Any]
    ) -> AsyncIterator[Chunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def put(item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening any more
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            if cancelled.is_set():
                put(_END)
                return
            gen = None
            try:
                gen = self.pool.get(name).stream(messages, **params)
                for chunk in gen:
                    if cancelled.is_set():
                        break
                    put(chunk)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller
                put(_Failed(exc))
            finally:
                if gen is not None:
                    with contextlib.suppress(Exception):
                        gen.close()
                put(_END)

        self.workers.submit(name, work)
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

    async def aclose_endpoints(self) -> None:
        """Close the pooled HTTP sessions; they belong to the event loop that opened them."""
        for endpoint in self._endpoints.values():
            if endpoint is not None:
                await endpoint.aclose()

    def close(self) -> None:
        self.workers.close()
