"""The one OpenAI-compatible backend against a real llama.cpp server on loopback (and a faulty proxy in front
of it). It is async; each test drives it on an event loop of its own and closes its session."""

from __future__ import annotations

import asyncio

import pytest

from smallfirst.config import ModelSpec
from smallfirst.errors import ConfigError, UpstreamError
from smallfirst.models.openai_http import OpenAIModel, build
from tests.conftest import TEST_MODEL, free_port, start_llama_server
from tests.faulty_upstream import serve_faulty

ASK = [{"role": "user", "content": "Say hello."}]


def spec(base_url: str, **kw) -> ModelSpec:
    return ModelSpec(backend="openai", base_url=base_url, model=TEST_MODEL, timeout_s=kw.pop("timeout_s", 30),
                     max_retries=kw.pop("max_retries", 0), pricing="manual", input_usd_per_mtok=1,
                     output_usd_per_mtok=2, **kw)


def complete(model: OpenAIModel, *args, **kw):
    async def go():
        try:
            return await model.complete(*args, **kw)
        finally:
            await model.aclose()
    return asyncio.run(go())


def stream(model: OpenAIModel, *args, **kw):
    async def go():
        try:
            return [c async for c in model.stream(*args, **kw)]
        finally:
            await model.aclose()
    return asyncio.run(go())


def test_complete_against_a_real_loopback_server(llama_server: str) -> None:
    # Greedy, so the answer is the same on every run; a server may count more completion tokens than
    # max_tokens (multi-byte characters span tokens), which is the ledger's to price, not an error here.
    model = OpenAIModel("smol-http", spec(llama_server))
    c = complete(model, ASK, max_tokens=8, temperature=0)
    assert c.text.strip()
    assert c.kind == "api"
    assert c.usage.prompt_tokens > 0 and c.usage.completion_tokens > 0
    assert c.wall_seconds > 0
    assert complete(model, ASK, max_tokens=8, temperature=0).text == c.text


def test_logprobs_from_a_real_loopback_server(llama_server: str) -> None:
    """The cascade judges an endpoint's answer by these, so they must arrive from llama.cpp's server too."""
    c = complete(OpenAIModel("smol-http", spec(llama_server)), ASK, max_tokens=4, logprobs=True, temperature=0)
    assert c.logprobs and len(c.logprobs) == c.usage.completion_tokens
    assert "".join(t.token for t in c.logprobs) == c.text and all(t.logprob <= 0 for t in c.logprobs)


def test_stream_against_a_real_loopback_server(llama_server: str) -> None:
    model = OpenAIModel("smol-http", spec(llama_server))
    chunks = stream(model, ASK, max_tokens=8, temperature=0)
    final = chunks[-1].completion
    assert final is not None
    assert "".join(c.text for c in chunks[:-1]) == final.text
    assert final.text.strip() and final.usage.completion_tokens > 0
    assert 0 < final.ttft_seconds <= final.wall_seconds


def test_unreachable_endpoint_says_so() -> None:
    model = OpenAIModel("nowhere", spec(f"http://127.0.0.1:{free_port()}/v1", timeout_s=2))
    with pytest.raises(UpstreamError, match="cannot reach nowhere"):
        complete(model, ASK, max_tokens=4)


def test_missing_base_url_is_a_config_error() -> None:
    from smallfirst.config import load_settings

    with pytest.raises(ConfigError, match="base_url"):
        build("x", ModelSpec(backend="openai"), load_settings())


def test_unset_key_variable_is_named(monkeypatch: pytest.MonkeyPatch, llama_server: str) -> None:
    monkeypatch.delenv("SF_TEST_KEY", raising=False)
    model = OpenAIModel("keyed", spec(llama_server, api_key_env="SF_TEST_KEY"))
    with pytest.raises(ConfigError, match=r"\$SF_TEST_KEY"):
        complete(model, ASK, max_tokens=4)


@pytest.mark.parametrize("status", [429, 500])
def test_error_statuses_are_reported_with_a_way_out(llama_server: str, status: int) -> None:
    with serve_faulty(llama_server, free_port()) as (url, faults):
        faults.mode, faults.status = "status", status
        model = OpenAIModel("flaky", spec(url, max_retries=1))
        with pytest.raises(UpstreamError) as err:
            complete(model, ASK, max_tokens=4)
        assert err.value.upstream_status == status and err.value.retryable
        assert f"HTTP {status}" in str(err.value)
        assert faults.hits == 2, "one retry was configured"


def test_timeout_is_reported(llama_server: str) -> None:
    with serve_faulty(llama_server, free_port()) as (url, faults):
        faults.mode, faults.hang_s = "hang", 5
        model = OpenAIModel("slow", spec(url, timeout_s=0.5))
        with pytest.raises(UpstreamError, match="timed out"):
            complete(model, ASK, max_tokens=4)


def test_rejected_api_key_never_appears_in_the_error(monkeypatch: pytest.MonkeyPatch, smollm2_path) -> None:
    secret = "sk-test-very-secret-value-123456"
    proc, url = start_llama_server(smollm2_path, api_key="the-right-key")
    try:
        monkeypatch.setenv("SF_TEST_KEY", secret)
        model = OpenAIModel("guarded", spec(url, api_key_env="SF_TEST_KEY"))
        with pytest.raises(UpstreamError) as err:
            complete(model, ASK, max_tokens=4)
        assert err.value.upstream_status == 401
        assert "$SF_TEST_KEY" in str(err.value)
        assert secret not in str(err.value) and secret not in repr(err.value.__dict__)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
