"""Value-stick rows from the request log: each tag is a scenario; each cost is the ledger's measured one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from smallfirst.economics.config import EconConfig
from smallfirst.economics.stick import RequestValue
from smallfirst.economics.value import ZERO, benefit, check_tasks, price, task_key
from smallfirst.errors import DataError
from smallfirst.store.request_record import RequestRecord

UNTAGGED = "untagged"


def rows_by_scenario(records: Sequence[RequestRecord], config: EconConfig) -> dict[str, list[RequestValue]]:
    if not records:
        raise DataError(
            "the request log holds no requests for this selection",
            hint="run some requests first (smallfirst ask / demo), or widen --since/--until/--tag",
        )
    check_tasks(config, (r.task for r in records))
    expected = _expected_quality(records)
    out: dict[str, list[RequestValue]] = defaultdict(list)
    for rec in records:
        out[rec.tag or UNTAGGED].append(_row(rec, config, expected))
    return dict(out)


def _expected_quality(records: Sequence[RequestRecord]) -> dict[tuple[str | None, str, str], float]:
    """Mean graded quality per scenario, task and model: the expected quality of an ungraded request."""
    sums: dict[tuple[str | None, str, str], list[float]] = defaultdict(list)
    for r in records:
        if r.quality is not None and r.status == "ok":
            sums[(r.tag, r.task or "", r.model)].append(r.quality)
    return {k: sum(v) / len(v) for k, v in sums.items()}


def _row(rec: RequestRecord, config: EconConfig, expected: dict) -> RequestValue:
    key = task_key(config, rec.task)
    assert key is not None
    ok = rec.status == "ok"
    quality = rec.quality if rec.quality is not None else expected.get((rec.tag, rec.task or "", rec.model))
    if not ok:
        quality = 0.0
    if quality is None:
        raise DataError(
            f"request {rec.id} ({rec.task}, {rec.model}) has no graded quality, and no graded request "
            "of the same scenario, task and model to take the expected quality from",
            hint="grade a sample of each scenario's requests",
        )
    tokens = rec.prompt_tokens + rec.completion_tokens
    # a failed request delivers nothing, so nothing is charged for it
    p = price(config.price_for(key), tokens=tokens, quality=quality) if ok else ZERO
    routed = rec.policy is not None and rec.policy not in ("", "fixed")
    overhead = config.overhead.per_request if routed else ZERO
    cost = rec.cost_usd + overhead
    small = rec.model != rec.baseline_model if rec.baseline_model else rec.cost_usd < rec.baseline_usd
    # an escalated cascade paid the baseline answer plus the attempts before it
    wasted = max(rec.cost_usd - rec.baseline_usd, ZERO) if len(rec.attempted) > 1 and not small else ZERO
    return RequestValue(
        task=rec.task or "",
        model=rec.model or "(none)",
        benefit=benefit(config.tasks[key], quality),
        price=p,
        cost=cost,
        baseline_cost=rec.baseline_usd,
        small=small,
        quality=quality,
        tokens=tokens,
        wts=None if config.wts_share is None else cost * Decimal(repr(config.wts_share)),
        created_at=rec.created_at,
        wasted=wasted,
        overhead=overhead,
    )
