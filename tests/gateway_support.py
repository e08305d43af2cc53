"""Helpers for the gateway tests: settings with a local and an HTTP SmolLM2 tier, and the app served by a real
uvicorn on a loopback port in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from smallfirst.config import Settings, load_settings
from tests.conftest import TEST_MODEL, free_port

LOCAL = TEST_MODEL  # the catalogue name: the in-process GGUF tier
HTTP = "smol-http"  # the same model behind a real llama_cpp.server


def http_model(base_url: str, **kw: Any) -> dict[str, Any]:
    return {
        "backend": "openai",
        "base_url": base_url,
        "model": TEST_MODEL,
        "timeout_s": kw.pop("timeout_s", 60),
        "max_retries": kw.pop("max_retries", 0),
        "pricing": "manual",
        "input_usd_per_mtok": 1,
        "output_usd_per_mtok": 2,
        **kw,
    }


def gateway_settings(home: Path, models: dict[str, dict[str, Any]] | None = None, **server: Any) -> Settings:
    return load_settings(
        home=str(home),
        database_url=f"sqlite:///{home / 'requests.db'}",
        models={
            LOCAL: {"backend": "gguf", "catalog": TEST_MODEL, "n_ctx": 512, "n_threads": 1},
            **(models or {}),
        },
        routing={"small": LOCAL, "large": LOCAL},
        server={"queue_size": 64, **server},
    )


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """The app on a real socket; yields the base URL ending in /v1."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def rows(app: Any) -> list[Any]:
    """Every request-log row, after the background writer has caught up."""
    from smallfirst.store.requests import list_requests

    service = app.state.gateway.service
    service.flush_log()
    return list_requests(service.engine)
