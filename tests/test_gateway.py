"""The gateway through the official openai client (sync and async, plain and streaming) on loopback, with a
local in-process SmolLM2 tier and the same model behind a real llama_cpp.server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from smallfirst.models.completion import Usage
from smallfirst.server import create_app
from tests.gateway_support import HTTP, LOCAL, gateway_settings, http_model, rows, serve

HI = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, llama_server: str) -> Iterator[tuple[Any, str]]:
    settings = gateway_settings(
        tmp_path_factory.mktemp("gw"), {HTTP: http_model(llama_server)}, max_body_bytes=20_000
    )
    app = create_app(settings)
    with serve(app) as url:
        yield app, url


@pytest.fixture
def client(gateway: tuple[Any, str]) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway[1], api_key="unused", max_retries=0, timeout=120)


def test_chat_answers_with_route_in_headers_and_body(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model=LOCAL, messages=HI, max_tokens=4)
    resp = raw.parse()
    assert resp.choices[0].message.content and resp.model == LOCAL
    assert resp.usage and 0 < resp.usage.completion_tokens <= 4
    assert raw.headers["x-smallfirst-model"] == LOCAL and raw.headers["x-smallfirst-policy"] == "direct"
    info = resp.model_extra["smallfirst"]  # type: ignore[index]
    assert info["model"] == LOCAL and info["baseline_model"]
    cost, baseline = Decimal(info["cost_usd"]), Decimal(info["baseline_usd"])
    assert Decimal(raw.headers["x-smallfirst-saving-usd"]) == baseline - cost


@pytest.mark.parametrize("model", [LOCAL, HTTP])
def test_logprobs_come_back_per_token(client: openai.OpenAI, model: str) -> None:
    resp = client.chat.completions.create(model=model, messages=HI, max_tokens=3, logprobs=True)
    tokens = resp.choices[0].logprobs.content  # type: ignore[union-attr]
    assert tokens and len(tokens) == resp.usage.completion_tokens  # type: ignore[union-attr]
    assert "".join(t.token for t in tokens) == resp.choices[0].message.content
    assert all(t.logprob <= 0 and t.bytes == list(t.token.encode("utf-8")) for t in tokens)


def test_auto_policy_routes_and_reports_its_reason(client: openai.OpenAI) -> None:
    # before any policy is learned or configured, auto is the large tier for every request, and says so
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=HI, max_tokens=4)
    assert raw.headers["x-smallfirst-policy"] == "auto"
    assert "no routing policy learned yet" in raw.headers["x-smallfirst-reason"]
    assert raw.parse().choices[0].message.content
    # the built-in cascade stays reachable by name
    raw = client.chat.completions.with_raw_response.create(model="cascade", messages=HI, max_tokens=4)
    assert raw.headers["x-smallfirst-policy"] == "cascade" and "cascade" in raw.headers["x-smallfirst-reason"]


def test_stream_ends_with_usage_when_asked(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model=HTTP, messages=HI, max_tokens=6, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals and finals[0].model_extra["smallfirst"]["model"] == HTTP  # type: ignore[index]


def test_stream_without_usage_sends_none(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model=LOCAL, messages=HI, max_tokens=4, stream=True))
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()


def test_async_client_plain_and_streaming(gateway: tuple[Any, str]) -> None:
    async def go() -> tuple[str, str]:
        async with openai.AsyncOpenAI(base_url=gateway[1], api_key="unused", max_retries=0) as ac:
            plain = await ac.chat.completions.create(model=HTTP, messages=HI, max_tokens=4)
            parts = [
                c.choices[0].delta.content or ""
                async for c in await ac.chat.completions.create(
                    model=LOCAL, messages=HI, max_tokens=4, stream=True
                )
                if c.choices
            ]
            return plain.choices[0].message.content or "", "".join(parts)

    plain, streamed = asyncio.run(go())
    assert plain.strip() and streamed.strip()


def test_text_completions(client: openai.OpenAI) -> None:
    resp = client.completions.create(model=LOCAL, prompt="Say hello.", max_tokens=4)
    assert resp.object == "text_completion" and resp.choices[0].text
    streamed = list(client.completions.create(model=LOCAL, prompt="Say hello.", max_tokens=4, stream=True))
    assert "".join(c.choices[0].text for c in streamed if c.choices).strip()


def test_models_lists_models_and_policies(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"auto", "cascade", LOCAL, HTTP, "qwen2.5-coder-0.5b"} <= ids


def test_health_and_open_mode(gateway: tuple[Any, str]) -> None:
    body = httpx.get(gateway[1].removesuffix("/v1") + "/health").json()
    assert body["status"] == "ok" and body["auth"] == "open"


def test_unknown_model_is_an_openai_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="no-such-model", messages=HI, max_tokens=4)
    assert err.value.body["code"] == "model_not_found"  # type: ignore[index]
    assert "smallfirst models" in err.value.body["message"]  # type: ignore[index]


def test_a_request_names_models_never_files(gateway: tuple[Any, str], smollm2_path: Path) -> None:
    """A .gguf path, however spelt, and any other file on the server's disk are unknown models: 404, nothing
    loaded, and the answer does not say whether the file exists."""
    app, url = gateway
    loaded = set(app.state.gateway.service.pool.loaded())
    relative = Path("..") / smollm2_path.parent.name / smollm2_path.name
    spellings = [str(smollm2_path), f"/{smollm2_path}", f"{smollm2_path.parent}/./{smollm2_path.name}",
                 str(relative), "/etc/hostname", "/no/such/file.gguf"]
    bodies = set()
    for name in spellings:
        r = httpx.post(f"{url}/chat/completions", json={"model": name, "messages": HI, "max_tokens": 1}, timeout=60)
        assert r.status_code == 404, (name, r.text)
        assert r.json()["error"]["code"] == "model_not_found"
        bodies.add(r.json()["error"]["message"].replace(repr(name), "NAME"))
    assert len(bodies) == 1, bodies  # an existing file and a missing one get the same answer
    assert set(app.state.gateway.service.pool.loaded()) == loaded


def _post(url: str, content: bytes | str | Iterator[bytes], **kw: Any) -> httpx.Response:
    return httpx.post(
        f"{url}/chat/completions",
        content=content,
        headers={"content-type": "application/json"},
        timeout=60,
        **kw,
    )


def test_malformed_json_is_400_in_openai_shape(gateway: tuple[Any, str]) -> None:
    r = _post(gateway[1], b'{"model": "auto", "messages": [')
    assert r.status_code == 400
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    assert "JSON" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            '{"model": "auto", "messages": [{"role": "user", "content": "x"}], "temperature": 9}',
            "temperature",
        ),
        ('{"model": "auto", "messages": "hello"}', "messages"),
        ('{"model": "auto", "messages": []}', "messages"),
        ('{"messages": [{"role": "user", "content": "x"}]}', "model"),
        ('{"model": "auto", "messages": [{"role": "user", "content": "x"}], "n": 3}', "n"),
    ],
)
def test_wrong_types_and_ranges_are_400(gateway: tuple[Any, str], body: str, param: str) -> None:
    r = _post(gateway[1], body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_wrong_method_is_405_in_openai_shape(gateway: tuple[Any, str]) -> None:
    r = httpx.get(f"{gateway[1]}/chat/completions", timeout=10)
    assert r.status_code == 405 and r.headers["allow"] == "OPTIONS, POST"
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_body_over_limit_is_413(gateway: tuple[Any, str]) -> None:
    big = '{"model": "auto", "messages": [{"role": "user", "content": "' + "x" * 30_000 + '"}]}'
    r = _post(gateway[1], big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_streamed_body_over_limit_is_413(gateway: tuple[Any, str]) -> None:
    """Without a Content-Length (chunked upload) the limit is counted as the body arrives."""
    big = ('{"model": "auto", "messages": [{"role": "user", "content": "' + "x" * 30_000 + '"}]}').encode()
    r = _post(gateway[1], iter([big[:10_000], big[10_000:]]))
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_prompt_over_context_is_400_as_openai_answers(client: openai.OpenAI) -> None:
    """OpenAI answers a prompt over the context with 400 and code context_length_exceeded, which the official
    client raises as BadRequestError (it was a 413)."""
    long = "word " * 2000  # ~2000 tokens against a 512-token context, inside the body limit
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=LOCAL, messages=[{"role": "user", "content": long}], max_tokens=2
        )
    assert err.value.status_code == 400
    assert err.value.body["code"] == "context_length_exceeded"  # type: ignore[index]


def test_every_request_is_logged_failures_too(gateway: tuple[Any, str], client: openai.OpenAI) -> None:
    app, url = gateway
    before = len(rows(app))
    client.chat.completions.create(model=LOCAL, messages=HI, max_tokens=2)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=HI, max_tokens=2)
    _post(url, b"{not json")
    log = rows(app)[before:]
    assert [r.http_status for r in log] == [200, 404, 400]
    ok = log[0]
    assert ok.source == "gateway" and ok.model == LOCAL and ok.completion_tokens > 0 and ok.latency_s > 0
    assert ok.cost_usd > 0 and ok.baseline_usd > 0


def test_metrics_count_requests_tokens_cost_and_latency(
    gateway: tuple[Any, str], client: openai.OpenAI
) -> None:
    client.chat.completions.create(model=LOCAL, messages=HI, max_tokens=2)
    text = httpx.get(gateway[1].removesuffix("/v1") + "/metrics").text
    for name in (
        "smallfirst_requests_total",
        "smallfirst_tokens_total",
        "smallfirst_cost_usd_total",
        "smallfirst_baseline_cost_usd_total",
        "smallfirst_request_latency_seconds_bucket",
    ):
        assert f"{name}{{" in text, name
    assert f'model="{LOCAL}",route="direct"' in text


def test_dashboard_is_self_contained_html(gateway: tuple[Any, str], client: openai.OpenAI) -> None:
    client.chat.completions.create(model=LOCAL, messages=HI, max_tokens=2)
    page = httpx.get(gateway[1].removesuffix("/v1") + "/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert LOCAL in page.text and "saved" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN, nothing fetched


def test_a_consistency_cascade_resamples_on_the_served_path(tmp_path: Path) -> None:
    """A consistency cascade judges the small answer by agreement with resampled answers. Served through the
    gateway it must draw those samples (seeds 1 and 2), read its signal, and price the samples with the
    request, whichever way the judgement goes."""
    settings = gateway_settings(tmp_path / "home")
    settings = settings.model_copy(update={"routing": settings.routing.model_copy(
        update={"cascade_signal": "consistency", "cascade_threshold": 0.5, "cascade_samples": 2})})
    app = create_app(settings)
    with serve(app) as url:
        reply = openai.OpenAI(base_url=url, api_key="x").chat.completions.create(
            model="cascade", messages=[{"role": "user", "content": "Name a colour."}], max_tokens=4, temperature=0)
    info = reply.model_extra["smallfirst"]
    assert info["policy"] == "cascade" and "consistency" in info["reason"] and "no consistency" not in info["reason"]
    assert info["score"] in (0.0, 0.5, 1.0)
    row = next(r for r in rows(app) if r.status == "ok")
    service = app.state.gateway.service
    alone = service.ledger.price_usage(row.model, service.resolve(row.model),
                                       Usage(row.prompt_tokens, row.completion_tokens), row.latency_s).usd
    assert row.cost_usd > alone, "the two resampled answers are paid for by the request"
