"""Answer one request: route, complete, price, log. The CLI, the gateway and the demo all call this, so they can
never drift apart. Every request leaves exactly one row in the request log, failures included.

There is one core, and it is async (:meth:`Service.aanswer`, :meth:`Service.astream`): the gateway awaits it on
its own event loop. The synchronous API (:meth:`Service.answer`, :meth:`Service.stream`) is a thin wrapper that
runs the same coroutines on a private event loop in a background thread, so the CLI and the demo take exactly
the gateway's path: the same fallbacks, circuit breaker, cascades and pricing, streaming or not.
"""

from __future__ import annotations

import asyncio
import dataclasses
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
from smallfirst.models.completion import Chunk, Completion, Message, Usage, prompt_text
from smallfirst.models.registry import ModelPool, canonical_path, resolve
from smallfirst.redact import redact
from smallfirst.response_cache import ResponseCache
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
    (routers read it), a free tag (the demo's scenario), and the request's id when the caller assigned it before
    the request ran (the gateway does, to tie a budget hold to the request's log row)."""

    source: str = "cli"
    key_id: str | None = None
    task: str | None = None
    tag: str | None = None
    request_id: str | None = None
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
        #: whether a requested name may be a path to a .gguf file (the CLI's and config's feature; the gateway
        #: turns it off: a request names models, never files on the server's disk)
        self.allow_paths = True
        #: this process among those sharing the request log (names its journal and its budget holds)
        self.instance_id = uuid.uuid4().hex
        #: processes whose journals this one replayed at start (their budget holds are settled from the log)
        self.recovered_owners: list[str] = []
        c = self.settings.response_cache
        self.cache = ResponseCache(c.ttl_s, c.max_entries, scope=c.scope, models=c.models) if c.enabled else None

    def resolve(self, name: str) -> ModelSpec:
        """``registry.resolve``, remembered for a few seconds: it scans the home for registered tiers, and
        a request asks several times."""
        now = time.monotonic()
        hit = self._specs.get(name)
        if hit is None or now - hit[1] > _SPEC_TTL_S:
            hit = self._specs[name] = (resolve(name, self.settings, allow_paths=self.allow_paths), now)
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
            spec = self.resolve(requested)  # raises UnknownModelError naming the known ones
            if spec.path and requested.endswith(".gguf") and requested not in self.settings.models:
                requested = canonical_path(requested)  # one file is one model, however it is spelled
            return Decision(model=requested, policy="direct", reason="model named in the request")
        return policy.decide(prompt_text(messages), task)

    def _attempt(self, model: str | None, messages: Sequence[Message], ctx: RequestContext | None,
                 params: dict[str, Any]) -> _Attempt:
        return _Attempt(self, model or self.settings.default_model, messages, ctx or RequestContext(), params)

    def _escalating(self, requested: str) -> Escalating | None:
        policy = self.policies.get(requested)
        # a model named directly (the common case on the gateway) skips the Protocol check, which is not free
        return policy if policy is not None and isinstance(policy, Escalating) else None

    # -- the async core: the gateway's path, and under the sync API everyone else's ----------------------

    async def aanswer(self, messages: Sequence[Message], model: str | None = None, *,
                      ctx: RequestContext | None = None, **params: Any) -> Answer:
        """Route, complete (with fallbacks, and a cascade's judgement), price and log one request.

        ``model`` is a model or policy name (default: ``default_model``); ``params`` are OpenAI request parameters
        (``models/request_params.py``). Raises a SmallfirstError (and logs it) when the request cannot be
        answered."""
        with self._attempt(model, messages, ctx, params) as at:
            cached = at.cached()
            if cached is not None:
                answer = cached
            else:
                at.decision = decision = self.decide(at.requested, messages, at.ctx.task)
                policy = self._escalating(at.requested)
                if policy is not None:
                    answer = await self._cascade(policy, decision, messages, at.ctx, params)
                else:
                    completion, decision = await self._complete_with_fallbacks(decision, messages, params)
                    answer = self._priced(completion, decision, at.ctx)
        at.succeeded(answer)
        return answer

    async def astream(self, messages: Sequence[Message], model: str | None = None, *,
                      ctx: RequestContext | None = None, **params: Any) -> AsyncIterator[Chunk | Answer]:
        """Yields text chunks, then the final Answer; the first chunk names the model that answers. A failing
        model is replaced by its fallback only before its first token: after that the client has seen text, and
        splicing another model's answer onto it would be worse than an error. An escalating policy must judge
        its first answer before showing it, so it answers whole and yields the text as one chunk. A caller that
        stops early (a client gone) is logged as a 499 and charged for the tokens generated so far."""
        with self._attempt(model, messages, ctx, params) as at:
            cached = at.cached()
            if cached is not None:
                answer = cached
                yield Chunk(answer.completion.text, logprobs=answer.completion.logprobs or (), model=answer.model)
            else:
                at.decision = decision = self.decide(at.requested, messages, at.ctx.task)
                policy = self._escalating(at.requested)
                if policy is not None:
                    answer = await self._cascade(policy, decision, messages, at.ctx, params)
                    yield Chunk(answer.completion.text, logprobs=answer.completion.logprobs or (),
                                model=answer.model)
                else:
                    answer = None
                    # closed with this generator, so a caller that leaves stops the model's stream at once
                    async with aclosing(self._stream_with_fallbacks(decision, messages, params, at)) as items:
                        async for item in items:
                            if isinstance(item, Answer):
                                answer = item
                            else:
                                yield item
                    assert answer is not None
        at.succeeded(answer)
        yield answer

    async def _stream_with_fallbacks(self, decision: Decision, messages: Sequence[Message], params: dict[str, Any],
                                     at: _Attempt) -> AsyncIterator[Chunk | Answer]:
        chain = self._chain(decision)
        final: Completion | None = None
        for name in chain.names:
            try:
                async with self.pool.using(name) as model, aclosing(self._call_stream(model, name, messages,
                                                                                      params)) as chunks:
                    first = True
                    async for chunk in chunks:
                        if chunk.completion is not None:
                            final = chunk.completion
                            if chunk.logprobs:
                                at.partial(model, name, "")
                                yield Chunk("", logprobs=chunk.logprobs, model=name)
                        elif chunk.text or chunk.logprobs:
                            at.partial(model, name, chunk.text)
                            yield dataclasses.replace(chunk, model=name) if first else chunk
                            first = False
            except UpstreamError as exc:
                if at.emitted:
                    raise
                chain.failed(name, exc, self.resolve(name))
                continue
            break
        if final is None:
            raise chain.last or UpstreamError(f"{decision.model} ended its stream without a completion")
        yield self._priced(final, chain.answered(final.model), at.ctx)

    async def _call(self, name: str, messages: Sequence[Message], params: dict[str, Any]) -> Completion:
        """One model call under the circuit breaker."""
        self.breaker.check(name)
        async with self.pool.using(name) as model:
            try:
                completion = await model.complete(messages, **params)
            except UpstreamError as exc:
                if exc.retryable:
                    self.breaker.failure(name)
                raise
        self.breaker.success(name)
        return completion

    async def _call_stream(self, model: Any, name: str, messages: Sequence[Message],
                           params: dict[str, Any]) -> AsyncIterator[Chunk]:
        """One streamed model call under the circuit breaker: text chunks, then the chunk with the Completion."""
        self.breaker.check(name)
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
                chain.failed(name, exc, self.resolve(name))
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
            return self._priced(first, first_decision, ctx)
        kept = _judged(policy, first_decision, verdict)
        if verdict.accept:
            return self._priced(first, kept, ctx, extra=verdict.extra)
        assert verdict.escalate_to is not None
        second, escalated = await self._complete_with_fallbacks(kept, messages, params)
        combined = Completion(model=second.model, text=second.text, finish_reason=second.finish_reason,
                              usage=second.usage, wall_seconds=first.wall_seconds + second.wall_seconds,
                              ttft_seconds=first.wall_seconds + second.ttft_seconds, logprobs=second.logprobs,
                              kind=second.kind, tool_calls=second.tool_calls)
        return self._priced(combined, escalated, ctx, extra=(first, *verdict.extra))

    def _priced(self, completion: Completion, decision: Decision, ctx: RequestContext,
                extra: Sequence[Completion] = ()) -> Answer:
        """Price ``completion`` on its model, plus every completion in ``extra`` on its own model."""
        spec = self.resolve(completion.model)
        paid = None
        if extra:
            prices = [self.ledger.price_usage(c.model, self.resolve(c.model), c.usage, c.wall_seconds) for c in extra]
            paid = Price(sum((p.usd for p in prices), Decimal(0)), ", ".join(sorted({p.source for p in prices})))
        cost = self.ledger.price(completion.model, spec, completion, extra=paid)
        return Answer(request_id=ctx.request_id or str(uuid.uuid4()), completion=completion, decision=decision,
                      cost=cost)

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
        """Write log rows on a background thread from now on, so async callers never wait on the database. Each
        row is journaled first (``store/journal.py``), so a row whose request was answered survives a crash;
        journals a crashed process left on this home are replayed into the log now."""
        if self._writer is None and self.log_enabled:
            from smallfirst.store.journal import Journal, recover
            from smallfirst.store.writer import LogWriter

            directory = self.settings.home / "journal"
            _, self.recovered_owners = recover(directory, self.engine)
            journal = Journal(directory, self.instance_id)
            self._writer = LogWriter(lambda: self.engine, observe=self._observe, journal=journal)

    def flush_log(self, timeout: float = 30.0) -> None:
        """Wait (up to ``timeout`` seconds) until every submitted row is written."""
        if self._writer is not None:
            self._writer.flush(timeout)

    def _record(self, request_id: str, requested: str, ctx: RequestContext, messages: Sequence[Message],
                params: dict[str, Any], *, decision: Decision | None, completion: Completion | None,
                cost: Cost | None, status: int, error: SmallfirstError | None, seconds: float) -> RequestRecord:
        d, c = decision, completion
        usage = c.usage if c is not None else Usage(0, 0)
        log_content = self.settings.log_content
        return RequestRecord(
            id=request_id, created_at=datetime.now(UTC), source=ctx.source, key_id=ctx.key_id,
            requested_model=requested, model=c.model if c is not None else (d.model if d else ""),
            status="ok" if error is None else "error", http_status=status,
            policy=d.policy if d else None, decision_reason=d.reason if d else None, score=d.score if d else None,
            threshold=d.threshold if d else None, attempted=d.attempted if d else (), task=ctx.task,
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens, cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens, audio_prompt_tokens=usage.audio_prompt_tokens,
            audio_completion_tokens=usage.audio_completion_tokens,
            latency_s=c.wall_seconds if c is not None and error is None else seconds,
            ttft_s=c.ttft_seconds if c is not None else None,
            cost_usd=cost.amount if cost is not None else Decimal(0),
            baseline_usd=cost.baseline if cost is not None else Decimal(0),
            baseline_model=cost.baseline_model if cost is not None else None,
            price_source=cost.source if cost is not None else None,
            error=redact(str(error)) if error is not None else None, tag=ctx.tag,
            prompt=prompt_text(messages) if log_content else None,
            response=(c.text if c is not None else None) if log_content else None,
            end_user=params.get("user") or params.get("safety_identifier"))

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
    that goes away (a closed generator, a cancelled task) leaves a 499 row, charged for what was generated.
    Success is logged by ``succeeded``, called after the scope once the answer is whole. The request's id is the
    caller's (``ctx.request_id``) or a new one, and every row of the request carries it."""

    __slots__ = ("service", "requested", "messages", "ctx", "params", "decision", "started", "emitted", "_model",
                 "_name", "_cache_key")

    def __init__(self, service: Service, requested: str, messages: Sequence[Message], ctx: RequestContext,
                 params: dict[str, Any]) -> None:
        if ctx.request_id is None:
            ctx = dataclasses.replace(ctx, request_id=str(uuid.uuid4()))
        self.service, self.requested, self.messages, self.ctx, self.params = service, requested, messages, ctx, params
        self.decision: Decision | None = None
        self.started = time.perf_counter()
        self.emitted: list[str] = []
        self._model: Any = None
        self._name = ""
        self._cache_key: str | None = None

    def __enter__(self) -> _Attempt:
        return self

    def cached(self) -> Answer | None:
        """The response cache's answer to this request, priced at nothing against the baseline, or None."""
        cache = self.service.cache
        if cache is None:
            return None
        self._cache_key = cache.key(self.requested, self.messages, self.params, self.ctx.key_id)
        hit = cache.get(self._cache_key) if self._cache_key is not None else None
        if hit is None:
            return None
        c = dataclasses.replace(hit.completion, wall_seconds=time.perf_counter() - self.started, ttft_seconds=0.0)
        age = time.monotonic() - hit.stored_at
        self.decision = Decision(model=c.model, policy="cache", reason=f"response cache: the answer of request "
                                 f"{hit.request_id} ({hit.policy}), {age:.0f}s old")
        baseline = self.service.ledger.baseline(c.usage)
        cost = Cost(Decimal(0), baseline.usd, "response cache", self.service.settings.baseline_model)
        return Answer(request_id=self.ctx.request_id or "", completion=c, decision=self.decision, cost=cost)

    def partial(self, model: Any, name: str, text: str) -> None:
        """Note streamed text as it goes out, from ``model`` (named ``name``), to charge for if the caller leaves."""
        self._model, self._name = model, name
        self.emitted.append(text)

    def succeeded(self, answer: Answer) -> None:
        """Log the request's success row (and store a deterministic answer in the response cache), then tell the
        ``answered`` hooks (learning) about an answer a model produced (not a cache hit)."""
        svc = self.service
        svc._write(svc._record(answer.request_id, self.requested, self.ctx, self.messages, self.params,
                               decision=answer.decision, completion=answer.completion, cost=answer.cost, status=200,
                               error=None, seconds=time.perf_counter() - self.started))
        if answer.decision.policy == "cache":
            return
        if self._cache_key is not None and svc.cache is not None:
            svc.cache.put(self._cache_key, answer.completion, answer.decision.policy, answer.request_id)
        if svc.answered:
            served = Served(self.requested, tuple(self.messages), dict(self.params), self.ctx, answer)
            for hook in svc.answered:
                hook(served)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        completion, cost = None, None
        if isinstance(exc, SmallfirstError):
            error, status = exc, exc.status
        elif isinstance(exc, (GeneratorExit, asyncio.CancelledError)):
            error, status = UpstreamError("client disconnected"), 499
            completion, cost = self._charge()
        else:
            return
        svc = self.service
        svc._write(svc._record(self.ctx.request_id or "", self.requested, self.ctx, self.messages, self.params,
                               decision=self.decision, completion=completion, cost=cost, status=status, error=error,
                               seconds=time.perf_counter() - self.started))

    def _charge(self) -> tuple[Completion | None, Cost | None]:
        """What a stream cut short by its caller consumed: the backend's estimate of the tokens so far, priced."""
        if self._model is None:
            return None, None
        svc = self.service
        text = "".join(self.emitted)
        estimate = getattr(self._model, "estimate_usage", None)
        try:
            usage = estimate(self.messages, text, self.params) if estimate is not None else Usage(0, 0)
            wall = time.perf_counter() - self.started
            completion = Completion(model=self._name, text=text, finish_reason="cancelled", usage=usage,
                                    wall_seconds=wall, ttft_seconds=wall, kind=getattr(self._model, "kind", "local"))
            return completion, svc.ledger.price(self._name, svc.resolve(self._name), completion)
        except Exception:  # noqa: BLE001 - the 499 row must be written whatever the estimate does
            return None, None


class _Chain:
    """The models to try for a decision, in order (the model, then its fallbacks), and what failed so far."""

    __slots__ = ("decision", "names", "tried", "last")

    def __init__(self, decision: Decision, fallbacks: Sequence[str]) -> None:
        self.decision = decision
        self.names = [decision.model, *fallbacks]
        self.tried: list[str] = []
        self.last: UpstreamError | None = None

    def failed(self, name: str, exc: UpstreamError, spec: ModelSpec) -> None:
        """Note a failure worth trying the next model for (the endpoint is down, or refused its key and the
        model's ``fallback_on_auth_error`` allows); any other failure ends the request."""
        auth = exc.upstream_status in (401, 403) and spec.fallback_on_auth_error
        if not exc.retryable and not auth:
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
