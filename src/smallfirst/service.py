"""Answer one request: route, complete, price, log. The CLI, the gateway and the demo all call this, so
they can never drift apart. Every request leaves exactly one row in the request log, failures included."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from smallfirst.config import ModelSpec, Settings, load_settings
from smallfirst.costs.ledger import Ledger
from smallfirst.costs.prices import Price
from smallfirst.costs.records import Cost
from smallfirst.errors import SmallfirstError, UpstreamError
from smallfirst.models.base import Model
from smallfirst.models.records import Chunk, Completion, Message
from smallfirst.models.registry import ModelPool, resolve
from smallfirst.redact import redact
from smallfirst.routing.records import Decision
from smallfirst.store.records import RequestRecord

_SPEC_TTL_S = 5.0


class RoutingPolicy(Protocol):
    """Anything that picks a model for a prompt. A cascade additionally judges the small model's answer."""

    name: str

    def decide(self, prompt: str, task: str | None = None) -> Decision: ...


class Escalating(Protocol):
    name: str
    small: str
    large: str

    def decide(self, prompt: str, task: str | None = None) -> Decision: ...

    def accept(self, completion: Completion, prompt: str,
               task: str | None = None) -> tuple[bool, float, str] | None: ...


@dataclass(frozen=True, slots=True)
class Answer:
    request_id: str
    completion: Completion
    decision: Decision
    cost: Cost

    @property
    def model(self) -> str:
        return self.completion.model


@dataclass(frozen=True, slots=True)
class RequestContext:
    source: str = "cli"
    key_id: str | None = None
    task: str | None = None
    tag: str | None = None


