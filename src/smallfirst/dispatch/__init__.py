"""Running one model call from async code: local models on their own worker threads behind a bounded queue,
endpoints on the pooled async client, and a circuit breaker that skips an endpoint that keeps failing."""

from smallfirst.dispatch.calls import AsyncCalls
from smallfirst.dispatch.circuit import CircuitBreaker
from smallfirst.dispatch.workers import Workers

__all__ = ["AsyncCalls", "CircuitBreaker", "Workers"]
