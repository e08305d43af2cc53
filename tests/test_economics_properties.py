"""Invariants of the value stick, the profit-optimal policy, rho and break-even, for any input."""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from smallfirst.economics.assumptions import parse_config
from smallfirst.economics.maths import (
    RequestValue,
    break_even_volume,
    optimal_price,
    profit,
    profit_optimal_choice,
    rho_breakdown,
    stick,
)
from smallfirst.economics.workload import Scenario, price_outcomes, profit_utility, scenario_rows
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


# --- the decision: every scenario's stick adds up, break-evens flip the verdict, dominance ---------------------

DECISION_CONFIG = {
    "price": {"per_request": 0.01},
    "tasks": {"t": {"value_good": 0.05, "value_bad": -0.03}, "u": {"value_good": 0.02, "value_bad": -0.01}},
    "models": {
        "a": {"local": True},
        "b": {"input_per_mtok": 1, "output_per_mtok": 3},
        "c": {"input_per_mtok": 10, "output_per_mtok": 30},
    },
    "hardware": {"name": "box", "price_usd": 20000, "throughput": {
        "a": {"prefill_tokens_per_s": 200, "decode_tokens_per_s": 20}}},
    "fixed": {"platform_per_month": 100},
    "fixed_small": {"platform_per_month": 40},
    "volume_per_month": 20000,
}


@st.composite
def workloads(draw):
    n = draw(st.integers(2, 14))
    q = np.array(
        draw(st.lists(st.lists(st.sampled_from([0.0, 1.0]), min_size=3, max_size=3), min_size=n, max_size=n))
    )
    toks = np.array(draw(st.lists(st.integers(1, 3000), min_size=n, max_size=n)), dtype=float)
    out = np.array(draw(st.lists(st.integers(1, 300), min_size=n, max_size=n)), dtype=float)
    return Outcomes(
        ids=tuple(map(str, range(n))),
        prompts=tuple("p" * (i + 1) for i in range(n)),
        tasks=tuple(draw(st.lists(st.sampled_from(["t", "u"]), min_size=n, max_size=n))),
        models=("a", "b", "c"),
        quality=q,
        graded=False,
        prompt_tokens=np.repeat(toks[:, None], 3, axis=1),
        completion_tokens=np.repeat(out[:, None], 3, axis=1),
    )


def _report(o: Outcomes, demand: str, price: float):
    from smallfirst.economics.workload import from_outcomes

    config = parse_config({**DECISION_CONFIG, "demand": demand, "price": {"per_request": price}})
    return config, from_outcomes(o, config, hybrids={"mixed": [i % 3 for i in range(len(o))]})


def _profit_at(key: str, x: D, r, config):  # noqa: ANN001, ANN202
    """A scenario's monthly profit with one assumption set to ``x``, recomputed through the public maths (rows
    re-priced and re-analysed), independently of the sensitivity's own profit model."""
    import dataclasses

    from smallfirst.costs.prices import hardware_usd_per_second
    from smallfirst.economics.maths import Demand, analyse

    rows = list(r.rows)
    if key == "volume":
        return dataclasses.replace(r, demand=Demand(r.demand.kind, x)).monthly_profit
    if key == "p":
        rows = [dataclasses.replace(v, price=v.price * x) for v in rows]
    elif key.startswith("b:"):
        rows = [dataclasses.replace(v, benefit=v.benefit * x) if v.task == key[2:] else v for v in rows]
    elif key == "fixed_small":
        config = config.model_copy(update={"fixed_small": config.fixed_small.model_copy(
            update={"platform_per_month": x, "development": D(0), "fine_tuning": D(0), "hardware": D(0)})})
    elif key == "fixed_all":
        config = config.model_copy(update={"fixed": config.fixed.model_copy(
            update={"platform_per_month": x, "development": D(0), "fine_tuning": D(0), "hardware": D(0)})})
    elif key == "large":
        rows = [dataclasses.replace(v, cost=v.cost + (x - 1) * (v.cost - v.overhead - v.wasted))
                if v.model == "c" else v for v in rows]
    elif key in ("hw_price", "hw_utilisation"):
        hw = config.hardware
        field_ = "price_usd" if key == "hw_price" else "utilisation"
        h = hardware_usd_per_second(hw.model_copy(update={field_: x})) / hardware_usd_per_second(hw)
        rows = [dataclasses.replace(v, cost=v.cost + (h - 1) * v.hardware) for v in rows]
    else:
        raise AssertionError(key)
    return analyse(rows, config, r.name).monthly_profit


