"""The economics: hand-computed cases for each formula, bad input, and a self-contained report."""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest

from smallfirst.config import HardwareProfile
from smallfirst.costs.prices import hardware_usd_per_second
from smallfirst.datasets import bundled
from smallfirst.economics.assumptions import check_tasks, load_config, parse_config
from smallfirst.economics.maths import (
    RequestValue,
    benefit,
    break_even_volume,
    by_period,
    in_period,
    local_vs_api_volume,
    optimal_price,
    optimal_price_dist,
    price,
    profit,
    profit_optimal_choice,
    rho_breakdown,
    stick,
)
from smallfirst.economics.workload import (
    Scenario,
    from_log,
    from_outcomes,
    price_outcomes,
    profit_utility,
    scenario_rows,
    standard_scenarios,
    threshold_curve,
)
from smallfirst.errors import ConfigError, DataError, SmallfirstError
from smallfirst.outcomes import Outcomes
from smallfirst.store.request_record import RequestRecord

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "smallfirst" / "defaults" / "economics"
BASE = {
    "price": {"per_request": 0.01},
    "tasks": {"qa": {"value_good": 0.05, "value_bad": -0.02}},
    "models": {
        "s": {"input_per_mtok": 1, "output_per_mtok": 2},
        "l": {"input_per_mtok": 10, "output_per_mtok": 30},
    },
    "fixed": {"platform_per_month": 100},
}


def close(a: D, b: D) -> bool:
    """Equal up to Decimal's 28-digit rounding of a division."""
    return abs(a - b) < D("1e-24")


def cfg(**over):
    return parse_config({**BASE, **over})


def two_prompts() -> Outcomes:
    return Outcomes(
        ids=("a", "b"),
        prompts=("x", "yy"),
        tasks=("qa", "qa/sub"),
        models=("s", "l"),
        quality=np.array([[1.0, 1.0], [0.0, 1.0]]),
        graded=False,
        prompt_tokens=np.array([[100, 100], [200, 200.0]]),
        completion_tokens=np.array([[10, 10], [20, 20.0]]),
    )


# --- B and P ---------------------------------------------------------------------------------------------


def test_benefit_is_expected_over_quality():
    spec = cfg().tasks["qa"]
    assert benefit(spec, 1.0) == D("0.05")
    assert benefit(spec, 0.0) == D("-0.02")
    assert benefit(spec, 0.25) == D("-0.0025")  # 0.25*0.05 + 0.75*(-0.02)


def test_benefit_from_a_graded_score_map():
    spec = cfg(tasks={"qa": {"score_map": [[0, -0.1], [5, 0], [10, 0.2]]}}).tasks["qa"]
    assert benefit(spec, 7.5) == D("0.1")
    assert benefit(spec, -3) == D("-0.1") and benefit(spec, 12) == D("0.2")


def test_price_bases():
    c = cfg()
    assert price(c.price, tokens=999, quality=1.0) == D("0.01")
    per_tok = cfg(price={"per_1k_tokens": 0.002}).price
    assert price(per_tok, tokens=1500, quality=None) == D("0.003")
    sub = cfg(price={"subscription_per_user_month": 20, "requests_per_user_month": 400}).price
    assert price(sub, tokens=0, quality=None) == D("0.05")
    outcome = cfg(price={"per_request": 0.2, "outcome_based": True}).price
    assert price(outcome, tokens=0, quality=0.5) == D("0.1")


# --- the value stick, rho, fixed costs ----------------------------------------------------------------------


def test_value_stick_hand_case():
    row = RequestValue(
        "qa",
        "s",
        benefit=D("0.05"),
        price=D("0.01"),
        cost=D("0.002"),
        baseline_cost=D("0.004"),
        small=True,
        wts=D("0.001"),
    )
    s = stick([row, row])
    assert (
        s.value_created == D("0.096") and s.value_captured == D("0.016") and s.customer_surplus == D("0.08")
    )
    assert s.gross_margin == D("0.8") and s.rho == D("0.5") and s.chain_value == D("0.098")
    assert s.per_1k(s.value_created) == D("48") and s.deal_possible


