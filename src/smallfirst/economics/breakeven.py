"""Break-even volumes: Q* = F / (P - c_var), and local against API: Q* = F_local / (c_API - c_local)."""

from __future__ import annotations

from decimal import Decimal

from smallfirst.errors import DataError


def break_even_volume(fixed: Decimal, price: Decimal, variable_cost: Decimal) -> Decimal | None:
    """Requests per period to cover ``fixed`` at a unit margin P - c; None when no volume ever does."""
    if fixed < 0:
        raise DataError(f"fixed costs {fixed} are below zero")
    margin = price - variable_cost
    if fixed == 0:
        return Decimal(0)
    return fixed / margin if margin > 0 else None


def local_vs_api_volume(fixed_local: Decimal, cost_api: Decimal, cost_local: Decimal) -> Decimal | None:
    """Requests per period from which owning the local stack is cheaper than paying the API."""
    return break_even_volume(fixed_local, cost_api, cost_local)


def profit(volume: Decimal, price: Decimal, variable_cost: Decimal, fixed: Decimal) -> Decimal:
    return volume * (price - variable_cost) - fixed
