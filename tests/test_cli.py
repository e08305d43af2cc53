from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_MODEL

SF = [sys.executable, "-m", "smallfirst.cli"]


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*SF, *args], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"},
                          timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_import_is_light() -> None:
    code = ("import sys, smallfirst, smallfirst.service, smallfirst.config, smallfirst.cli.main;"
            "heavy = [m for m in ('torch', 'llama_cpp', 'onnxruntime', 'sklearn', 'matplotlib', 'openai', 'ray')"
            " if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ask_json_reports_cost_baseline_and_tokens_and_is_logged(smollm2_path) -> None:
    out = run("ask", "What is 2 + 2? Answer with a number.", "--model", TEST_MODEL, "--max-tokens", "8", "--json")
    data = json.loads(out.stdout)
    assert data["model"] == TEST_MODEL and data["text"]
    assert float(data["cost"]) > 0 and float(data["baseline_cost"]) > 0
    assert data["usage"]["prompt_tokens"] > 0 and data["baseline_model"] == "gpt-4o"
    log = run("log", "--limit", "5").stdout
    assert TEST_MODEL in log and "all requests: 1" in log


def test_ask_prints_the_cost_line(smollm2_path) -> None:
    out = run("ask", "Say yes.", "-m", TEST_MODEL, "--max-tokens", "4").stdout
    assert "gpt-4o would cost" in out and "tokens" in out and "saved" in out


def test_unknown_model_is_a_one_line_error_without_traceback() -> None:
    proc = run("ask", "hi", "--model", "qwen-05b", check=False)
    assert proc.returncode == 1
    assert "unknown model 'qwen-05b'" in proc.stderr and "smallfirst models" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_config_is_reported(tmp_path: Path) -> None:
    (tmp_path / "smallfirst.toml").write_text("[hardwre]\n")
    proc = run("models", check=False)
    assert proc.returncode == 1 and "did you mean 'hardware'" in proc.stderr


def test_init_writes_a_config_once(tmp_path: Path) -> None:
    run("init")
    assert (Path(os.environ["SMALLFIRST_HOME"]) / "config.toml").exists()
    again = run("init", check=False)
    assert again.returncode == 1 and "--force" in again.stderr


def test_models_lists_the_catalogue_with_cost_profiles() -> None:
    out = run("models").stdout
    for name in ("smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "gemma3-270m"):
        assert name in out
    assert "/hour of compute" in out


def test_eval_writes_the_metrics_table_plots_and_a_transfer(tmp_path) -> None:
    import csv

    import numpy as np
    import pytest

    from smallfirst import outcomes as oc
    from smallfirst.evaluate.loaders import default_data_dir, load_routellm_gsm8k, load_routellm_mmlu

    if not (default_data_dir() / "routellm").is_dir():
        pytest.skip("shared data not present")
    rng = np.random.default_rng(0)
    mmlu, gsm = load_routellm_mmlu(), load_routellm_gsm8k()
    train = oc.save(mmlu.subset(rng.choice(len(mmlu), 600, replace=False)), tmp_path / "mmlu-600.jsonl")
    test = oc.save(gsm.subset(np.arange(200)), tmp_path / "gsm-200.jsonl")
    out = tmp_path / "report"
    routers = ["-r", "random=random", "-r", "lr=logistic:features=static+task,C=0.3"]
    run("eval", "--outcomes", str(train), *routers, "--folds", "3", "--no-latency", "--out", str(out))
    rows = {r["router"]: r for r in csv.DictReader((out / "mmlu-600.csv").open())}
    assert {"random", "lr", "oracle (upper bound)", "oracle label router"} <= set(rows)
    assert 0.3 < float(rows["random"]["apgr"]) < 0.7  # a random order of 600 prompts draws near the diagonal
    assert float(rows["oracle (upper bound)"]["apgr"]) > float(rows["lr"]["apgr"]) > 0.4
    table = (out / "mmlu-600.md").read_text()
    assert "| lr |" in table and "APGR" in table
    for png in ("mmlu-600-share.png", "mmlu-600-cost.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run("eval", "--outcomes", str(train), "--test", str(test), *routers, "--no-latency", "--out", str(out))
    assert "lr" in (out / "mmlu-600-to-gsm-200.md").read_text()


def test_eval_refuses_a_bad_outcome_file_with_an_actionable_error(tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,text,small,large\n1,hi,1,0\n")
    proc = run("eval", "--outcomes", str(bad), "--no-latency", "--out", str(tmp_path / "r"), check=False)
    assert proc.returncode != 0
    assert "missing column 'prompt'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_goal_routers_parse_and_build() -> None:
    from smallfirst.evaluate.run import GOAL_ROUTERS, parse_spec

    specs = [parse_spec(s) for s in GOAL_ROUTERS]
    assert len({s.label for s in specs}) == len(specs)
    assert all(s.make() is not None for s in specs)
    assert any(not s.use_tasks for s in specs)  # the prompt-only goal has a row