def test_rho_routing_and_cascade_break_down_exactly():
    c = cfg()
    o = two_prompts()
    priced = price_outcomes(o, c)
    # LLM-only: 100*10+10*30 = 1300 and 200*10+20*30 = 2600 micro-dollars; small: 120 and 240
    hybrid = rho_breakdown(scenario_rows(priced, Scenario("h", np.array([0, 1])), c))
    assert hybrid.rho == D("0.00272") / D("0.0039")
    assert hybrid.f == D("0.5") and hybrid.f_weighted == D("0.0013") / D("0.0039")
    assert hybrid.r == D("0.00012") / D("0.0013")
    assert close(hybrid.f_weighted * hybrid.r + hybrid.large_term + hybrid.overhead_term, hybrid.rho)
    casc = rho_breakdown(scenario_rows(priced, Scenario("c", np.array([0, 1]), "cascade"), c))
    assert casc.kind == "cascade"
    assert casc.rho == D("0.00296") / D("0.0039")  # 0.00012 + (0.0026 + wasted 0.00024)
    assert casc.r == D("0.00036") / D("0.0039") and casc.large_term == D("0.0026") / D("0.0039")
    assert close(casc.r + casc.large_term + casc.overhead_term, casc.rho)


def test_routing_overhead_is_counted():
    c = cfg(overhead={"per_request": 0.0001})
    rows = scenario_rows(price_outcomes(two_prompts(), c), Scenario("h", np.array([0, 1])), c)
    b = rho_breakdown(rows)
    assert b.overhead_term == D("0.0002") / D("0.0039")
    assert stick(rows).cost == D("0.00292")


def test_hardware_cost_per_second():
    hw = HardwareProfile(
        price_usd=D("31557600"), amortisation_years=1, utilisation=1, watts=1000, electricity_usd_per_kwh=D("3.6")
    )
    assert hardware_usd_per_second(hw) == D("1.001")  # 1 $/s amortised + 1 kW * 3.6 $/kWh = 0.001 $/s


def test_fixed_costs_per_month():
    c = cfg(fixed={"development": 2400, "platform_per_month": 50, "months": 24})
    assert c.fixed.per_month() == D("150")


# --- break-even and price ---------------------------------------------------------------------------------


def test_break_even_hand_cases():
    assert break_even_volume(D(1000), D("0.01"), D("0.002")) == D("125000")
    assert break_even_volume(D(1000), D("0.002"), D("0.002")) is None
    assert local_vs_api_volume(D(500), D("0.0013"), D("0.0003")) == D("500000")
    assert profit(D("125000"), D("0.01"), D("0.002"), D(1000)) == 0


def test_optimal_price_from_a_sample():
    best = optimal_price([D(6), D(5), D(4), D(1)], D(1))
    assert (best.price, best.buyers, best.profit) == (D(4), D(3), D(9))
    scaled = optimal_price([D(6), D(5), D(4), D(1)], D(1), fixed=D(2), volume=D(400))
    assert (scaled.price, scaled.buyers, scaled.profit) == (D(4), D(300), D(898))


def test_optimal_price_from_a_distribution():
    best = optimal_price_dist(lambda p: max(0.0, 1 - p), D(0), D(0), D(100), [i / 100 for i in range(101)])
    assert best.price == D("0.5") and best.profit == D("25")


# --- the profit-optimal policy ------------------------------------------------------------------------------


def test_profit_utility_is_benefit_minus_cost():
    u = profit_utility(cfg())(two_prompts())
    assert u.shape == (2, 2)
    np.testing.assert_allclose(u, [[0.05 - 0.00012, 0.05 - 0.0013], [-0.02 - 0.00024, 0.05 - 0.0026]])
    assert list(profit_optimal_choice(u)) == [0, 1]


def test_threshold_curve_marks_the_optimum():
    o = two_prompts()
    curve = threshold_curve(o, cfg(), np.array([0.1, 0.9]))
    assert curve.large_share[0] == 0 and curve.large_share[-1] == 1
    assert curve.large_share[curve.best] == 0.5  # send only the hard prompt to the large model
    assert curve.value_created[curve.best] == pytest.approx((0.05 - 0.00012 + 0.05 - 0.0026) * 500)


def test_report_scenarios_on_outcomes():
    rep = from_outcomes(two_prompts(), cfg(), hybrids={"router": ["s", "l"]})
    names = [r.name for r in rep.results]
    assert names[:3] == ["LLM-only", "SLM-only", "router"]
    llm, slm = rep.results[0], rep.results[1]
    assert llm.stick.quality == 1.0 and slm.stick.quality == 0.5
    assert llm.rho.rho == 1 and rep.prices["l"] == "config"


# --- the request log -------------------------------------------------------------------------------------


