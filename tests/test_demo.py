"""The demo pipeline end to end on a tiny sample with the small models, so CI keeps the main job working."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smallfirst.cli.shipped import economics_config
from smallfirst.config import ModelSpec, load_settings
from smallfirst.datasets import bundled
from smallfirst.demo.pipeline import run_demo
from smallfirst.demo.plan import SCENARIOS, DemoPlan
from smallfirst.store.db import get_engine
from smallfirst.store.requests import list_requests
from tests.conftest import TEST_MODEL

MIX = {"banking77": 2, "cuad": 2, "mmlu": 2, "kpi": 1}


@pytest.fixture
def plan(tmp_path: Path) -> DemoPlan:
    # The shipped files only: the demo must need nothing outside the package but the models.
    return DemoPlan(workload=bundled("workload/mixed.jsonl"), outcomes="local-ladder",
                    econ_config=economics_config("demo"), out_dir=tmp_path / "report", run_dir=tmp_path / "run",
                    mix=MIX, replay=300)


def test_demo_serves_four_scenarios_grades_and_reports(plan: DemoPlan, llama_server: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # The large tier is configured as an API model would be: its key comes from the environment and its
    # price from genai-prices (gpt-4o-mini's list price); a loopback llama.cpp server stands in for the API.
    secret = "sk-demo-test-3f9a1c7e5b2d"
    monkeypatch.setenv("SMALLFIRST_TEST_API_KEY", secret)
    settings = load_settings(models={"smol-http": ModelSpec(
        backend="openai", base_url=llama_server, model=TEST_MODEL, api_key_env="SMALLFIRST_TEST_API_KEY",
        pricing="api", price_model="gpt-4o-mini")})
    lines: list[str] = []
    result = run_demo(settings, plan, small=TEST_MODEL, large="smol-http",
                      learn_from=("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"), log=lines.append,
                      specialist_limit=1500)
    n = sum(MIX.values())
    assert len(result.items) == n
    rows = list_requests(get_engine(f"sqlite:///{plan.run_dir / 'requests.db'}"), source="demo")
    assert sorted({r.tag for r in rows}) == sorted(SCENARIOS)
    assert all(sum(r.tag == s for r in rows) == n for s in SCENARIOS)
    # The KPI prompt (Northwind's schema, ~1,500 tokens) does not fit the 1,024-token stand-in for the API
    # model: that request fails, its error row is logged, it is graded 0 and the run goes on.
    failed = [r for (s, _), r in result.journal.done.items() if r.get("error")]
    assert all(r["task"] == "kpi" and r["quality"] == 0.0 and "ContextOverflowError" in r["error"] for r in failed)
    assert all(r.status == "ok" and r.quality is not None for r in rows if r.task != "kpi")
    # LLM-only and SLM-only each use exactly their one model; the specialised scenario uses the classifiers
    assert result.models_used("LLM-only") == {"smol-http": n}
    assert result.models_used("SLM-only") == {TEST_MODEL: n}
    assert set(result.models_used("hybrid+specialised")) & {"banking77-intent", "cuad-clause"}
    # the sales-KPI question goes to the text-to-SQL tier, graded by execution, priced as the sum of its calls
    kpi_rows = [r for r in rows if r.task == "kpi"]
    assert {r.tag for r in kpi_rows} == set(SCENARIOS)
    assert {r.model for r in kpi_rows if r.tag == "hybrid+specialised"} == {"northwind-kpi"}
    assert all(r.quality in (0.0, 1.0) and r.cost_usd > 0 for r in kpi_rows if r.status == "ok")
    assert any(r.policy == "hybrid" and r.score is not None for r in rows)
    assert result.memo_hits > 0, "scenarios sharing a (model, prompt) must reuse its measured completion"
    html = result.files.html.read_text()
    assert "value created" in html.lower() and "value captured" in html.lower()
    # the replayed learning curve is a section of the report, with its plot (no model compute)
    md = result.files.markdown.read_text()
    assert "## Learning from traffic (replayed)" in md and "Last-1000 saving" in md
    assert "learning_curve.png" in md and (plan.out_dir / "learning_curve.png").is_file()
    assert "Learning from traffic (replayed)" in html
    assert any("hybrid router" in line for line in lines)
    # the report knows how the hybrid's router was chosen (its curve on local-ladder), so the verdict can say
    # why it routes as it does; whatever the verdict says of it, the Markdown says too
    from smallfirst.economics.report.verdict import collapse_lines

    assert result.report.routers["hybrid"] is result.hybrid.fit and result.hybrid.fit.n == 162
    assert all(line in md for line in collapse_lines(result.report))
    names = {r.name for r in result.report.results}
    assert set(SCENARIOS) <= names
    llm_rows = [r for r in rows if r.tag == "LLM-only" and r.status == "ok"]
    assert all(r.price_source.startswith("genai-prices") and "gpt-4o-mini" in r.price_source for r in llm_rows)
    assert all(r.cost_usd > 0 for r in llm_rows)
    written = [f for d in (plan.run_dir, plan.out_dir) for f in d.rglob("*") if f.is_file()]
    assert written and not [f for f in written if secret.encode() in f.read_bytes()], "the API key leaked"

    # A second run of the same plan resumes: nothing is served again.
    again = run_demo(settings, plan, small=TEST_MODEL, large="smol-http",
                     learn_from=("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"), specialist_limit=1500)
    rows_after = list_requests(get_engine(f"sqlite:///{plan.run_dir / 'requests.db'}"), source="demo")
    assert len(rows_after) == len(rows)
    assert again.quality("SLM-only") == result.quality("SLM-only")


def test_demo_refuses_a_run_folder_holding_another_run(plan: DemoPlan, tmp_path: Path) -> None:
    from smallfirst.errors import DataError

    plan.run_dir.mkdir(parents=True)
    (plan.run_dir / "run.json").write_text('{"signature": "something-else"}')
    with pytest.raises(DataError, match="--fresh"):
        run_demo(load_settings(), plan, small=TEST_MODEL, large=TEST_MODEL,
                 learn_from=("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"))


def test_default_runs_are_named_after_their_plan(plan: DemoPlan, tmp_path: Path) -> None:
    """Without --run, another mix or model gets its own folder instead of a refusal, and --fresh clears only
    that plan's folder. (The missing economics config stops each call right after the folder is chosen.)"""
    import dataclasses

    from smallfirst.errors import SmallfirstError

    runs = tmp_path / "runs"
    for mix in (MIX, {"banking77": 1}, MIX):
        p = dataclasses.replace(plan, run_dir=runs, per_plan=True, mix=mix, econ_config=tmp_path / "missing.toml")
        with pytest.raises(SmallfirstError):
            run_demo(load_settings(), p, small=TEST_MODEL, large=TEST_MODEL,
                     learn_from=("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"))
    folders = sorted(runs.iterdir())
    assert len(folders) == 2 and all(f.name.startswith("plan-") and (f / "run.json").exists() for f in folders)
    for f in folders:
        (f / "marker").write_text("x")
    p = dataclasses.replace(plan, run_dir=runs, per_plan=True, fresh=True, econ_config=tmp_path / "missing.toml")
    with pytest.raises(SmallfirstError):
        run_demo(load_settings(), p, small=TEST_MODEL, large=TEST_MODEL,
                 learn_from=("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"))
    kept = {json.loads((f / "run.json").read_text())["items"]: (f / "marker").exists() for f in folders}
    assert kept == {sum(MIX.values()): False, 1: True}
