from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import DATA, TEST_MODEL

SF = [sys.executable, "-m", "smallfirst.cli"]


def run(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([*SF, *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, timeout=300)
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
    # fixed-point at the log's picodollar resolution, as the gateway writes them: never 28 digits or 1E-7
    for field in ("cost", "baseline_cost", "saving"):
        assert re.fullmatch(r"-?\d+\.\d{12}", data[field]), data[field]
    assert data["usage"]["prompt_tokens"] > 0 and data["baseline_model"] == "gpt-4o"
    log = run("log", "--limit", "5").stdout
    assert TEST_MODEL in log and "all requests: 1" in log


def test_ask_prints_the_cost_line(smollm2_path) -> None:
    out = run("ask", "Say yes.", "-m", TEST_MODEL, "--max-tokens", "4").stdout
    assert "gpt-4o would cost" in out and "tokens" in out and "saved" in out


def test_unknown_model_is_a_one_line_error_without_traceback() -> None:
    proc = run("ask", "hi", "--model", "qwen-05b", check=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "unknown model 'qwen-05b'" in proc.stderr and "smallfirst models" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_config_is_reported(tmp_path: Path) -> None:
    (tmp_path / "smallfirst.toml").write_text("[hardwre]\n")
    proc = run("models", check=False)
    assert proc.returncode == 2 and "did you mean 'hardware'" in proc.stderr


def test_init_writes_a_config_once(tmp_path: Path) -> None:
    run("init")
    assert (Path(os.environ["SMALLFIRST_HOME"]) / "config.toml").exists()
    again = run("init", check=False)
    assert again.returncode == 2 and "--force" in again.stderr


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
    from smallfirst.evaluate.loaders import load_routellm_gsm8k, load_routellm_mmlu

    if not (DATA / "routellm").is_dir():
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


def test_a_hint_with_square_brackets_prints_as_written(tmp_path: Path) -> None:
    """The terminal library must not read "[models.x]" in a hint as a style tag and drop it."""
    (tmp_path / "smallfirst.toml").write_text('[models.x]\nbackend = "openai"\n')
    proc = run("ask", "hi", "--model", "x", check=False)
    assert proc.returncode == 2 and "base_url" in proc.stderr
    econ = run("economics", "--outcomes", "cascade-pair", "--config", str(tmp_path / "missing.toml"), check=False)
    assert econ.returncode == 2 and "(demo, routellm)" in econ.stderr


def test_a_missing_file_is_a_user_error_not_a_traceback(tmp_path: Path) -> None:
    proc = run("eval", "--outcomes", str(tmp_path / "nope.jsonl"), check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ")
    assert "nope.jsonl" in lines[0] and "Traceback" not in proc.stderr


def test_an_unexpected_error_names_its_traceback_file_and_debug_prints_it(monkeypatch, capsys) -> None:
    """A bug (here: the request log's reader raising something no layer expects) is one line pointing at the
    saved traceback, exit status 1; --debug lets the traceback through instead."""
    import pytest

    import smallfirst.store.requests as requests
    from smallfirst.cli.main import main

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(requests, "list_requests", broken)
    monkeypatch.setattr(sys, "argv", ["smallfirst", "log"])
    with pytest.raises(SystemExit) as exit_:
        main()
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 1 and len(lines) == 1 and lines[0].startswith("internal error: RuntimeError: boom")
    crash = Path(lines[0].split("traceback in ")[1].split(";")[0])
    assert crash.is_relative_to(Path(os.environ["SMALLFIRST_HOME"])) and "Traceback" in crash.read_text()
    monkeypatch.setattr(sys, "argv", ["smallfirst", "--debug", "log"])
    with pytest.raises(RuntimeError, match="boom"):
        main()


def test_data_pull_installs_from_a_local_copy_and_refuses_a_changed_one(tmp_path: Path) -> None:
    import shutil

    from tests.conftest import DATA

    if not (DATA / "northwind").is_dir():
        import pytest

        pytest.skip("shared data not present")
    env = {"SMALLFIRST_CACHE": str(tmp_path / "cache")}
    listed = run("data", "list", env=env).stdout
    assert "northwind" in listed and "not installed" in listed
    copy = tmp_path / "copy" / "northwind"
    shutil.copytree(DATA / "northwind", copy)
    (copy / "update.sql").chmod(0o644)
    with (copy / "update.sql").open("a") as fh:
        fh.write("-- changed\n")
    refused = run("data", "pull", "northwind", "--from", str(copy.parent), check=False, env=env)
    assert refused.returncode == 2 and "sha256" in refused.stderr and "northwind/update.sql" in refused.stderr
    assert not (tmp_path / "cache" / "data" / "northwind").exists(), "a refused set must leave nothing installed"
    ok = run("data", "pull", "northwind", "--from", str(DATA), env=env)
    assert "sha256 checked" in ok.stdout
    assert (tmp_path / "cache" / "data" / "northwind" / "create.sql").read_bytes() == \
        (DATA / "northwind" / "create.sql").read_bytes()
    assert "installed" in run("data", "list", env=env).stdout
    unknown = run("data", "pull", "nope", check=False, env=env)
    assert unknown.returncode == 2 and "smallfirst data list" in unknown.stderr
