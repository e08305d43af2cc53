"""The profit-maximising price from customers' willingness to pay: argmax_P (P - c) * #{B >= P} - F."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from smallfirst.economics.value import ZERO, dec
from smallfirst.errors import DataError


@dataclass(frozen=True, slots=True)
class PriceOptimum:
    price: Decimal
    #: customers (or requests) buying at that price, scaled to the volume asked for
    buyers: Decimal
    profit: Decimal


def optimal_price(
    wtp: Sequence[Decimal], unit_cost: Decimal, fixed: Decimal = ZERO, volume: Decimal | None = None
) -> PriceOptimum:
    """Best price for a sample of willingness to pay. Profit is stepwise in P and jumps down just above
    each sample value, so the optimum is one of the sample values themselves.

    ``volume`` scales the sample to a market size (default: the sample is the market).
    """
    if not wtp:
        raise DataError("no willingness-to-pay sample", hint="give at least one value of B")
    if unit_cost < 0:
        raise DataError(f"unit cost {unit_cost} is below zero")
    scale = Decimal(1) if volume is None else volume / Decimal(len(wtp))
    ordered = sorted(wtp, reverse=True)
    best: PriceOptimum | None = None
    for k, p in enumerate(ordered, 1):
        if p < 0 or (k < len(ordered) and ordered[k] == p):
            continue  # buyers at p are counted at the last tie
        q = Decimal(k) * scale
        pi = (p - unit_cost) * q - fixed
        if best is None or pi > best.profit:
            best = PriceOptimum(p, q, pi)
    if best is None or best.profit < -fixed:
        return PriceOptimum(ZERO, ZERO, -fixed)  # not selling beats every price
    return best


def optimal_price_dist(
    survival: Callable[[float], float],
    unit_cost: Decimal,
    fixed: Decimal,
    volume: Decimal,
    grid: Sequence[float],
) -> PriceOptimum:
    """Best price on a grid for a WTP distribution given by its survival function P(B >= p)."""
    if not grid:
        raise DataError("empty price grid")
    best: PriceOptimum | None = None
    for g in grid:
        p = dec(g)
        if p < 0:
            raise DataError(f"price {p} on the grid is below zero")
        q = volume * dec(survival(g))
        pi = (p - unit_cost) * q - fixed
        if best is None or pi > best.profit:
            best = PriceOptimum(p, q, pi)
    assert best is not None
    return best
