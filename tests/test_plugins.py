"""The seams take a registration, not an edit to the core: a toy plugin, installed from its own package
(``tests/plugins/toy``) into a folder of its own, joins smallfirst through entry points alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parent / "plugins" / "toy"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("plugin-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(PLUGIN)], check=True, capture_output=True)
    assert list(site.glob("smallfirst_toy-*.dist-info"))
    return site


def sf(site: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "smallfirst.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_a_plugin_backend_serves_a_configured_model(plugin_site: Path, tmp_path: Path) -> None:
    (tmp_path / "smallfirst.toml").write_text(
        '[models.echo]\nbackend = "toy-echo"\npricing = "manual"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 2\n')
    out = json.loads(sf(plugin_site, "ask", "hello world", "--model", "echo", "--json").stdout)
    assert out["text"] == "dlrow olleh" and out["model"] == "echo"
    assert "toy-echo" in sf(plugin_site, "models").stdout


def test_a_plugin_router_is_evaluated_like_a_builtin(plugin_site: Path, tmp_path: Path) -> None:
    out = sf(plugin_site, "eval", "--outcomes", "cascade-pair", "-r", "len=toy-length", "-r", "rand=random",
             "--no-latency", "--out", str(tmp_path / "eval")).stdout
    assert "len" in out and "rand" in out
    assert (tmp_path / "eval" / "cascade-pair.csv").read_text().count("len") >= 1


def test_an_unknown_backend_names_the_known_ones(plugin_site: Path, tmp_path: Path) -> None:
    (tmp_path / "smallfirst.toml").write_text('[models.x]\nbackend = "nope"\n')
    proc = sf(plugin_site, "ask", "hi", "--model", "x", check=False)
    assert proc.returncode == 2 and "unknown backend 'nope'" in proc.stderr and "toy-echo" in proc.stderr


def test_a_plugin_price_source_prices_a_model_named_in_config(plugin_site: Path, tmp_path: Path) -> None:
    (tmp_path / "smallfirst.toml").write_text('[models.echo]\nbackend = "toy-echo"\npricing = "toy-flat"\n')
    out = json.loads(sf(plugin_site, "ask", "one two three", "--model", "echo", "--json").stdout)
    # toy-flat charges one micro-dollar per token: 3 prompt and 3 completion tokens
    assert Decimal(out["cost"]) == Decimal("0.000006") and out["price_source"] == "toy-flat"
    assert "toy-flat" in sf(plugin_site, "models").stdout
    (tmp_path / "smallfirst.toml").write_text('[models.echo]\nbackend = "toy-echo"\npricing = "nope"\n')
    proc = sf(plugin_site, "ask", "hi", "--model", "echo", check=False)
    assert proc.returncode == 2 and "unknown price source 'nope'" in proc.stderr and "toy-flat" in proc.stderr
