"""One row of the request log, as a record other packages read without touching SQLAlchemy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One answered (or failed) request: who asked for which model and what answered, the routing decision
    (policy, reason, score, threshold, models tried in order), tokens, ``latency_s`` and ``ttft_s`` in seconds,
    ``cost_usd`` and ``baseline_usd`` (what the baseline model would have cost) as Decimal USD with the price
    source, the error text (redacted before it is stored) and, when content logging is on, prompt and response."""

    id: str
    created_at: datetime
    #: "cli", "gateway", "demo", "collect", ...
    source: str
    requested_model: str
    #: the model that answered; empty when nothing answered
    model: str
    status: str  # "ok" or "error"
    http_status: int = 200
    key_id: str | None = None
    policy: str | None = None
    decision_reason: str | None = None
    score: float | None = None
    threshold: float | None = None
    attempted: tuple[str, ...] = ()
    task: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    ttft_s: float | None = None
    cost_usd: Decimal = Decimal(0)
    baseline_usd: Decimal = Decimal(0)
    baseline_model: str | None = None
    price_source: str | None = None
    error: str | None = None
    #: free-form grouping, e.g. a demo scenario name
    tag: str | None = None
    #: graded quality where a gold answer was known (0..1), else None
    quality: float | None = None
    prompt: str | None = field(default=None, repr=False)
    response: str | None = field(default=None, repr=False)

    @property
    def saving_usd(self) -> Decimal:
        """Baseline cost minus actual cost, USD; negative when the answer cost more than the baseline would."""
        return self.baseline_usd - self.cost_usd
