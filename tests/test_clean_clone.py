"""A real user's machine: the committed tree, with nothing beside it, runs the main job; every README command
either works or stops with one line that names the way out.

Both tests run the product as a user gets it: the committed tree (``git archive HEAD``) is built into a wheel
and installed into a folder of its own (so a file missing from the package data fails here, not on a user's
machine), in an empty working folder with a new ``HOME``, ``SMALLFIRST_HOME`` and data cache, and no
``SMALLFIRST_DATA``. Only the verified model files are shared with the rest of the suite (a symlink), because
they are what a user pulls first and they are large.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_MODEL

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


@pytest.fixture(scope="module")
def installed_copy(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> dict[str, Path]:
    """The committed tree as a user installs it: archived, built into a wheel, installed into its own folder."""
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout: nothing committed to archive")
    base = tmp_path_factory.mktemp("clean")
    clone, wheels, site = base / "clone", base / "wheels", base / "site"
    clone.mkdir()
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(clone)], input=archive, check=True)
    assert not (clone.parent / "shared").exists()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(wheels), str(clone)], check=True, capture_output=True)
    wheel = next(wheels.glob("smallfirst-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    cache = base / "cache"
    cache.mkdir()
    (cache / "models").symlink_to(smollm2_path.parent, target_is_directory=True)
    return {"clone": clone, "site": site, "cache": cache, "base": base}


def _user_env(copy: dict[str, Path], work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMALLFIRST_")}
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), SMALLFIRST_HOME=str(home / ".smallfirst"), SMALLFIRST_CACHE=str(copy["cache"]),
               PYTHONPATH=str(copy["site"]), XDG_CACHE_HOME=str(home / ".cache"))
    return env


def _smallfirst(args: list[str], copy: dict[str, Path], work: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smallfirst.cli", *args], cwd=work, env=_user_env(copy, work),
                          capture_output=True, text=True, timeout=timeout)


def test_the_demo_runs_from_a_clean_copy_with_nothing_beside_it(installed_copy: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    work = tmp_path / "empty"
    work.mkdir()
    proc = _smallfirst(["demo", "--mix", "banking77=2,cuad=2,mmlu=2,gsm8k=1", "--small", TEST_MODEL,
                        "--large", TEST_MODEL, "--specialist-limit", "800"], installed_copy, work, timeout=1500)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out
    for scenario in ("LLM-only", "SLM-only", "hybrid", "hybrid+specialised"):
        assert scenario in out, f"the verdict does not name {scenario}"
    assert (work / "reports" / "demo" / "report.html").is_file()
    # the installed package is the code that ran, not the source tree beside the tests
    assert str(ROOT / "src") not in out


# -- every README command --------------------------------------------------------------------------------------

#: README commands that a test cannot run whole, and why; each is still checked to parse (`--help`).
TOO_LONG = {
    "smallfirst demo": "the main job: covered by the test above on a tiny mix",
    "smallfirst demo --full": "the whole workload: hours",
    "smallfirst serve": "a server that runs until stopped: covered by the gateway tests",
    "smallfirst collect": "runs three models over hundreds of items: hours",
    "smallfirst specialize": "trains a classifier: covered by the specialisation tests",
    "smallfirst pull": "assembles a model of up to 1.1 GB from PyPI: covered by tests/test_model_files.py",
}


def readme_commands(text: str) -> list[str]:
    """Every `smallfirst ...` line inside the README's bash code blocks, without its trailing comment."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.strip()
            line = re.sub(r"^\.venv/bin/", "", line)
            if not line.startswith("smallfirst "):
                continue
            commands.append(re.sub(r"\s+#.*$", "", line).strip())
    return commands


def _kind(command: str) -> str | None:
    for prefix in sorted(TOO_LONG, key=len, reverse=True):
        if command == prefix or (command.startswith(prefix + " ") and prefix != "smallfirst demo"):
            return prefix
    return None


def test_readme_lists_its_commands() -> None:
    commands = readme_commands(README.read_text(encoding="utf-8"))
    assert len(commands) >= 10, commands


@pytest.mark.parametrize("command", readme_commands(README.read_text(encoding="utf-8")))
def test_each_readme_command_works_or_names_the_way_out(command: str, installed_copy: dict[str, Path],
                                                        tmp_path: Path) -> None:
    args = shlex.split(command)[1:]
    skip = _kind(command)
    if skip is not None:
        args = [*args, "--help"] if args[0] not in ("serve",) else ["serve", "--help"]
    proc = _smallfirst(args, installed_copy, tmp_path, timeout=900)
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stdout + proc.stderr, f"{command}: {err[-2000:]}"
    if proc.returncode == 0:
        return
    assert skip is None, f"{command} --help failed: {err}"
    # a user error: exit 2 and exactly one line, the cause and the way out
    assert proc.returncode == 2, f"{command} exited {proc.returncode}: {err[-2000:]}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{command}: {err}"
    assert any(w in lines[0] for w in ("run `", "pass ", "give ", "set ", "use ", "pull", "--")), lines[0]
