"""All the report says about one scenario: the value stick, rho, fixed costs, break-even, best price."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from smallfirst.economics.breakeven import break_even_volume, local_vs_api_volume
from smallfirst.economics.config import EconConfig
from smallfirst.economics.pricing import PriceOptimum, optimal_price
from smallfirst.economics.ratio import RhoBreakdown, rho_breakdown
from smallfirst.economics.stick import RequestValue, ValueStick, group, stick


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    rows: tuple[RequestValue, ...]
    stick: ValueStick
    tasks: dict[str, ValueStick]
    rho: RhoBreakdown
    #: fixed costs per month this scenario carries
    fixed_per_month: Decimal
    #: fixed costs per month that only scenarios using a small model carry
    fixed_small_per_month: Decimal
    #: requests per month to cover the fixed costs at the configured price
    break_even: Decimal | None
    #: requests per month from which the small-model stack beats sending everything to the baseline
    break_even_local_vs_api: Decimal | None
    best_price: PriceOptimum
    volume_per_month: int
    models: dict[str, int]
    note: str = ""

    @property
    def unit_price(self) -> Decimal:
        return self.stick.per_request(self.stick.price)

    @property
    def unit_cost(self) -> Decimal:
        return self.stick.per_request(self.stick.cost)

    @property
    def monthly_profit(self) -> Decimal:
        return Decimal(self.volume_per_month) * (self.unit_price - self.unit_cost) - self.fixed_per_month


def _family(r: RequestValue) -> str:
    return r.task.split("/", 1)[0]


def willingness_to_pay(rows: Sequence[RequestValue]) -> list[Decimal]:
    """Each request's WTP is the expected B of its task type under this scenario: a customer knows what kind
    of question they ask and how good the service is on average, not whether this one answer will be right."""
    sums: dict[str, list[Decimal]] = {}
    for r in rows:
        sums.setdefault(r.task, []).append(r.benefit)
    mean = {k: sum(v, Decimal(0)) / len(v) for k, v in sums.items()}
    return [mean[r.task] for r in rows]


def analyse(rows: Sequence[RequestValue], config: EconConfig, name: str, note: str = "") -> ScenarioResult:
    s = stick(rows)
    uses_small = any(r.small for r in rows)
    fixed_small = config.fixed_small.per_month() if uses_small else Decimal(0)
    fixed = config.fixed.per_month() + fixed_small
    unit_cost = s.per_request(s.cost)
    models: dict[str, int] = {}
    for r in rows:
        models[r.model] = models.get(r.model, 0) + 1
    return ScenarioResult(
        name=name,
        rows=tuple(rows),
        stick=s,
        tasks=group(rows, _family),
        rho=rho_breakdown(rows),
        fixed_per_month=fixed,
        fixed_small_per_month=fixed_small,
        break_even=break_even_volume(fixed, s.per_request(s.price), unit_cost),
        break_even_local_vs_api=(
            local_vs_api_volume(fixed_small, s.per_request(s.baseline_cost), unit_cost)
            if uses_small
            else None
        ),
        best_price=optimal_price(
            willingness_to_pay(rows), unit_cost, fixed, Decimal(config.volume_per_month)
        ),
        volume_per_month=config.volume_per_month,
        models=dict(sorted(models.items(), key=lambda kv: -kv[1])),
        note=note,
    )


def analyse_all(
    rows: Mapping[str, Sequence[RequestValue]], config: EconConfig, notes: Mapping[str, str] | None = None
) -> list[ScenarioResult]:
    return [analyse(r, config, name, (notes or {}).get(name, "")) for name, r in rows.items()]
