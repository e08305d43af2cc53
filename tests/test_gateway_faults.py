"""Upstream faults through the gateway: 500, 429, a hang past the timeout, a stream cut mid-way, a client that
hangs up. Each ends in a fallback answer or a clean OpenAI-shaped error, and leaves its row in the log."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from smallfirst.errors import OverloadedError, UpstreamError
from smallfirst.models.circuit import CircuitBreaker
from smallfirst.models.threads import Workers
from smallfirst.server import create_app
from tests.conftest import free_port
from tests.faulty_upstream import Faults, serve_faulty
from tests.gateway_support import HTTP, LOCAL, gateway_settings, http_model, rows, serve

HI = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory, llama_server: str) -> Iterator[tuple[Any, str, Faults]]:
    with serve_faulty(llama_server, free_port()) as (bad_url, faults):
        faults.hang_s = 6.0
        models = {
            name: http_model(bad_url, timeout_s=2, fallbacks=[LOCAL])
            for name in ("flaky-500", "flaky-429", "flaky-hang", "flaky-cut", "breaker")
        }
        models["retrying"] = http_model(bad_url, timeout_s=5, max_retries=2, fallbacks=[LOCAL])
        models["fragile"] = http_model(bad_url, timeout_s=2)
        models[HTTP] = http_model(llama_server)
        app = create_app(
            gateway_settings(
                tmp_path_factory.mktemp("faults"), models, circuit_failures=2, circuit_cooldown_s=300
            )
        )
        with serve(app) as url:
            yield app, url, faults


@pytest.fixture
def client(faulty: tuple[Any, str, Faults]) -> Iterator[openai.OpenAI]:
    faulty[2].mode = "pass"
    yield openai.OpenAI(base_url=faulty[1], api_key="unused", max_retries=0, timeout=120)
    faulty[2].mode = "pass"


def _last_row(app: Any) -> Any:
    return rows(app)[-1]


@pytest.mark.parametrize(("model", "status"), [("flaky-500", 500), ("flaky-429", 429)])
def test_upstream_error_status_falls_back(
    faulty: tuple[Any, str, Faults], client: openai.OpenAI, model: str, status: int
) -> None:
    app, _, faults = faulty
    faults.mode, faults.status = "status", status
    raw = client.chat.completions.with_raw_response.create(model=model, messages=HI, max_tokens=3)
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-smallfirst-model"] == LOCAL
    assert f"fell back from {model}" in raw.headers["x-smallfirst-reason"]
    row = _last_row(app)
    assert row.status == "ok" and row.model == LOCAL and model in row.attempted


def test_hang_past_timeout_falls_back(faulty: tuple[Any, str, Faults], client: openai.OpenAI) -> None:
    app, _, faults = faulty
    faults.mode = "hang"
    started = time.monotonic()
    resp = client.chat.completions.create(model="flaky-hang", messages=HI, max_tokens=3)
    assert resp.model == LOCAL and time.monotonic() - started < 30
    assert "timed out" in _last_row(app).decision_reason


def test_retries_with_backoff_before_falling_back(
    faulty: tuple[Any, str, Faults], client: openai.OpenAI
) -> None:
    _, _, faults = faulty
    faults.mode, faults.status = "status", 500
    before = faults.hits
    assert client.chat.completions.create(model="retrying", messages=HI, max_tokens=2).model == LOCAL
    assert faults.hits - before == 3  # the first try and two retries


def test_no_fallback_left_is_a_clean_502(faulty: tuple[Any, str, Faults], client: openai.OpenAI) -> None:
    app, _, faults = faulty
    faults.mode, faults.status = "status", 500
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="fragile", messages=HI, max_tokens=2)
    assert err.value.status_code == 502
    assert err.value.body["type"] == "api_error" and "HTTP 500" in err.value.body["message"]  # type: ignore[index]
    row = _last_row(app)
    assert row.status == "error" and row.http_status == 502 and row.requested_model == "fragile"


def test_stream_cut_mid_way_ends_cleanly_and_is_logged(
    faulty: tuple[Any, str, Faults], client: openai.OpenAI
) -> None:
    app, _, faults = faulty
    faults.mode = "cut"
    text, failed = "", False
    try:
        for chunk in client.chat.completions.create(
            model="flaky-cut", messages=HI, max_tokens=24, stream=True
        ):
            text += (chunk.choices[0].delta.content or "") if chunk.choices else ""
    except openai.APIError:
        failed = True
    row = _last_row(app)
    assert row.requested_model == "flaky-cut"
    if failed:  # text had reached the client: an error, not a spliced answer from another model
        assert row.status == "error" and row.http_status == 502
    else:  # cut before the first token: the fallback answered
        assert text and row.status == "ok" and row.model == LOCAL


def test_circuit_opens_and_skips_the_failing_upstream(
    faulty: tuple[Any, str, Faults], client: openai.OpenAI
) -> None:
    app, _, faults = faulty
    faults.mode, faults.status = "status", 500
    for _ in range(2):
        client.chat.completions.create(model="breaker", messages=HI, max_tokens=2)
    before = faults.hits
    raw = client.chat.completions.with_raw_response.create(model="breaker", messages=HI, max_tokens=2)
    assert faults.hits == before  # not even tried
    assert (
        raw.headers["x-smallfirst-model"] == LOCAL and "circuit is open" in raw.headers["x-smallfirst-reason"]
    )


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("model", [LOCAL, HTTP])
def test_client_hanging_up_cancels_generation_and_is_logged(
    faulty: tuple[Any, str, Faults], model: str, stream: bool
) -> None:
    app, url, _ = faulty
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Write a long story."}],
        "max_tokens": 400,
        "stream": stream,
    }
    if stream:
        with httpx.stream("POST", f"{url}/chat/completions", json=body, timeout=60) as resp:
            assert resp.status_code == 200
            for line in resp.iter_lines():
                if '"content":"' in line and '"content":""' not in line:
                    break  # one token in: hang up
    else:
        with pytest.raises(httpx.ReadTimeout):  # gives up waiting and closes the connection
            httpx.post(f"{url}/chat/completions", json=body, timeout=httpx.Timeout(60, read=1.0))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = _last_row(app)
        if row.requested_model == model and row.http_status == 499:
            break
        time.sleep(0.2)
    assert row.http_status == 499 and row.status == "error"
    # the model is free again at once, not busy finishing 400 tokens nobody reads
    started = time.monotonic()
    httpx.post(f"{url}/chat/completions", json={**body, "stream": False, "max_tokens": 1}, timeout=60)
    assert time.monotonic() - started < 20


def test_full_local_queue_is_refused_with_retry_after() -> None:
    workers = Workers(threads_per_model=1, queue_size=1, retry_after_s=2)
    gate = threading.Event()
    workers.submit("m", gate.wait)
    workers.submit("m", gate.wait)
    with pytest.raises(OverloadedError) as err:
        workers.submit("m", gate.wait)
    assert err.value.status == 503 and err.value.retry_after == 2
    gate.set()
    workers.close()


def test_circuit_half_opens_after_the_cooldown() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=2, cooldown_s=10, clock=lambda: now[0])
    breaker.failure("up")
    breaker.check("up")  # one failure: still closed
    breaker.failure("up")
    with pytest.raises(UpstreamError, match="circuit is open"):
        breaker.check("up")
    now[0] = 11
    breaker.check("up")  # the one trial
    with pytest.raises(UpstreamError):
        breaker.check("up")  # others wait for the trial's outcome
    breaker.success("up")
    breaker.check("up")
