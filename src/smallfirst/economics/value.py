"""B and P of one request: the customer's benefit as a function of quality, and the price charged."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from smallfirst.economics.config import EconConfig, PriceSpec, TaskValue
from smallfirst.errors import ConfigError

ZERO = Decimal(0)
THOUSAND = Decimal(1000)


def dec(x: float | int | Decimal) -> Decimal:
    """A float measurement as Decimal through its shortest repr, so 0.1 stays 0.1."""
    return x if isinstance(x, Decimal) else Decimal(repr(float(x)))


def task_key(config: EconConfig, task: str | None) -> str | None:
    """The config's task type for a workload task: exact, then its family before '/', then 'default'."""
    name = task or ""
    if name in config.tasks:
        return name
    family = name.split("/", 1)[0]
    if family in config.tasks:
        return family
    return "default" if "default" in config.tasks else None


def check_tasks(config: EconConfig, tasks: Iterable[str | None]) -> None:
    missing = sorted({t or "(no task)" for t in tasks if task_key(config, t) is None})
    if missing:
        shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise ConfigError(
            f"no value B for task type(s) present in the workload: {shown}",
            hint=f"add [tasks.{missing[0].split('/')[0]}] with value_good/value_bad, or a [tasks.default]",
        )


def benefit(spec: TaskValue, quality: float) -> Decimal:
    """Expected B at a quality: binary quality is the probability of a good answer, graded goes through
    the score map."""
    if spec.score_map:
        return _interpolate(spec.score_map, quality)
    q = dec(quality)
    assert spec.value_good is not None
    return q * spec.value_good + (1 - q) * spec.value_bad


def _interpolate(points: list[tuple[float, Decimal]], x: float) -> Decimal:
    if x <= points[0][0]:
        return points[0][1]
    if x >= points[-1][0]:
        return points[-1][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if x0 <= x <= x1:
            t = (dec(x) - dec(x0)) / (dec(x1) - dec(x0))
            return y0 + t * (y1 - y0)
    raise AssertionError("unreachable")


def price(spec: PriceSpec, *, tokens: int, quality: float | None) -> Decimal:
    """P of one request. Outcome-based pricing charges the expected share of good answers."""
    if spec.per_request is not None:
        p = spec.per_request
    elif spec.per_1k_tokens is not None:
        p = spec.per_1k_tokens * Decimal(tokens) / THOUSAND
    else:
        assert spec.subscription_per_user_month is not None and spec.requests_per_user_month
        p = spec.subscription_per_user_month / Decimal(spec.requests_per_user_month)
    if spec.outcome_based:
        if quality is None:
            raise ConfigError(
                "outcome-based pricing needs graded requests",
                hint="grade the requests, or set outcome_based = false",
            )
        p = p * min(max(dec(quality), ZERO), Decimal(1))
    return p
