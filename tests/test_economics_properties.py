"""Invariants of the value stick, the profit-optimal policy, rho and break-even, for any input."""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from smallfirst.economics.breakeven import break_even_volume, profit
from smallfirst.economics.config import parse_config
from smallfirst.economics.policy import profit_optimal_choice, profit_utility
from smallfirst.economics.pricing import optimal_price
from smallfirst.economics.ratio import rho_breakdown
from smallfirst.economics.scenarios import Scenario, price_outcomes, scenario_rows
from smallfirst.economics.stick import RequestValue, stick
from smallfirst.outcomes import Outcomes

money = st.decimals(min_value=D("-10"), max_value=D("10"), places=6, allow_nan=False, allow_infinity=False)
positive = st.decimals(
    min_value=D("0.000001"), max_value=D("10"), places=6, allow_nan=False, allow_infinity=False
)
TINY = D("1e-20")


@st.composite
def requests(draw):
    n = draw(st.integers(1, 20))
    return [
        RequestValue(
            "t",
            "m",
            benefit=draw(money),
            price=draw(positive),
            cost=draw(positive),
            baseline_cost=draw(positive),
            small=draw(st.booleans()),
            wasted=draw(positive) if draw(st.booleans()) else D(0),
            overhead=draw(positive) if draw(st.booleans()) else D(0),
        )
        for _ in range(n)
    ]


@given(requests())
def test_value_created_is_captured_plus_customer_surplus(rows):
    for r in rows:
        assert r.value_created == r.value_captured + r.customer_surplus
    s = stick(rows)
    assert s.value_created == s.value_captured + s.customer_surplus


@given(requests())
def test_rho_break_down_adds_up(rows):
    rows = [
        RequestValue(
            r.task,
            r.model,
            r.benefit,
            r.price,
            r.cost + r.wasted + r.overhead,
            r.baseline_cost,
            r.small,
            wasted=r.wasted,
            overhead=r.overhead,
        )
        for r in rows
    ]
    b = rho_breakdown(rows)
    assert abs(b.small_term + b.large_term + b.wasted_term + b.overhead_term - b.rho) < TINY
    assert abs(b.rho - stick(rows).rho) < TINY


@given(fixed=positive, price=positive, cost=positive)
def test_break_even_volume_makes_profit_zero(fixed, price, cost):
    q = break_even_volume(fixed, price, cost)
    if price <= cost:
        assert q is None
        return
    assert abs(profit(q, price, cost, fixed)) < D("1e-15")
    assert profit(q + 1, price, cost, fixed) > 0 > profit(q - 1, price, cost, fixed)


@given(st.lists(positive, min_size=1, max_size=15), positive)
def test_optimal_price_beats_every_sample_price(wtp, cost):
    best = optimal_price(wtp, cost)
    for p in wtp:
        assert best.profit >= (p - cost) * sum(1 for b in wtp if b >= p)


CONFIG = parse_config(
    {
        "price": {"per_request": 0.01},
        "tasks": {"t": {"value_good": 0.05, "value_bad": -0.03}},
        "models": {
            "a": {"input_per_mtok": 0.2, "output_per_mtok": 0.2},
            "b": {"input_per_mtok": 1, "output_per_mtok": 3},
            "c": {"input_per_mtok": 10, "output_per_mtok": 30},
        },
    }
)


@st.composite
def outcomes(draw):
    n = draw(st.integers(1, 12))
    q = np.array(
        draw(st.lists(st.lists(st.sampled_from([0.0, 1.0]), min_size=3, max_size=3), min_size=n, max_size=n))
    )
    toks = np.array(draw(st.lists(st.integers(1, 4000), min_size=n, max_size=n)), dtype=float)
    return Outcomes(
        ids=tuple(map(str, range(n))),
        prompts=("p",) * n,
        tasks=("t",) * n,
        models=("a", "b", "c"),
        quality=q,
        graded=False,
        prompt_tokens=np.repeat(toks[:, None], 3, axis=1),
        completion_tokens=np.full((n, 3), 20.0),
    )


@settings(max_examples=60, deadline=None)
@given(outcomes(), st.data())
def test_profit_optimal_policy_never_loses_to_a_fixed_policy(o, data):
    priced = price_outcomes(o, CONFIG)
    best = profit_optimal_choice(profit_utility(CONFIG)(o))
    value = stick(scenario_rows(priced, Scenario("opt", best), CONFIG)).value_created
    other = np.array(data.draw(st.lists(st.integers(0, 2), min_size=len(o), max_size=len(o))))
    for choice in (np.zeros(len(o), int), np.ones(len(o), int), np.full(len(o), 2), other):
        assert value >= stick(scenario_rows(priced, Scenario("x", choice), CONFIG)).value_created - TINY