def prompt_text(messages: Sequence[Message]) -> str:
    """What routers read: the last user turn (earlier turns rarely change how hard the ask is)."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return str(m.get("content") or "")
    return str(messages[-1].get("content") or "") if messages else ""


class Service:
    def __init__(self, settings: Settings | None = None, *, engine: Any = None, pool: ModelPool | None = None,
                 policies: dict[str, RoutingPolicy] | None = None, log: bool = True) -> None:
        self.settings = settings or load_settings()
        self.pool = pool or ModelPool(self.settings)
        self.ledger = Ledger(self.settings)
        self._engine = engine
        self.log_enabled = log
        self._policies: dict[str, RoutingPolicy] | None = policies
        #: called after each logged request; the gateway hooks metrics and budgets here
        self.observers: list[Callable[[RequestRecord], None]] = []
        self._calls: Any = None
        self._specs: dict[str, tuple[ModelSpec, float]] = {}
        self._writer: Any = None

    def resolve(self, name: str) -> ModelSpec:
        """``registry.resolve``, remembered for a few seconds: it scans the home for registered tiers, and
        the gateway asks several times per request."""
        now = time.monotonic()
        hit = self._specs.get(name)
        if hit is None or now - hit[1] > _SPEC_TTL_S:
            hit = self._specs[name] = (resolve(name, self.settings), now)
        return hit[0]

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from smallfirst.store.db import get_engine

            self._engine = get_engine(self.settings.db_url)
        return self._engine

    # -- routing ------------------------------------------------------------------------------------

    @property
    def policies(self) -> dict[str, RoutingPolicy]:
        if self._policies is None:
            from smallfirst.routing.defaults import default_policies

            self._policies = default_policies(self.settings)
        return self._policies

    def decide(self, requested: str, messages: Sequence[Message], task: str | None = None) -> Decision:
        policy = self.policies.get(requested)
        if policy is None:
            self.resolve(requested)  # raises UnknownModelError naming the known ones
            return Decision(model=requested, policy="direct", reason="model named in the request")
        return policy.decide(prompt_text(messages), task)

    def _escalating(self, requested: str) -> Escalating | None:
        """The policy behind ``requested`` when it judges a first answer before keeping it (a cascade)."""
        policy = self.policies.get(requested)
        return policy if policy is not None and hasattr(policy, "accept") else None  # type: ignore[return-value]

    # -- answering ----------------------------------------------------------------------------------

    def answer(self, messages: Sequence[Message], model: str | None = None, *, ctx: RequestContext | None = None,
               **params: Any) -> Answer:
        with self._attempt(model, messages, ctx) as at:
            at.decision = decision = self.decide(at.requested, messages, at.ctx.task)
            policy = self._escalating(at.requested)
            if policy is not None:
                answer = self._cascade(policy, decision, messages, at.ctx, params)
            else:
                completion, decision = self._complete_with_fallbacks(decision, messages, params)
                answer = self._priced(completion, decision)
        at.succeeded(answer)
        return answer

    def stream(self, messages: Sequence[Message], model: str | None = None, *, ctx: RequestContext | None = None,
               **params: Any) -> Iterator[Chunk | Answer]:
        """Yields text chunks, then the final Answer. A cascade cannot stream its first attempt (it must judge
        it before showing it), so it answers whole and yields the text as one chunk."""
        with self._attempt(model, messages, ctx) as at:
            at.decision = decision = self.decide(at.requested, messages, at.ctx.task)
            policy = self._escalating(at.requested)
            if policy is not None:
                answer = self._cascade(policy, decision, messages, at.ctx, params)
                yield Chunk(answer.completion.text)
            else:
                target = self.pool.get(decision.model)
                final: Completion | None = None
                for chunk in target.stream(messages, **params):
                    if chunk.completion is not None:
                        final = chunk.completion
                    elif chunk.text:
                        yield chunk
                assert final is not None
                answer = self._priced(final, decision)
        at.succeeded(answer)
        yield answer

    def _attempt(self, model: str | None, messages: Sequence[Message], ctx: RequestContext | None) -> _Attempt:
        return _Attempt(self, model or self.settings.default_model, messages, ctx or RequestContext())

    def _complete_with_fallbacks(self, decision: Decision, messages: Sequence[Message],
                                 params: dict[str, Any]) -> tuple[Completion, Decision]:
        chain = self._chain(decision)
        for name in chain.names:
            try:
                completion = self.pool.get(name).complete(messages, **params)
            except UpstreamError as exc:
                chain.failed(name, exc)
                continue
            return completion, chain.answered(name)
        raise chain.exhausted()

    def _chain(self, decision: Decision) -> _Chain:
        return _Chain(decision, self.resolve(decision.model).fallbacks)

    def _cascade(self, policy: Escalating, decision: Decision, messages: Sequence[Message], ctx: RequestContext,
                 params: dict[str, Any]) -> Answer:
        first, _ = self._complete_with_fallbacks(decision, messages, {**params, "logprobs": True})
        judged = _judge(policy, decision, first, messages, ctx)
        if isinstance(judged, Decision):
            return self._priced(first, judged)
        second, escalated = self._complete_with_fallbacks(judged[0], messages, params)
        return self._escalated(first, second, escalated)

    def _escalated(self, first: Completion, second: Completion, escalated: Decision) -> Answer:
        wasted = self.ledger.price_usage(first.model, self.resolve(first.model), first.usage,
                                         first.wall_seconds)
        combined = Completion(model=second.model, text=second.text, finish_reason=second.finish_reason,
                              usage=second.usage, wall_seconds=first.wall_seconds + second.wall_seconds,
                              ttft_seconds=first.wall_seconds + second.ttft_seconds, logprobs=second.logprobs,
                              kind=second.kind)
        return self._priced(combined, escalated, extra=wasted)

    # -- async: the gateway's path ---------------------------------------------------------------------
    # The same stages as answer/stream, with model calls that never block the event loop: local models run
    # on their worker threads, endpoints on the pooled async client, both under the circuit breaker.

    @property
    def calls(self) -> Any:
        if self._calls is None:
            from smallfirst.dispatch import AsyncCalls

            self._calls = AsyncCalls(self.settings, self.pool)
        return self._calls

    async def aclose_endpoints(self) -> None:
        if self._calls is not None:
            await self._calls.aclose_endpoints()

    def use_background_log(self) -> None:
        """Write log rows on a background thread from now on, so async callers never wait on the database."""
        if self._writer is None and self.log_enabled:
            from smallfirst.store.writer import LogWriter

            self._writer = LogWriter(lambda: self.engine, observe=self._observe)

    def flush_log(self, timeout: float = 30.0) -> None:
        if self._writer is not None:
            self._writer.flush(timeout)

    async def aanswer(self, messages: Sequence[Message], model: str | None = None, *,
                      ctx: RequestContext | None = None, **params: Any) -> Answer:
        with self._attempt(model, messages, ctx) as at:
            at.decision = decision = self.decide(at.requested, messages, at.ctx.task)
            policy = self._escalating(at.requested)
            if policy is not None:
                answer = await self._acascade(policy, decision, messages, at.ctx, params)
            else:
                completion, decision = await self._acomplete_with_fallbacks(decision, messages, params)
                answer = self._priced(completion, decision)
        at.succeeded(answer)
        return answer

    async def astream(self, messages: Sequence[Message], model: str | None = None, *,
                      ctx: RequestContext | None = None, **params: Any) -> AsyncIterator[Chunk | Answer]:
        """Like ``stream``. A failing model is replaced by its fallback only before its first token: after
        that the client has seen text, and splicing another model's answer onto it would be worse than an
        error."""
        with self._attempt(model, messages, ctx) as at:
            at.decision = decision = self.decide(at.requested, messages, at.ctx.task)
            policy = self._escalating(at.requested)
            if policy is not None:
                answer = await self._acascade(policy, decision, messages, at.ctx, params)
                yield Chunk(answer.completion.text)
            else:
                chain = self._chain(decision)
                final: Completion | None = None
                emitted = False
                for name in chain.names:
                    try:
                        async with aclosing(self.calls.stream(name, messages, params)) as chunks:
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
        at.succeeded(answer)
        yield answer

    async def _acomplete_with_fallbacks(self, decision: Decision, messages: Sequence[Message],
                                        params: dict[str, Any]) -> tuple[Completion, Decision]:
        chain = self._chain(decision)
        for name in chain.names:
            try:
                completion = await self.calls.complete(name, messages, params)
            except UpstreamError as exc:
                chain.failed(name, exc)
                continue
            return completion, chain.answered(name)
        raise chain.exhausted()

    async def _acascade(self, policy: Escalating, decision: Decision, messages: Sequence[Message],
                        ctx: RequestContext, params: dict[str, Any]) -> Answer:
        first, _ = await self._acomplete_with_fallbacks(decision, messages, {**params, "logprobs": True})
        judged = _judge(policy, decision, first, messages, ctx)
        if isinstance(judged, Decision):
            return self._priced(first, judged)
        second, escalated = await self._acomplete_with_fallbacks(judged[0], messages, params)
        return self._escalated(first, second, escalated)

    def _priced(self, completion: Completion, decision: Decision, extra: Price | None = None) -> Answer:
        spec = self.resolve(completion.model)
        cost = self.ledger.price(completion.model, spec, completion, extra=extra)
        return Answer(request_id=str(uuid.uuid4()), completion=completion, decision=decision, cost=cost)

    # -- logging ------------------------------------------------------------------------------------

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

    def model(self, name: str) -> Model:
        return self.pool.get(name)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._calls is not None:
            self._calls.close()
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

    def succeeded(self, answer: Answer) -> None:
        self.service._log_success(self.requested, answer, self.ctx, self.messages)

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
        assert self.last is not None
        return self.last


def _judge(policy: Escalating, decision: Decision, first: Completion, messages: Sequence[Message],
           ctx: RequestContext) -> Decision | tuple[Decision]:
    """The decision to keep ``first``, or (as a 1-tuple) the decision to escalate to.

    ``accept`` may return None where the policy does not judge this answer (it was not a first attempt);
    ``escalate`` (optional) names the model to escalate to, else the policy's ``large``."""
    prompt = prompt_text(messages)
    verdict = policy.accept(first, prompt, ctx.task)
    if verdict is None:
        return decision
    ok, confidence, why = verdict
    if ok:
        return Decision(model=first.model, policy=policy.name, score=confidence, threshold=decision.threshold,
                        reason=why)
    escalate = getattr(policy, "escalate", None)
    target = escalate(prompt, ctx.task).model if escalate else policy.large
    return (Decision(model=target, policy=policy.name, score=confidence, threshold=decision.threshold,
                     attempted=(first.model,), reason=why),)
