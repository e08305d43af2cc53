"""``GET /metrics`` in the Prometheus text format: requests, tokens, cost, baseline cost, savings and latency,
labelled by the model that answered and the route (the policy, or "direct"). Fed by the service's observer
hook, so every logged request counts, refusals included. Each app has its own registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from smallfirst.store.request_record import RequestRecord

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


class _Learning(Collector):
    """What learning did so far: refits, promotions, rollbacks, the serving version, outcome rows by state and
    learning cost today (from the learning object, read at scrape time)."""

    def __init__(self, learning: Any) -> None:
        self.learning = learning

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from prometheus_client.core import CounterMetricFamily

        lr = self.learning
        for name, text, value in (("refits", "Policies fitted by learning", lr.refits),
                                  ("promotions", "Learned policies promoted to serve", lr.promotions),
                                  ("rollbacks", "Learned policies the guard (or a person) rolled back", lr.rollbacks)):
            yield CounterMetricFamily(f"smallfirst_learning_{name}", text, value=value)
        yield GaugeMetricFamily("smallfirst_learning_serving_version",
                                "The learned policy version serving (0: the large tier answers everything)",
                                value=lr.serving_id or 0)
        yield GaugeMetricFamily("smallfirst_learning_cost_today_usd", "Learning cost today (UTC): shadow answers "
                                "and judge calls", value=float(lr.sampler.spent))
        from smallfirst.store.learning_log import count_outcomes

        rows = GaugeMetricFamily("smallfirst_learning_outcome_rows", "Outcome rows by state", labels=["state"])
        for state, n in count_outcomes(lr.service.engine).items():
            if ":" not in state:
                rows.add_metric([state], n)
        yield rows


@dataclass(slots=True)
class _Series:
    requests: dict[int, Any]
    latency: Any
    ttft: Any
    input_tokens: Any
    output_tokens: Any
    cost: Any
    baseline: Any
    savings: Any


class GatewayMetrics:
    """The gateway's Prometheus registry: requests by model, route and status; tokens; cost, baseline cost and
    savings in USD; latency and time to first token in seconds; model loads; local queue depths."""

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
        self.loads = Histogram(
            "smallfirst_model_load_seconds",
            "Loading a model (its own event: never part of a request's latency or cost)",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        if queue_depths is not None:
            r.register(_QueueDepth(queue_depths))
        self._children: dict[tuple[str, str], _Series] = {}

    def observe_load(self, model: str, seconds: float) -> None:
        """Count one model load that took ``seconds``."""
        self.loads.labels(model).observe(seconds)
    def watch_learning(self, learning: Any) -> None:
        """Report ``learning``'s refits, promotions, rollbacks, serving version and outcome rows too."""
        self.registry.register(_Learning(learning))

    def observe(self, record: RequestRecord) -> None:
        """Count one logged request: by status, its latency, and when it succeeded its tokens, cost, baseline
        cost and saving (USD), labelled by model and route."""
        model = record.model or "none"
        route = record.policy or ("direct" if record.model else "refused")
        s = self._series(model, route)
        status = s.requests.get(record.http_status)
        if status is None:
            status = s.requests[record.http_status] = self.requests.labels(model, route, str(record.http_status))
        status.inc()
        s.latency.observe(record.latency_s)
        if record.status != "ok":
            return
        if record.ttft_s is not None:
            s.ttft.observe(record.ttft_s)
        s.input_tokens.inc(record.prompt_tokens)
        s.output_tokens.inc(record.completion_tokens)
        s.cost.inc(float(record.cost_usd))
        s.baseline.inc(float(record.baseline_usd))
        if record.saving_usd > 0:
            s.savings.inc(float(record.saving_usd))

    def _series(self, model: str, route: str) -> _Series:
        """One (model, route)'s children, looked up once: ``labels()`` costs more than the update itself."""
        key = (model, route)
        series = self._children.get(key)
        if series is None:
            series = self._children[key] = _Series(
                requests={},
                latency=self.latency.labels(model, route),
                ttft=self.ttft.labels(model, route),
                input_tokens=self.tokens.labels(model, route, "input"),
                output_tokens=self.tokens.labels(model, route, "output"),
                cost=self.cost.labels(model, route),
                baseline=self.baseline.labels(model, route),
                savings=self.savings.labels(model, route),
            )
        return series

    def render(self) -> bytes:
        """The metrics in the Prometheus text exposition format 0.0.4."""
        return generate_latest(self.registry)
