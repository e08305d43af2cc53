"""``GET /metrics`` in the Prometheus text format: requests, tokens, cost, baseline cost, savings and latency,
labelled by the model that answered and the route (the policy, or "direct"). Fed by the service's observer
hook, so every logged request counts, refusals included. Each app has its own registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from smallfirst.store.records import RequestRecord

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class _QueueDepth(Collector):
    def __init__(self, depths: Callable[[], dict[str, int]]) -> None:
        self.depths = depths

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "smallfirst_local_queue_depth", "Requests running or queued per local model", labels=["model"]
        )
        for model, depth in self.depths().items():
            gauge.add_metric([model], depth)
        yield gauge


class GatewayMetrics:
    def __init__(self, queue_depths: Callable[[], dict[str, int]] | None = None) -> None:
        self.registry = CollectorRegistry()
        labels = ["model", "route"]
        r = self.registry
        self.requests = Counter(
            "smallfirst_requests", "Requests answered or refused", [*labels, "status"], registry=r
        )
        self.tokens = Counter("smallfirst_tokens", "Tokens processed", [*labels, "direction"], registry=r)
        self.cost = Counter("smallfirst_cost_usd", "What the answers cost, in USD", labels, registry=r)
        self.baseline = Counter(
            "smallfirst_baseline_cost_usd", "What the baseline model would have cost", labels, registry=r
        )
        self.savings = Counter(
            "smallfirst_savings_usd", "Baseline cost minus cost, where positive", labels, registry=r
        )
        self.latency = Histogram(
            "smallfirst_request_latency_seconds",
            "Model time per request",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "smallfirst_time_to_first_token_seconds",
            "Time to the first token",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        if queue_depths is not None:
            r.register(_QueueDepth(queue_depths))

    def observe(self, record: RequestRecord) -> None:
        model = record.model or "none"
        route = record.policy or ("direct" if record.model else "refused")
        self.requests.labels(model, route, str(record.http_status)).inc()
        self.latency.labels(model, route).observe(record.latency_s)
        if record.status != "ok":
            return
        if record.ttft_s is not None:
            self.ttft.labels(model, route).observe(record.ttft_s)
        self.tokens.labels(model, route, "input").inc(record.prompt_tokens)
        self.tokens.labels(model, route, "output").inc(record.completion_tokens)
        self.cost.labels(model, route).inc(float(record.cost_usd))
        self.baseline.labels(model, route).inc(float(record.baseline_usd))
        if record.saving_usd > 0:
            self.savings.labels(model, route).inc(float(record.saving_usd))

    def render(self) -> bytes:
        return generate_latest(self.registry)
