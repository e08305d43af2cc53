"""Answer one request: route, complete, price, log. The CLI, the gateway and the demo all call this, so they can
never drift apart. Every request leaves exactly one row in the request log, failures included.

There is one core, and it is async (:meth:`Service.aanswer`, :meth:`Service.astream`): the gateway awaits it on
its own event loop. The synchronous API (:meth:`Service.answer`, :meth:`Service.stream`) is a thin wrapper that
runs the same coroutines on a private event loop in a background thread, so the CLI and the demo take exactly
the gateway's path: the same fallbacks, circuit breaker, cascades and pricing, streaming or not.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from smallfirst.config import ModelSpec, Settings, load_settings
from smallfirst.costs.ledger import Ledger
from smallfirst.costs.prices import Price
from smallfirst.costs.records import Cost
from smallfirst.errors import SmallfirstError, UpstreamError
from smallfirst.models.circuit import CircuitBreaker
from smallfirst.models.completion import Chunk, Completion, Message, prompt_text
from smallfirst.models.registry import ModelPool, resolve
from smallfirst.redact import redact
from smallfirst.routing.policy import Decision, Escalating, Policy, Verdict
from smallfirst.store.request_record import RequestRecord

__all__ = ["Answer", "RequestContext", "Served", "Service", "prompt_text"]

_SPEC_TTL_S = 5.0
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Answer:
    """What a request produced: its id (the log row's), the completion kept, the decision as it turned out, and
    its cost (including what the request paid for besides the kept answer: an escalated attempt, samples)."""

    request_id: str
    completion: Completion
    decision: Decision
    cost: Cost

    @property
    def model(self) -> str:
        """The model that produced the kept completion."""
        return self.completion.model


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who asked and how to file it: ``source`` ("cli", "gateway", "demo"...), the gateway key, the task type
    (routers read it), and a free tag (the demo's scenario)."""

    source: str = "cli"
    key_id: str | None = None
    task: str | None = None
    tag: str | None = None
    #: the right answer, when the caller knows it (the gateway's ``smallfirst.gold``): learning grades by it
    gold: str | None = None


@dataclass(frozen=True, slots=True)
class Served:
    """One answered request as the :attr:`Service.answered` hooks see it: what was asked (``requested`` name,
    ``messages``, sampling ``params``), by whom, and the answer."""

    requested: str
    messages: tuple[Message, ...]
    params: dict[str, Any]
    ctx: RequestContext
    answer: Answer


class Service:
    """The request path. ``policies`` maps a requested name ("auto", "cascade", a saved policy) to a
    :class:`~smallfirst.routing.policy.Policy`; any other name must be a model. ``log=False`` writes no rows
    (``smallfirst collect`` measures without logging)."""

    def __init__(self, settings: Settings | None = None, *, engine: Any = None, pool: ModelPool | None = None,
                 policies: dict[str, Policy] | None = None, log: bool = True) -> None:
        self.settings = settings or load_settings()
        self.pool = pool or ModelPool(self.settings)
        self.ledger = Ledger(self.settings)
        s = self.settings.server
        self.breaker = CircuitBreaker(s.circuit_failures, s.circuit_cooldown_s)
        self._engine = engine
        self.log_enabled = log
        self._policies: dict[str, Policy] | None = policies
        #: called after each logged request; the gateway hooks metrics and budgets here
        self.observers: list[Callable[[RequestRecord], None]] = []
        #: called on the event loop with each request answered, after its row is submitted; learning hooks here
        #: (``smallfirst.learning``). A hook must return at once: slow work goes to a task of its own.
        self.answered: list[Callable[[Served], None]] = []
        self._specs: dict[str, tuple[ModelSpec, float]] = {}
        self._writer: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()

    def resolve(self, name: str) -> ModelSpec:
        """``registry.resolve``, remembered for a few seconds: it scans the home for registered tiers, and
        a request asks several times."""
        now = time.monotonic()
        hit = self._specs.get(name)
        if hit is None or now - hit[1] > _SPEC_TTL_S:
            hit = self._specs[name] = (resolve(name, self.settings), now)
        return hit[0]

    @property
    def engine(self) -> Any:
        """The request log's SQLAlchemy engine, created on first use."""
        if self._engine is None:
            from smallfirst.store.db import get_engine

            self._engine = get_engine(self.settings.db_url)
        return self._engine

    # -- routing ------------------------------------------------------------------------------------

    @property
    def policies(self) -> dict[str, Policy]:
        """Requestable policy names -> policies (built from the config on first use)."""
        if self._policies is None:
            from smallfirst.routing.defaults import default_policies

            self._policies = default_policies(self.settings)
        return self._policies

    def decide(self, requested: str, messages: Sequence[Message], task: str | None = None) -> Decision:
        """The policy's decision, or "direct" for a model name. Raises UnknownModelError for neither."""
        policy = self.policies.get(requested)
        if policy is None:
            self.resolve(requested)  # raises UnknownModelError naming the known ones
            return Decision(model=requested, policy="direct", reason="model named in the request")
        return policy.decide(prompt_text(messages), task)

    def _attempt(self, model: str | None, messages: Sequence[Message], ctx: RequestContext | None) -> _Attempt:
        return _Attempt(self, model or self.settings.default_model, messages, ctx or RequestContext())

    def _escalating(self, requested: str) -> Escalating | None:
        policy = self.policies.get(requested)
        # a model named directly (the common case on the gateway) skips the Protocol check, which is not free
        return policy if policy is not None and isinstance(policy, Escalating) else None

    # -- the async core: the gateway's path, and under the sync API everyone else's ----------------------

    async def aanswer(self, messages: Sequence[Message], model: str | None = None, *,
                      ctx: RequestContext | None = None, **params: Any) -> Answer:
        """Route, complete (with fallbacks, and a cascade's judgement), price and log one request.

        ``model`` is a model or policy name (default: ``default_model``); ``params`` are OpenAI sampling
        parameters. Raises a SmallfirstError (and logs it) when the request cannot be answered."""
        with self._attempt(model, messages, ctx) as at:
            at.decision = decision = self.decide(at.requested, messages, at.ctx.task)
            policy = self._escalating(at.requested)
            if policy is not None:
                answer = await self._cascade(policy, decision, messages, at.ctx, params)
            else:
                completion, decision = await self._complete_with_fallbacks(decision, messages, params)
                answer = self._priced(completion, decision)
        at.succeeded(answer, params)
        return answer

    async def astream(self, messages: Sequence[Message], model: str | None = None, *,
                      ctx: RequestContext | None = None, **params: Any) -> AsyncIterator[Chunk | Answer]:
        """Yields text chunks, then the final Answer. A failing model is replaced by its fallback only before its
        first token: after that the client has seen text, and splicing another model's answer onto it would be
        worse than an error. An escalating policy must judge its first answer before showing it, so it answers
        whole and yields the text as one chunk."""
        with self._attempt(model, messages, ctx) as at:
            at.decision = decision = self.decide(at.requested, messages, at.ctx.task)
            policy = self._escalating(at.requested)
            if policy is not None:
                answer = await self._cascade(policy, decision, messages, at.ctx, params)
                yield Chunk(answer.completion.text)
            else:
                chain = self._chain(decision)
                final: Completion | None = None
                emitted = False
                for name in chain.names:
                    try:
                        async with aclosing(self._call_stream(name, messages, params)) as chunks:
                            async for chunk in chunks:
                                if chunk.completion is not None:
                                    final = chunk.completion
                                elif chunk.text:
                                    emitted = True
                                    yield chunk
                    except UpstreamError as exc:
                        if emitted:
                            raise
                        chain.failed(name, exc)
                        continue
                    break
                if final is None:
                    raise chain.last or UpstreamError(f"{decision.model} ended its stream without a completion")
                answer = self._priced(final, chain.answered(final.model))
        at.succeeded(answer, params)
        yield answer

    async def _call(self, name: str, messages: Sequence[Message], params: dict[str, Any]) -> Completion:
        """One model call under the circuit breaker."""
        self.breaker.check(name)
        model = await self.pool.aget(name)
        try:
            completion = await model.complete(messages, **params)
        except UpstreamError as exc:
            if exc.retryable:
                self.breaker.failure(name)
            raise
        self.breaker.success(name)
        return completion

    async def _call_stream(self, name: str, messages: Sequence[Message],
                           params: dict[str, Any]) -> AsyncIterator[Chunk]:
        """One streamed model call under the circuit breaker: text chunks, then the chunk with the Completion."""
        self.breaker.check(name)
        model = await self.pool.aget(name)
        try:
            async with aclosing(model.stream(messages, **params)) as chunks:
                async for chunk in chunks:
                    if chunk.completion is not None:
                        self.breaker.success(name)
                    yield chunk
        except UpstreamError as exc:
            if exc.retryable:
                self.breaker.failure(name)
            raise

    async def _complete_with_fallbacks(self, decision: Decision, messages: Sequence[Message],
                                       params: dict[str, Any]) -> tuple[Completion, Decision]:
        chain = self._chain(decision)
        for name in chain.names:
            try:
                completion = await self._call(name, messages, params)
            except UpstreamError as exc:
                chain.failed(name, exc)
                continue
            return completion, chain.answered(name)
        raise chain.exhausted()

    def _chain(self, decision: Decision) -> _Chain:
        return _Chain(decision, self.resolve(decision.model).fallbacks)

    async def _cascade(self, policy: Escalating, decision: Decision, messages: Sequence[Message],
                       ctx: RequestContext, params: dict[str, Any]) -> Answer:
        """The first model's answer, judged by ``policy``; kept, or replaced by the model the verdict names.
        Whatever the judgement paid for (the escalated attempt, resampled answers) is priced into the answer."""
        # five alternatives per token: what the margin and entropy signals read (routing.confidence)
        first, first_decision = await self._complete_with_fallbacks(decision, messages,
                                                                    {"top_logprobs": 5, **params, "logprobs": True})
        hot = max(float(params.get("temperature") or 0.0), 0.7)

        async def _resample(seed: int) -> Completion:
            return await self._call(first.model, messages, {**params, "temperature": hot, "seed": seed})

        prompt = prompt_text(messages)
        verdict = await policy.judge(first, prompt, ctx.task, _resample)
        if verdict is None:
            return self._priced(first, first_decision)
        kept = _judged(policy, first_decision, verdict)
        if verdict.accept:
            return self._priced(first, kept, extra=verdict.extra)
        assert verdict.escalate_to is not None
        second, escalated = await self._complete_with_fallbacks(kept, messages, params)
        combined = Completion(model=second.model, text=second.text, finish_reason=second.finish_reason,
                              usage=second.usage, wall_seconds=first.wall_seconds + second.wall_seconds,
                              ttft_seconds=first.wall_seconds + second.ttft_seconds, logprobs=second.logprobs,
                              kind=second.kind)
        return self._priced(combined, escalated, extra=(first, *verdict.extra))

    def _priced(self, completion: Completion, decision: Decision, extra: Sequence[Completion] = ()) -> Answer:
        """Price ``completion`` on its model, plus every completion in ``extra`` on its own model."""
        spec = self.resolve(completion.model)
        paid = None
        if extra:
            prices = [self.ledger.price_usage(c.model, self.resolve(c.model), c.usage, c.wall_seconds) for c in extra]
            paid = Price(sum((p.usd for p in prices), Decimal(0)), ", ".join(sorted({p.source for p in prices})))
        cost = self.ledger.price(completion.model, spec, completion, extra=paid)
        return Answer(request_id=str(uuid.uuid4()), completion=completion, decision=decision, cost=cost)

    # -- the synchronous API: the same coroutines on the service's own loop --------------------------------

    def answer(self, messages: Sequence[Message], model: str | None = None, *, ctx: RequestContext | None = None,
               **params: Any) -> Answer:
        """:meth:`aanswer` for synchronous callers (the CLI, the demo, collect)."""
        return self._run(self.aanswer(messages, model, ctx=ctx, **params))

    def stream(self, messages: Sequence[Message], model: str | None = None, *, ctx: RequestContext | None = None,
               **params: Any) -> Iterator[Chunk | Answer]:
        """:meth:`astream` for synchronous callers. Closing the iterator early cancels the request (logged as
        a 499, as a client that hangs up on the gateway)."""
        agen = self.astream(messages, model, ctx=ctx, **params)
        try:
            while True:
                try:
                    item = self._run(agen.__anext__())
                except StopAsyncIteration:
                    return
                yield item
        finally:
            self._run(agen.aclose())

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the service's private event loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._own_loop()).result()

    def _own_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="smallfirst-service", daemon=True).start()
                self._loop = loop
            return self._loop

    # -- logging ------------------------------------------------------------------------------------

    def use_background_log(self) -> None:
        """Write log rows on a background thread from now on, so async callers never wait on the database."""
        if self._writer is None and self.log_enabled:
            from smallfirst.store.writer import LogWriter

            self._writer = LogWriter(lambda: self.engine, observe=self._observe)

    def flush_log(self, timeout: float = 30.0) -> None:
        """Wait (up to ``timeout`` seconds) until every submitted row is written."""
        if self._writer is not None:
            self._writer.flush(timeout)

    def _log_success(self, requested: str, answer: Answer, ctx: RequestContext, messages: Sequence[Message]) -> None:
        c, d = answer.completion, answer.decision
        self._write(RequestRecord(
            id=answer.request_id, created_at=datetime.now(UTC), source=ctx.source, key_id=ctx.key_id,
            requested_model=requested, model=c.model, status="ok", http_status=200, policy=d.policy,
            decision_reason=d.reason, score=d.score, threshold=d.threshold, attempted=d.attempted, task=ctx.task,
            prompt_tokens=c.usage.prompt_tokens, completion_tokens=c.usage.completion_tokens,
            latency_s=c.wall_seconds, ttft_s=c.ttft_seconds, cost_usd=answer.cost.amount,
            baseline_usd=answer.cost.baseline, baseline_model=answer.cost.baseline_model,
            price_source=answer.cost.source, tag=ctx.tag,
            prompt=prompt_text(messages) if self.settings.log_content else None,
            response=c.text if self.settings.log_content else None))

    def _log_failure(self, requested: str, decision: Decision | None, ctx: RequestContext, exc: SmallfirstError,
                     seconds: float, messages: Sequence[Message], status: int | None = None) -> None:
        self._write(RequestRecord(
            id=str(uuid.uuid4()), created_at=datetime.now(UTC), source=ctx.source, key_id=ctx.key_id,
            requested_model=requested, model=decision.model if decision else "", status="error",
            http_status=status or exc.status, policy=decision.policy if decision else None,
            decision_reason=decision.reason if decision else None, score=decision.score if decision else None,
            threshold=decision.threshold if decision else None, attempted=decision.attempted if decision else (),
            task=ctx.task, latency_s=seconds, cost_usd=Decimal(0), baseline_usd=Decimal(0),
            error=redact(str(exc)), tag=ctx.tag,
            prompt=prompt_text(messages) if self.settings.log_content else None))

    def log_record(self, record: RequestRecord) -> None:
        """Write a row built elsewhere (e.g. the gateway's own 4xx refusals)."""
        self._write(record)

    def _write(self, record: RequestRecord) -> None:
        if self._writer is not None:
            self._writer.submit(record)  # observed on the writer thread
            return
        if self.log_enabled:
            from smallfirst.store.requests import insert

            insert(self.engine, record)
        self._observe(record)

    def _observe(self, record: RequestRecord) -> None:
        for observer in self.observers:
            observer(record)

    # -- shutting down ------------------------------------------------------------------------------

    async def aclose_endpoints(self) -> None:
        """Close the HTTP sessions the current event loop opened (the gateway calls this on shutdown)."""
        await self.pool.aclose_sessions()

    def close(self) -> None:
        """Flush the log, close the private loop's sessions, free every model."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        loop, self._loop = self._loop, None
        if loop is not None:
            asyncio.run_coroutine_threadsafe(self.aclose_endpoints(), loop).result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
        self.pool.close()


class _Attempt:
    """One request from routing to its answer. A failure inside it leaves the request's error row; a caller
    that goes away (a closed generator, a cancelled task) leaves a 499. Success is logged by ``succeeded``,
    called after the scope once the answer is whole."""

    __slots__ = ("service", "requested", "messages", "ctx", "decision", "started")

    def __init__(self, service: Service, requested: str, messages: Sequence[Message], ctx: RequestContext) -> None:
        self.service, self.requested, self.messages, self.ctx = service, requested, messages, ctx
        self.decision: Decision | None = None
        self.started = time.perf_counter()

    def __enter__(self) -> _Attempt:
        return self

    def succeeded(self, answer: Answer, params: dict[str, Any]) -> None:
        """Log the request's success row, then tell the ``answered`` hooks."""
        service = self.service
        service._log_success(self.requested, answer, self.ctx, self.messages)
        if service.answered:
            served = Served(self.requested, tuple(self.messages), dict(params), self.ctx, answer)
            for hook in service.answered:
                hook(served)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        if isinstance(exc, SmallfirstError):
            error, status = exc, None
        elif isinstance(exc, (GeneratorExit, asyncio.CancelledError)):
            error, status = UpstreamError("client disconnected"), 499
        else:
            return
        self.service._log_failure(self.requested, self.decision, self.ctx, error,
                                  time.perf_counter() - self.started, self.messages, status=status)