def record(i: int, tag: str, model: str, cost: str, quality: float | None, month: int = 1) -> RequestRecord:
    return RequestRecord(
        id=str(i),
        created_at=datetime(2025, month, 5),
        source="demo",
        requested_model="auto",
        model=model,
        status="ok",
        task="qa",
        prompt_tokens=100,
        completion_tokens=10,
        cost_usd=D(cost),
        baseline_usd=D("0.001"),
        baseline_model="l",
        tag=tag,
        quality=quality,
    )


def test_report_from_the_request_log_with_periods():
    recs = [
        record(1, "llm-only", "l", "0.001", 1.0),
        record(2, "llm-only", "l", "0.001", 1.0, month=2),
        record(3, "slm-only", "s", "0.0001", 0.0),
        record(4, "slm-only", "s", "0.0001", None, month=2),
    ]
    rep = from_log(recs, cfg())
    slm = rep.result("slm-only")
    assert slm is not None and slm.rho.rho == D("0.1") and slm.stick.quality == 0.0  # ungraded takes the mean
    assert list(rep.periods["llm-only"]) == ["2025-01", "2025-02"]
    with pytest.raises(DataError, match="has no requests"):
        from_log(recs, cfg(), since=datetime(2026, 1, 1))


def test_verdict_words_a_quality_gain_and_a_value_loss_correctly():
    from smallfirst.economics.report.verdict import verdict

    recs = [record(i, "LLM-only", "l", "0.001", 0.0) for i in range(4)]
    recs += [record(10 + i, "SLM-only", "s", "0.0001", 0.0) for i in range(4)]
    recs += [record(20 + i, "hybrid", "s", "0.0001", 1.0 if i else 0.0) for i in range(4)]
    lines = verdict(from_log(recs, cfg()))
    text = " ".join(lines)
    assert "hybrid gains 75.0 points of quality" in text and "loses -" not in text
    assert "SLM-only matches LLM-only's quality" in text
    # LLM-only answers everything wrong here (value_bad < 0): no value created, so no "share" of it
    bad = verdict(from_log([r for r in recs if r.tag != "hybrid"], cfg()))
    assert any("creates no value" in line for line in bad) and not any("capture -" in line for line in bad)


def test_period_without_requests_is_an_error():
    row = RequestValue("qa", "s", D(1), D(1), D(0), D(0), True, created_at=datetime(2025, 1, 1))
    assert list(by_period([row], "month")) == ["2025-01"]
    with pytest.raises(DataError, match="no requests"):
        in_period([row], datetime(2025, 2, 1), None)
    with pytest.raises(DataError):
        stick([])


# --- bad input ----------------------------------------------------------------------------------------------


def test_unknown_key_names_the_closest_valid_one():
    with pytest.raises(ConfigError, match="volume_per_month"):
        parse_config({**BASE, "volume_per_mnth": 5})
    with pytest.raises(ConfigError, match="value_good") as exc:
        parse_config({**BASE, "tasks": {"qa": {"vaule_good": 1}}})
    assert "tasks.qa.vaule_good" in str(exc.value)
    with pytest.raises(ConfigError, match="input_per_mtok"):
        parse_config({**BASE, "models": {"s": {"input_per_mtk": 1}}})


def test_negative_price_is_rejected():
    with pytest.raises(ConfigError, match="below zero"):
        parse_config({**BASE, "price": {"per_request": -0.01}})


def test_currency_mismatch_is_rejected():
    with pytest.raises(ConfigError, match="currency mismatch"):
        parse_config({**BASE, "currency": "EUR"})
    with pytest.raises(ConfigError, match="currency mismatch"):
        parse_config({**BASE, "price": {"per_request": 1, "currency": "GBP"}})


def test_missing_benefit_for_a_task_in_the_workload():
    with pytest.raises(ConfigError, match="no value B.*legal"):
        check_tasks(cfg(), ["qa", "legal/nda"])
    o = two_prompts()
    o2 = Outcomes(
        ids=o.ids,
        prompts=o.prompts,
        tasks=("qa", "maths"),
        models=o.models,
        quality=o.quality,
        graded=False,
        prompt_tokens=o.prompt_tokens,
        completion_tokens=o.completion_tokens,
    )
    with pytest.raises(SmallfirstError, match="maths"):
        from_outcomes(o2, cfg())


def test_missing_costs_are_reported():
    o = two_prompts()
    bare = Outcomes(
        ids=o.ids, prompts=o.prompts, tasks=o.tasks, models=o.models, quality=o.quality, graded=False
    )
    with pytest.raises(DataError, match="prompt_tokens"):
        from_outcomes(bare, cfg())