@settings(max_examples=40, deadline=None)
@given(workloads(), st.sampled_from(["willingness-to-pay", "fixed"]), st.sampled_from([0.001, 0.01, 0.03]))
def test_every_scenario_value_created_is_captured_plus_surplus(o, demand, price):
    _, rep = _report(o, demand, price)
    for r in rep.results:  # exact up to Decimal's 28 significant digits (a hardware cost's long expansion)
        assert abs(r.stick.value_created - (r.stick.value_captured + r.stick.customer_surplus)) < TINY
        for s in r.tasks.values():
            assert abs(s.value_created - (s.value_captured + s.customer_surplus)) < TINY


@settings(max_examples=40, deadline=None)
@given(workloads(), st.sampled_from(["willingness-to-pay", "fixed"]), st.sampled_from([0.001, 0.01, 0.03]))
def test_a_break_even_plugged_back_in_equalises_the_two_verdicts_profits(o, demand, price):
    config, rep = _report(o, demand, price)
    d = rep.decision
    if d.small_first is None:
        return
    s, llm = rep.result(d.small_first), rep.result(d.llm)
    for a in d.sensitivity:
        if not a.ranked:
            continue
        base_gap = _profit_at(a.key, a.base, s, config) - _profit_at(a.key, a.base, llm, config)
        assert abs(base_gap - a.delta_base) < D("1e-12")  # the sensitivity's own model agrees with the maths
        if a.break_even is None:
            continue
        gap = _profit_at(a.key, a.break_even, s, config) - _profit_at(a.key, a.break_even, llm, config)
        if a.kind == "crossing":
            assert abs(gap) < D("1e-12"), (a.key, a.break_even, gap)
        else:  # a step: just past it the verdict is the other one
            assert (gap > 0) != (base_gap > 0) or gap == 0, (a.key, a.break_even, gap, base_gap)


@settings(max_examples=40, deadline=None)
@given(workloads(), st.sampled_from(["willingness-to-pay", "fixed"]), st.sampled_from([0.001, 0.01, 0.03]))
def test_a_dominated_scenario_is_never_recommended(o, demand, price):
    _, rep = _report(o, demand, price)
    d = rep.decision
    rec = rep.result(d.recommended)
    assert not d.is_dominated(rec.name) and rec.name != "oracle (upper bound)"
    for r in rep.results:
        if r is rec or r.name == "oracle (upper bound)":
            continue
        better = r.stick.quality >= rec.stick.quality and r.unit_cost <= rec.unit_cost
        assert not (better and (r.stick.quality > rec.stick.quality or r.unit_cost < rec.unit_cost))
    assert all(x.name != rec.name for x in d.dominated)


# --- one cost model: the log and the report price a completion alike ---------------------------------------------

HW = {"name": "box", "price_usd": 3000, "watts": 60, "throughput": {
    "local-fast": {"prefill_tokens_per_s": 250, "decode_tokens_per_s": 25}}}
#: (model name, the ledger's ModelSpec, the economics config's [models.<name>]) for each way of pricing
PRICED_BOTH_WAYS = [
    ("gpt-4o-mini",
     {"backend": "openai", "base_url": "http://x/v1", "model": "gpt-4o-mini", "price_provider": "openai"},
     {"genai_prices": "openai:gpt-4o-mini"}),
    ("manual", {"backend": "openai", "base_url": "http://x/v1", "input_usd_per_mtok": "0.7",
                "output_usd_per_mtok": "2.1"}, {"input_per_mtok": 0.7, "output_per_mtok": 2.1}),
    ("local-fast", {"backend": "gguf"}, {"local": True}),
    ("local-unmeasured", {"backend": "gguf"}, {"local": True}),
]


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(PRICED_BOTH_WAYS), st.integers(0, 200_000), st.integers(0, 20_000),
       st.floats(0.001, 600, allow_nan=False))
def test_the_same_completion_gets_the_same_price_in_the_log_and_the_report(priced, prompt, completion, seconds):
    from smallfirst.config import ModelSpec, load_settings
    from smallfirst.costs.ledger import Ledger
    from smallfirst.economics.workload import cost_matrix
    from smallfirst.models.completion import Completion, Usage

    name, spec, econ = priced
    logged = Ledger(load_settings(hardware=HW)).price(
        name, ModelSpec(**spec), Completion(name, "x", "stop", Usage(prompt, completion), seconds, seconds / 2))
    o = Outcomes(ids=("0",), prompts=("p",), tasks=("t",), models=(name,), quality=np.array([[1.0]]), graded=False,
                 prompt_tokens=np.array([[float(prompt)]]), completion_tokens=np.array([[float(completion)]]),
                 latency_s=np.array([[seconds]]))
    config = parse_config({"price": {"per_request": 0.01}, "tasks": {"t": {"value_good": 1}},
                           "models": {name: econ}, "hardware": HW})
    assert cost_matrix(o, config)[0, 0] == logged.amount