class _Chain:
    """The models to try for a decision, in order (the model, then its fallbacks), and what failed so far."""

    __slots__ = ("decision", "names", "tried", "last")

    def __init__(self, decision: Decision, fallbacks: Sequence[str]) -> None:
        self.decision = decision
        self.names = [decision.model, *fallbacks]
        self.tried: list[str] = []
        self.last: UpstreamError | None = None

    def failed(self, name: str, exc: UpstreamError) -> None:
        """Note a failure worth trying the next model for; any other failure ends the request."""
        if not exc.retryable:
            raise exc
        self.tried.append(name)
        self.last = exc

    def answered(self, name: str) -> Decision:
        """The decision as it turned out: the original, or the fallback that answered and why."""
        d = self.decision
        if not self.tried:
            return d
        return Decision(model=name, policy=d.policy, score=d.score, threshold=d.threshold,
                        attempted=(*d.attempted, *self.tried),
                        reason=f"{d.reason}; fell back from {', '.join(self.tried)} ({self.last})")

    def exhausted(self) -> UpstreamError:
        """The last failure, once every model of the chain failed."""
        assert self.last is not None
        return self.last


def _judged(policy: Escalating, first: Decision, verdict: Verdict) -> Decision:
    """The decision after a verdict: the first model kept, or the model to escalate to (attempted: the first)."""
    if verdict.accept:
        return Decision(model=first.model, policy=policy.name, score=verdict.score, threshold=first.threshold,
                        attempted=first.attempted, reason=verdict.reason)
    assert verdict.escalate_to is not None
    return Decision(model=verdict.escalate_to, policy=policy.name, score=verdict.score, threshold=first.threshold,
                    attempted=(*first.attempted, first.model), reason=verdict.reason)
