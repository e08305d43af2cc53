"""The verdict says when a routed scenario is LLM-only (or SLM-only) in all but name, and why, from the router's
measured threshold curve and APGR; it says nothing of the kind when the scenario really routes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest

from smallfirst import tradeoff
from smallfirst.economics.assumptions import parse_config
from smallfirst.economics.report.verdict import collapse_lines, verdict
from smallfirst.economics.workload import MAX_PROFIT, from_log, from_outcomes, router_fit
from smallfirst.outcomes import Outcomes, save
from smallfirst.store.request_record import RequestRecord

CONFIG = {
    "price": {"per_request": 0.01},
    "tasks": {"qa": {"value_good": 0.05, "value_bad": -0.02}},
    "models": {
        "s": {"input_per_mtok": 1, "output_per_mtok": 2},
        "l": {"input_per_mtok": 10, "output_per_mtok": 30},
    },
}


def outcomes(small_right: list[bool]) -> Outcomes:
    """One prompt per entry: the large model ``l`` answers every one right, the small ``s`` where True; 100 prompt
    and 10 completion tokens each, so ``s`` costs $0.00012 and ``l`` $0.0013 a request."""
    n = len(small_right)
    return Outcomes(
        ids=tuple(f"p{i}" for i in range(n)),
        prompts=tuple(f"question {i}" for i in range(n)),
        tasks=("qa",) * n,
        models=("s", "l"),
        quality=np.array([[1.0 if ok else 0.0, 1.0] for ok in small_right]),
        graded=False,
        prompt_tokens=np.full((n, 2), 100.0),
        completion_tokens=np.full((n, 2), 10.0),
    )


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_a_max_profit_hybrid_that_sends_everything_large_is_named_and_explained(tmp_path: Path) -> None:
    # A router that cannot tell the prompts apart (the same predicted quality for each): the max-profit policy
    # sends all 20 to the large model, and its curve has two points, all-small and all-large.
    o = outcomes([i % 2 == 0 for i in range(20)])
    flat = np.tile([0.5, 1.0], (20, 1))
    report = from_outcomes(o, parse_config(CONFIG), predicted=flat)
    lines = collapse_lines(report)
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith(
        f"{MAX_PROFIT} sends 100% of its requests (20 of 20) to l, LLM-only's model, so it is LLM-only in all but "
        "name (quality 100.0% against 100.0%, cost $1.30 against $1.30 per 1,000 requests)"
    )
    # all-small against all-large, per 1,000 requests: saves (0.0013 - 0.00012) * 1000 = $1.18, loses half the
    # answers, worth 1000 * (0.05 - (0.5 * 0.05 - 0.5 * 0.02)) = $35.00 at B, so $33.82 less value created
    assert (
        "no threshold of the 2 on its curve that moves 5% or more of requests to the small model creates more "
        "value than sending all to the large one; the best of them sends every request to the small model, which "
        "would save $1.18 per 1,000 requests and lose 50.0 points of quality (answers worth $35.00 less at the "
        "configured B): $33.82 per 1,000 requests less value created"
    ) in line
    # a constant score orders nothing: APGR is random routing's 0.5; the oracle sends the 10 prompts the small
    # model gets wrong first (area 0.375 + 0.5 over share 0..1, PGR (0.875 - 0.5) / 0.5 = 0.75); given
    # predictions are not called cross-fitted
    assert "orders those requests with an APGR of 0.500 (random routing 0.500, an oracle 0.750)" in line
    assert line in verdict(report)
    # the same sentence in the Markdown, the HTML and the CLI
    from smallfirst.economics.report import write

    files = write(report, tmp_path / "rep")
    assert line in files.markdown.read_text(encoding="utf-8")
    assert "LLM-only in all but name" in files.html.read_text(encoding="utf-8")


def test_the_sentence_is_absent_when_the_hybrid_really_routes() -> None:
    # predictions that know which prompts the small model gets right: half go small, nothing collapses
    small_right = [i % 2 == 0 for i in range(20)]
    o = outcomes(small_right)
    knows = np.array([[1.0 if ok else 0.0, 1.0] for ok in small_right])
    report = from_outcomes(o, parse_config(CONFIG), predicted=knows)
    hybrid = report.result(MAX_PROFIT)
    assert hybrid is not None and hybrid.models == {"s": 10, "l": 10}
    assert collapse_lines(report) == []
    assert not any("in all but name" in line for line in verdict(report))


def test_the_cli_prints_the_sentence(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from smallfirst.cli.economics_cmd import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    # every prompt alike (one task, the same length): the prior router cannot separate them, so max profit
    # sends all to the large model; a --hybrid that routes half is left alone
    n = 20
    o = outcomes([i % 2 == 0 for i in range(n)])
    o = Outcomes(ids=o.ids, prompts=("same question",) * n, tasks=o.tasks, models=o.models, quality=o.quality,
                 graded=False, prompt_tokens=o.prompt_tokens, completion_tokens=o.completion_tokens)
    data = save(o, tmp_path / "o.jsonl")
    (tmp_path / "d.csv").write_text("id,model\n" + "".join(f"p{i},{'s' if i % 2 == 0 else 'l'}\n" for i in range(n)))
    (tmp_path / "econ.toml").write_text(
        "[price]\nper_request = 0.01\n[tasks.qa]\nvalue_good = 0.05\nvalue_bad = -0.02\n"
        "[models.s]\ninput_per_mtok = 1\noutput_per_mtok = 2\n[models.l]\ninput_per_mtok = 10\noutput_per_mtok = 30\n"
    )
    res = CliRunner().invoke(app, ["economics", "--outcomes", str(data), "--config", str(tmp_path / "econ.toml"),
                                   "--out", str(tmp_path / "rep"), "--hybrid", f"mine={tmp_path / 'd.csv'}"])
    assert res.exit_code == 0, res.output
    out = one_line(res.output)
    assert f"{MAX_PROFIT} sends 100% of its requests (20 of 20) to l, LLM-only's model" in out
    assert "its router, the prior router (task type and prompt length), orders those requests with a " \
           "cross-fitted APGR of" in out
    assert "mine sends" not in out and "mine matches LLM-only's quality and cost" not in out
    md = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert one_line(next(x for x in md.splitlines() if "in all but name" in x)).removeprefix("- ") in out


def record(i: int, tag: str, model: str, cost: str, quality: float) -> RequestRecord:
    return RequestRecord(id=str(i), created_at=datetime(2025, 1, 5), source="demo", requested_model="auto",
                         model=model, status="ok", task="qa", prompt_tokens=100, completion_tokens=10,
                         cost_usd=D(cost), baseline_usd=D("0.0013"), baseline_model="l", tag=tag, quality=quality)


def log(hybrid_models: list[str]) -> list[RequestRecord]:
    recs = [record(i, "LLM-only", "l", "0.0013", 1.0) for i in range(20)]
    recs += [record(100 + i, "SLM-only", "s", "0.00012", float(i % 2 == 0)) for i in range(20)]
    recs += [record(200 + i, "hybrid", m, "0.0013" if m == "l" else "0.00012", 1.0 if m == "l" else float(i % 2 == 0))
             for i, m in enumerate(hybrid_models)]
    return recs


def test_a_logged_hybrid_on_the_small_model_is_slm_only_and_without_a_fit_says_it_cannot_tell_why() -> None:
    report = from_log(log(["s"] * 19 + ["l"]), parse_config(CONFIG))
    (line,) = collapse_lines(report)
    assert line.startswith("hybrid sends 95% of its requests (19 of 20) to s, SLM-only's model, so it is SLM-only "
                           "in all but name")
    assert line.endswith("the report holds no record of how its router was calibrated, so it cannot say why.")
    # 94% is not "almost everything", and the figures differ from both ends: no sentence
    assert collapse_lines(from_log(log(["s"] * 17 + ["l"] * 3), parse_config(CONFIG))) == []


def test_a_hybrid_that_ignores_its_own_measured_curve_is_reported() -> None:
    # The router's curve over its outcomes: its top-scored half are the prompts the small model gets right, so
    # sending them small saves cost at no loss. A hybrid that still sends 100% large contradicts it.
    small_right = [i < 10 for i in range(20)]
    o = outcomes(small_right)
    scores = np.array([0.0 if ok else 1.0 for ok in small_right])  # low score: keep small
    fit = router_fit(o, parse_config(CONFIG), scores, router="toy", source="the test's outcomes", share=1.0)
    assert fit.apgr == pytest.approx(tradeoff.apgr(tradeoff.curve(scores, o.quality[:, 0], o.quality[:, 1])))
    report = from_log(log(["l"] * 20), parse_config(CONFIG), routers={"hybrid": fit, "absent": fit})
    assert set(report.routers) == {"hybrid"}
    (line,) = collapse_lines(report)
    assert "so it is LLM-only in all but name" in line
    assert (
        "yet on the 20 outcomes its router was calibrated on (the test's outcomes), the threshold that sends the "
        "50% of requests the router is surest of to the small model, which would save $0.59 per 1,000 requests "
        "and keep the same mean quality (answers worth $0.00 less at the configured B), creates $0.59 per 1,000 "
        "requests more value than sending all to the large model (its calibrated threshold sent 100% to the large "
        "model there): its routing does not follow the measured economics"
    ) in line
    assert "toy, orders those requests with a cross-fitted APGR of" in line


def test_the_demo_hybrid_carries_its_fit_from_the_shipped_outcomes() -> None:
    """The demo's router, chosen and calibrated on the shipped local-ladder outcomes under the shipped demo
    config, carries the curve and APGR the verdict reads (the demo itself is too slow to run here)."""
    from smallfirst.cli.shipped import economics_config
    from smallfirst.config import load_settings
    from smallfirst.demo.deployments import build_hybrid
    from smallfirst.economics.assumptions import load_config

    econ = load_config(economics_config("demo"), hardware=load_settings().hardware)
    pair = ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")
    hybrid = build_hybrid("local-ladder", pair, pair, econ)
    fit = hybrid.fit
    assert fit is not None and fit.n == 162 and fit.source == "local-ladder" and fit.router == hybrid.router
    assert fit.apgr == pytest.approx(hybrid.apgr) and fit.share == hybrid.expected_share
    c = fit.curve
    assert c.large_share[0] == 0 and c.large_share[-1] == 1
    # the calibrated max-profit threshold is the curve's best point (the curve adds a constant routing overhead)
    assert c.large_share[c.best] == pytest.approx(hybrid.expected_share)


def test_a_routed_hybrid_with_llm_only_figures_is_named_even_below_the_share() -> None:
    # the two models cost the same and answer alike here, so a hybrid splitting 50/50 has LLM-only's quality
    # and cost to the cent, though no model gets 95% of it
    recs = [record(i, "LLM-only", "l", "0.0013", 1.0) for i in range(20)]
    recs += [record(100 + i, "SLM-only", "s", "0.0013", 1.0) for i in range(20)]
    recs += [record(200 + i, "hybrid", "sl"[i % 2], "0.0013", 1.0) for i in range(20)]
    (line,) = collapse_lines(from_log(recs, parse_config(CONFIG)))
    assert line == (
        "hybrid matches LLM-only's quality and cost within rounding (quality 100.0% against 100.0%, cost $1.30 "
        "against $1.30 per 1,000 requests) although it sends 50% of its requests to l; the report holds no record "
        "of how its router was calibrated, so it cannot say why."
    )
