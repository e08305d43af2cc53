"""Real resources for the tests: the SmolLM2 GGUF from PyPI, a loopback llama_cpp.server, SQLite files.

Every test gets its own SMALLFIRST_HOME (config, request log); the verified model cache is shared through
SMALLFIRST_CACHE so the 98 MB model is assembled once per machine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA = Path(os.environ.get("SMALLFIRST_DATA", SHARED / "data"))
# The tests get the public data sets the way a user with a local copy does: the catalogue installs a set from
# SMALLFIRST_DATA into the cache on first use, checking every file's sha256. A clean clone has no such copy;
# the tests that need one skip there.
if DATA.is_dir():
    os.environ["SMALLFIRST_DATA"] = str(DATA)
from smallfirst.config import cache_root as _cache_root  # noqa: E402
from smallfirst.config import load_settings as _load  # noqa: E402

os.environ.setdefault("SMALLFIRST_CACHE", str(_cache_root()))
TEST_MODEL = "smollm2-135m"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "sfhome"
    monkeypatch.setenv("SMALLFIRST_HOME", str(home))
    monkeypatch.delenv("SMALLFIRST_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture(scope="session")
def model_cache() -> Path:
    return _load().cache_dir


@pytest.fixture(scope="session")
def smollm2_path(model_cache: Path) -> Path:
    from smallfirst.models import catalog, files

    return files.pull(catalog.entry(TEST_MODEL), model_cache)


@pytest.fixture(scope="session")
def smollm2(smollm2_path: Path):
    from smallfirst.models.llama import LlamaModel

    model = LlamaModel(TEST_MODEL, smollm2_path, n_ctx=1024, n_threads=2, expected_name="SmolLM2")
    yield model
    model.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def start_llama_server(model_path: Path, *, api_key: str | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "1024", "--n_threads", "1", "--model_alias", TEST_MODEL]
    if api_key:
        cmd += ["--api_key", api_key]
    # A file, not a pipe: the server logs every request, and a full pipe would block it.
    log_path = Path(tempfile.mkdtemp(prefix="llama-server-")) / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/v1/models", timeout=180, proc=proc)
    return proc, f"{base}/v1"


@pytest.fixture(scope="session")
def llama_server(smollm2_path: Path) -> Iterator[str]:
    """A real OpenAI-compatible server (llama-cpp-python's own) on loopback, serving SmolLM2."""
    proc, base_url = start_llama_server(smollm2_path)
    yield base_url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def settings(tmp_path: Path):
    from smallfirst.config import load_settings

    return load_settings()