def test_a_routing_decision_per_prompt_is_needed():
    with pytest.raises(DataError, match="per prompt"):
        standard_scenarios(two_prompts(), {"h": [0]})


def test_shipped_examples_parse():
    for name in ("demo.toml", "routellm.toml"):
        c = load_config(EXAMPLES / name)
        assert {"gsm8k", "mmlu"} <= set(c.tasks)
    assert {"banking77", "cuad"} <= set(load_config(EXAMPLES / "demo.toml").tasks)


# --- the report ---------------------------------------------------------------------------------------------


def test_html_report_is_self_contained(tmp_path):
    from smallfirst.economics.report import write

    files = write(from_outcomes(two_prompts(), cfg()), tmp_path)
    page = files.html.read_text(encoding="utf-8")
    assert "value created" in page and "value captured" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page
    assert page.count('src="data:image/png;base64,') == 5  # value stick, tornado, frontier, threshold, break-even
    assert "Is small-model-first profitable here?" in page and "Sensitivity of the verdict" in page
    assert "tornado" in files.pngs and files.sensitivity_csv is not None and files.sensitivity_csv.exists()
    assert "Verdict" in page and "Price of l: config" in page
    assert "value created" in files.markdown.read_text() and files.csv.read_text().startswith("scenario,task")
    assert all(p.exists() and p.stat().st_size > 1000 for p in files.pngs.values())


