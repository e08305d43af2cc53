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
