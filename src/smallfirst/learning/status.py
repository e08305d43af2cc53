"""What learning has learned, what it spends to learn, what it saves, and when the learning pays for itself.

Read from the request log alone, so ``smallfirst learn status`` works beside a running gateway or without one:

- the serving version (or the large tier for everything), and the outcome rows by state and by who graded them;
- learning cost: every shadow answer and judge call, as logged (source ``shadow`` and ``judge``);
- the saving: requests to the learning-managed policy that the small tier answered, each valued at the large tier's
  mean cost per request on that policy minus what it cost (an estimate: the large tier did not answer them);
- payback: the saving minus the learning cost, and, while negative, the requests still needed at the current rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from smallfirst.config import Settings
from smallfirst.store.learning_log import (
    ModelSpend,
    VersionRecord,
    count_outcomes,
    learning_spend,
    policy_spend,
    serving_version,
    versions,
)

__all__ = ["LearningStatus", "learning_status", "render"]


@dataclass(frozen=True)
class LearningStatus:
    """A snapshot of learning (USD amounts are Decimal)."""

    enabled: bool
    policy: str
    small: str
    large: str
    target: str
    serving: VersionRecord | None
    n_versions: int
    outcomes: dict[str, int]
    learning_calls: int
    learning_cost: Decimal
    learning_cost_today: Decimal
    budget_per_day: Decimal
    served: tuple[ModelSpend, ...]
    saving: Decimal

    @property
    def net(self) -> Decimal:
        """The estimated saving minus the learning cost so far."""
        return self.saving - self.learning_cost

    def payback_requests(self) -> int | None:
        """While learning has not paid for itself: requests still needed at the current saving per request to the
        policy; None when it has, or when nothing is saved yet."""
        if self.net >= 0:
            return None
        n = sum(s.requests for s in self.served)
        per_request = self.saving / n if n else Decimal(0)
        if per_request <= 0:
            return None
        return int((-self.net / per_request).to_integral_value(rounding="ROUND_CEILING"))


def _saving(served: tuple[ModelSpend, ...], small: str, large: str) -> Decimal:
    by = {s.model: s for s in served}
    big, little = by.get(large), by.get(small)
    if big is None or little is None or big.requests == 0:
        return Decimal(0)
    return little.requests * (big.cost_usd / big.requests) - little.cost_usd


def learning_status(settings: Settings, engine: Any) -> LearningStatus:
    """The snapshot for ``settings``' learning-managed policy, from the request log at ``engine``."""
    cfg = settings.learning
    small, large = settings.routing.small, settings.routing.large
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    calls, cost = learning_spend(engine)
    served = tuple(policy_spend(engine, cfg.policy))
    return LearningStatus(
        enabled=cfg.enabled, policy=cfg.policy, small=small, large=large, target=cfg.target,
        serving=serving_version(engine, cfg.policy), n_versions=len(versions(engine)),
        outcomes=count_outcomes(engine), learning_calls=calls, learning_cost=cost,
        learning_cost_today=learning_spend(engine, since=midnight)[1], budget_per_day=cfg.budget_usd_per_day,
        served=served, saving=_saving(served, small, large))


def _usd(x: Decimal) -> str:
    return f"${x:,.4f}" if abs(x) < 100 else f"${x:,.2f}"


def render(status: LearningStatus) -> list[str]:
    """The snapshot as plain lines (the CLI and the dashboard print them)."""
    s = status
    lines = [f"learning {'on' if s.enabled else 'off'}: policy {s.policy!r}, small tier {s.small}, large tier "
             f"{s.large}, target {s.target}"]
    v = s.serving
    if v is None:
        lines.append(f"serving: {s.large} for every request (no learned version promoted; {s.n_versions} fitted)")
    else:
        m = v.metrics
        share = m.get("expected_large_share")
        lines.append(f"serving: v{v.id}, {v.router}, since {v.created_at:%Y-%m-%d %H:%M} UTC, learned from "
                     f"{v.n_outcomes} outcomes (data sha256 {v.data_sha256[:12]})"
                     + (f"; expected large share {share:.1%}" if isinstance(share, float) else ""))
    o = s.outcomes
    by = ", ".join(f"{k.split(':')[1]} {n}" for k, n in sorted(o.items()) if k.startswith("graded_by:"))
    lines.append(f"outcome rows: {o.get('graded', 0)} graded" + (f" ({by})" if by else "")
                 + f", {o.get('pending', 0)} pending, {o.get('skipped', 0)} skipped")
    lines.append(f"learning cost: {_usd(s.learning_cost)} over {s.learning_calls} shadow and judge calls; today "
                 f"{_usd(s.learning_cost_today)} of the {_usd(s.budget_per_day)} daily budget")
    total = sum(x.requests for x in s.served)
    parts = ", ".join(f"{x.model} {x.requests} ({_usd(x.cost_usd)})" for x in sorted(s.served, key=lambda x: x.model))
    lines.append(f"requests to {s.policy!r}: {total}" + (f": {parts}" if parts else ""))
    lines.append(f"saving against {s.large} for everything (estimated): {_usd(s.saving)}")
    if s.net >= 0 and s.saving > 0:
        lines.append(f"learning has paid for itself: {_usd(s.net)} saved net of its cost")
    else:
        more = s.payback_requests()
        lines.append(f"learning has not paid for itself yet ({_usd(s.net)} net)"
                     + (f"; at the current rate it does after about {more:,} more requests" if more else ""))
    return lines