def test_cli_writes_the_report_from_outcomes(tmp_path):
    import typer
    from typer.testing import CliRunner

    from smallfirst.cli.economics_cmd import register
    from smallfirst.outcomes import save

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # a second command keeps `economics` a subcommand
    data = save(two_prompts(), tmp_path / "o.jsonl")
    (tmp_path / "econ.toml").write_text(
        "volume_per_month = 1000\n[price]\nper_request = 0.01\n"
        "[tasks.qa]\nvalue_good = 0.05\nvalue_bad = -0.02\n"
        "[models.s]\ninput_per_mtok = 1\noutput_per_mtok = 2\n"
        "[models.l]\ninput_per_mtok = 10\noutput_per_mtok = 30\n"
    )
    res = CliRunner().invoke(
        app,
        [
            "economics",
            "--outcomes",
            str(data),
            "--config",
            str(tmp_path / "econ.toml"),
            "--out",
            str(tmp_path / "rep"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "rep" / "report.html").exists()
    (tmp_path / "d.csv").write_text("id,model\na,s\nb,l\n")
    res2 = CliRunner().invoke(
        app,
        [
            "economics",
            "--outcomes",
            str(data),
            "--config",
            str(tmp_path / "econ.toml"),
            "--out",
            str(tmp_path / "rep2"),
            "--hybrid",
            f"mine={tmp_path / 'd.csv'}",
        ],
    )
    assert res2.exit_code == 0, res2.output
    assert "| mine | 2 | 100.0 |" in (tmp_path / "rep2" / "report.md").read_text()
    assert "Verdict:" in res.output and "report:" in res.output
    bad = CliRunner().invoke(app, ["economics", "--config", str(tmp_path / "econ.toml")])
    assert isinstance(bad.exception, ConfigError)


def test_routellm_token_counts_and_list_prices():
    pytest.importorskip("bpe_openai")
    from smallfirst.costs.prices import genai_price
    from smallfirst.evaluate.routellm import count_tokens
    from smallfirst.models.completion import Usage

    assert list(count_tokens(["Hello world, how are you?"])) == [7]  # cl100k_base, as GPT-4 counts it
    per_in, per_out = (genai_price("gpt-4-1106-preview", "openai", u) for u in (Usage(10**6, 0), Usage(0, 10**6)))
    assert (per_in.usd, per_out.usd) == (D(10), D(30))
    assert per_in.source.startswith("genai-prices ")


def test_outcomes_jsonl_roundtrip_keeps_costs(tmp_path):
    o = two_prompts()
    o = Outcomes(
        ids=o.ids,
        prompts=o.prompts,
        tasks=o.tasks,
        models=o.models,
        quality=o.quality,
        graded=False,
        cost_usd=np.array([[0.001, 0.01], [0.002, 0.02]]),
    )
    rep = from_outcomes(o, parse_config({**BASE, "models": {}}))
    assert rep.results[0].stick.cost == D("0.03") and rep.prices["s"].startswith("measured")
    assert json.loads(json.dumps(rep.prices))


def test_cli_reads_the_request_log(tmp_path):
    pytest.importorskip("smallfirst.store.requests")
    import typer
    from typer.testing import CliRunner

    from smallfirst.cli.economics_cmd import register
    from smallfirst.store.db import get_engine
    from smallfirst.store.requests import insert

    url = f"sqlite:///{tmp_path / 'log.db'}"
    engine = get_engine(url)
    recs = [record(1, "llm-only", "l", "0.001", 1.0), record(2, "slm-only", "s", "0.0001", 0.0)]
    for r in recs:
        insert(engine, r)
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    conf = tmp_path / "econ.toml"
    conf.write_text("[price]\nper_request = 0.01\n[tasks.qa]\nvalue_good = 0.05\n")
    args = ["economics", "--from-log", "--db-url", url, "--config", str(conf), "--out", str(tmp_path / "r")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "slm-only" in (tmp_path / "r" / "report.md").read_text()
    empty = CliRunner().invoke(app, [*args, "--since", "2030-01-01"])
    assert isinstance(empty.exception, DataError) and "no requests" in str(empty.exception)


def test_routellm_gsm8k_report_names_its_prices_and_tokenizer():
    pytest.importorskip("bpe_openai")
    from smallfirst.evaluate.routellm import load_workload
    from tests.conftest import DATA

    if not (DATA / "routellm" / "gsm8k_responses.csv").exists():
        pytest.skip("RouteLLM data not present")
    workload, notes = load_workload(["routellm-gsm8k"], DATA)
    assert workload.completion_tokens is not None and workload.completion_tokens.mean() > 50
    rep = from_outcomes(workload, load_config(EXAMPLES / "routellm.toml"), notes=notes)
    assert rep.prices["gpt-4-1106-preview"].startswith("genai-prices")
    assert any("cl100k_base" in n for n in rep.notes)
    assert rep.result("LLM-only").rho.rho == 1 and rep.result("SLM-only").rho.rho < D("0.1")


# --- the prior router ---------------------------------------------------------------------------------------


def _former_prior(outcomes: Outcomes, folds: int = 5, seed: int = 0) -> np.ndarray:
    """The economics report's own fold loop before the prior became a Router (kept as the reference)."""
    from collections import defaultdict

    q = outcomes.quality.astype(float)
    n = len(outcomes)
    lengths = np.array([len(p) for p in outcomes.prompts], dtype=float)
    tasks = list(outcomes.tasks)
    by_task = defaultdict(list)
    for i, t in enumerate(tasks):
        by_task[t].append(i)
    fine = [""] * n
    for t, idx in by_task.items():
        cuts = np.quantile(lengths[idx], [1 / 3, 2 / 3])
        for i in idx:
            fine[i] = f"{t}|{int(np.searchsorted(cuts, lengths[i]))}"

    def means(keys, train, prior):
        sums, counts = defaultdict(lambda: np.zeros(q.shape[1])), defaultdict(int)
        for i in train:
            sums[keys[i]] += q[i]
            counts[keys[i]] += 1
        return {k: (sums[k] + 10.0 * prior[k]) / (counts[k] + 10.0) for k in sums}

    order = np.random.default_rng(seed).permutation(n)
    out = np.zeros_like(q)
    for k in range(min(folds, n)):
        test = order[k::folds]
        train = np.setdiff1d(order, test) if folds > 1 and n > 1 else order
        glob = q[train].mean(axis=0)
        task_mean = means(tasks, train, {t: glob for t in set(tasks)})
        fine_mean = means(fine, train, {f: task_mean.get(t, glob) for f, t in zip(fine, tasks, strict=True)})
        for i in test:
            out[i] = fine_mean.get(fine[i], task_mean.get(tasks[i], glob))
    return out


def test_prior_router_predictions_are_unchanged_by_the_router_contract():
    from smallfirst.economics.workload import predicted_quality
    from smallfirst.outcomes import load
    from smallfirst.routing.factories import make_router
    from smallfirst.routing.prior import QualityPriorRouter

    shipped = load(bundled("outcomes/cascade-pair.jsonl"))
    for o in (shipped, two_prompts(), shipped.subset(np.arange(3)), shipped.subset(np.arange(1))):
        np.testing.assert_array_equal(predicted_quality(o), _former_prior(o))
    assert isinstance(make_router("prior"), QualityPriorRouter)
    fitted = make_router("prior").fit(shipped)
    assert fitted.score_batch(shipped.prompts[:4], shipped.tasks[:4]).shape == (4,)
