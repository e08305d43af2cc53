"""OpenTelemetry spans with the GenAI semantic-convention attributes, when the ``otel`` extra is installed
and a tracer provider is configured; otherwise nothing at all happens (and nothing is imported)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

try:
    from opentelemetry import trace
except ImportError:  # the otel extra is optional
    trace = None  # type: ignore[assignment]


_RECHECK_S = 1.0
_state: dict[str, Any] = {"tracer": None, "checked": -_RECHECK_S}


def _tracer() -> Any:
    """The tracer once a provider is configured (OpenTelemetry sets one provider per process, so it is kept);
    until then, nobody collects spans, the work is skipped, and the provider is looked for once a second."""
    if trace is None or _state["tracer"] is not None:
        return _state["tracer"]
    now = time.monotonic()
    if now - _state["checked"] < _RECHECK_S:
        return None
    _state["checked"] = now
    provider = trace.get_tracer_provider()
    if type(provider).__name__ in ("ProxyTracerProvider", "NoOpTracerProvider"):
        return None
    _state["tracer"] = provider.get_tracer("smallfirst")
    return _state["tracer"]


@contextlib.contextmanager
def span(operation: str, requested: str) -> Iterator[Any]:
    """An OpenTelemetry client span named ``"{operation} {requested}"`` with the GenAI semantic-convention
    attributes, or None when no tracer provider is configured (then nothing is recorded)."""
    tracer = _tracer()
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(f"{operation} {requested}", kind=trace.SpanKind.CLIENT) as s:
        s.set_attribute("gen_ai.operation.name", operation)
        s.set_attribute("gen_ai.request.model", requested)
        s.set_attribute("gen_ai.system", "smallfirst")
        yield s


def record(s: Any, answer: Any) -> None:
    """Put ``answer``'s response model, token usage, finish reason, policy, and cost and baseline (USD) on span
    ``s`` (a no-op for None)."""
    if s is None:
        return
    usage = answer.completion.usage
    s.set_attribute("gen_ai.response.model", answer.model)
    s.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
    s.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
    s.set_attribute("gen_ai.response.finish_reasons", [answer.completion.finish_reason])
    s.set_attribute("smallfirst.policy", answer.decision.policy)
    s.set_attribute("smallfirst.cost_usd", str(answer.cost.amount))
    s.set_attribute("smallfirst.baseline_usd", str(answer.cost.baseline))
