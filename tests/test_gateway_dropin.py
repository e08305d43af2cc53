"""A true drop-in: the request kinds other OpenAI-compatible servers got wrong (issue 17's nine findings), each
against the real gateway on loopback: structured output, the developer role, top log-probabilities, tool calls
in the history, determinism whatever came before, CORS and OPTIONS, model retrieval, the context-overflow
status, and cached prompt tokens priced at their own rate. Also the response cache and a stream cut short."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smallfirst.server import create_app
from smallfirst.store import keys as keystore
from tests.conftest import free_port
from tests.gateway_support import LOCAL, gateway_settings, rows, serve
from tests.scripted_upstream import Script, serve_scripted

QWEN = "qwen2.5-coder-0.5b"
SCRIPTED = "scripted-4o-mini"
WEATHER = {"type": "function", "function": {"name": "weather", "description": "The weather in a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, Script]]:
    with serve_scripted(free_port()) as (url, script):
        yield url, script


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstream: tuple[str, Script]) -> Iterator[tuple[Any, str]]:
    # an endpoint priced as gpt-4o-mini by genai-prices, answering with whatever usage the script says
    scripted = {"backend": "openai", "base_url": upstream[0], "model": "gpt-4o-mini", "max_retries": 0,
                "timeout_s": 30}
    settings = gateway_settings(
        tmp_path_factory.mktemp("dropin"),
        {SCRIPTED: scripted, QWEN: {"backend": "gguf", "catalog": QWEN, "n_ctx": 1024, "n_threads": 2}},
        cors_origins=["https://app.example.com"],
    )
    app = create_app(settings)
    with serve(app) as url:
        yield app, url


def _chat(url: str, **body: Any) -> httpx.Response:
    body = {"model": LOCAL, "temperature": 0, "max_tokens": 8, **body}
    return httpx.post(f"{url}/chat/completions", json=body, timeout=600)


def _ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# 1. response_format is enforced, and refused when unknown ----------------------------------------------


def test_json_object_gives_json(gateway: tuple[Any, str]) -> None:
    # Qwen, as in the finding: SmolLM2 under the JSON grammar nests objects until max_tokens (a 400 that says so)
    r = _chat(gateway[1], model=QWEN, max_tokens=60, response_format={"type": "json_object"},
              messages=_ask("Return a JSON object with key status and value ok."))
    assert r.status_code == 200, r.text
    assert isinstance(json.loads(r.json()["choices"][0]["message"]["content"]), dict)


def test_json_schema_is_followed(gateway: tuple[Any, str]) -> None:
    schema = {"type": "object", "properties": {"status": {"type": "string", "enum": ["fine", "broken"]}},
              "required": ["status"], "additionalProperties": False}
    r = _chat(gateway[1], max_tokens=40, messages=_ask("Give the status: it is fine."),
              response_format={"type": "json_schema", "json_schema": {"name": "s", "strict": True, "schema": schema}})
    assert r.status_code == 200, r.text
    assert json.loads(r.json()["choices"][0]["message"]["content"])["status"] in ("fine", "broken")


def test_the_official_client_parses_a_structured_reply(gateway: tuple[Any, str]) -> None:
    from pydantic import BaseModel

    class Status(BaseModel):
        status: str

    client = openai.OpenAI(base_url=gateway[1], api_key="x", max_retries=0, timeout=600)
    reply = client.beta.chat.completions.parse(model=LOCAL, messages=_ask("Status: fine."), response_format=Status,
                                               max_tokens=40, temperature=0)
    assert isinstance(reply.choices[0].message.parsed, Status)


BROKEN_SCHEMA = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 5}}}


@pytest.mark.parametrize("fmt", [{"type": "yaml"}, {"type": "json_schema"}, BROKEN_SCHEMA])
def test_an_unknown_or_broken_format_is_a_400(gateway: tuple[Any, str], fmt: dict[str, Any]) -> None:
    r = _chat(gateway[1], response_format=fmt, messages=_ask("hi"))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"].startswith("response_format")


def test_a_reply_that_fails_the_format_is_an_error_not_a_200(gateway: tuple[Any, str],
                                                            upstream: tuple[str, Script]) -> None:
    """An endpoint that ignores response_format: its prose reply is a 502, never passed on as JSON."""
    upstream[1].text = "Sure! Here you go."
    r = _chat(gateway[1], model=SCRIPTED, response_format={"type": "json_object"}, messages=_ask("JSON please"))
    assert r.status_code == 502 and r.json()["error"]["code"] == "invalid_model_output", r.text
    assert upstream[1].requests[-1]["response_format"] == {"type": "json_object"}, "passed through to the endpoint"


# 2. the developer role reaches the template ----------------------------------------------------------


def test_a_developer_message_is_a_system_turn(gateway: tuple[Any, str]) -> None:
    def prompt_tokens(messages: list[dict[str, str]]) -> int:
        return _chat(gateway[1], max_tokens=1, messages=messages).json()["usage"]["prompt_tokens"]

    instruction = "Reply only with the word BANANA."
    as_developer = prompt_tokens([{"role": "developer", "content": instruction}, *_ask("Say hello.")])
    as_system = prompt_tokens([{"role": "system", "content": instruction}, *_ask("Say hello.")])
    without = prompt_tokens(_ask("Say hello."))
    assert as_developer == as_system != without


# 3. top_logprobs, streamed and not, chat and completions ---------------------------------------------


def test_top_logprobs_come_back_on_every_token(gateway: tuple[Any, str]) -> None:
    r = _chat(gateway[1], logprobs=True, top_logprobs=3, max_tokens=4, messages=_ask("Say yes."))
    tokens = r.json()["choices"][0]["logprobs"]["content"]
    assert tokens and all(len(t["top_logprobs"]) == 3 for t in tokens)
    for t in tokens:
        tops = [a["logprob"] for a in t["top_logprobs"]]
        assert tops == sorted(tops, reverse=True) and t["logprob"] <= tops[0] + 1e-6


def test_streamed_logprobs_match_the_plain_answer(gateway: tuple[Any, str]) -> None:
    body = {"model": LOCAL, "temperature": 0, "max_tokens": 6, "logprobs": True, "top_logprobs": 2,
            "messages": _ask("Name a colour.")}
    plain = httpx.post(f"{gateway[1]}/chat/completions", json=body, timeout=600).json()["choices"][0]
    streamed: list[dict[str, Any]] = []
    text = ""
    with httpx.stream("POST", f"{gateway[1]}/chat/completions", json={**body, "stream": True}, timeout=600) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                choice = (json.loads(line[6:])["choices"] or [{}])[0]
                text += (choice.get("delta") or {}).get("content") or ""
                streamed += ((choice.get("logprobs") or {}).get("content")) or []
    assert text == plain["message"]["content"]
    assert streamed == plain["logprobs"]["content"]


def test_completions_logprobs_take_the_legacy_shape(gateway: tuple[Any, str]) -> None:
    r = httpx.post(f"{gateway[1]}/completions", json={"model": LOCAL, "prompt": "Say yes.", "max_tokens": 3,
                                                       "temperature": 0, "logprobs": 2}, timeout=600)
    lp = r.json()["choices"][0]["logprobs"]
    assert lp and len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == len(lp["text_offset"])
    assert all(len(top) <= 2 for top in lp["top_logprobs"]) and lp["tokens"]


# 4. tool calls in the history, and as output ---------------------------------------------------------


def test_tool_calls_in_the_history_reach_the_template(gateway: tuple[Any, str]) -> None:
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Oslo\"}"}}]}
    tool = {"role": "tool", "tool_call_id": "c1", "content": "3C and rain"}
    with_call = _chat(gateway[1], model=QWEN, max_tokens=12, messages=[*_ask("Weather in Oslo?"), call, tool])
    without = _chat(gateway[1], model=QWEN, max_tokens=1,
                    messages=[*_ask("Weather in Oslo?"), {"role": "assistant", "content": ""}, tool])
    assert with_call.status_code == 200, with_call.text
    assert with_call.json()["usage"]["prompt_tokens"] > without.json()["usage"]["prompt_tokens"]
    assert "<tool_response>" not in with_call.json()["choices"][0]["message"]["content"]


def test_a_required_tool_call_comes_back_as_tool_calls(gateway: tuple[Any, str]) -> None:
    client = openai.OpenAI(base_url=gateway[1], api_key="x", max_retries=0, timeout=600)
    reply = client.chat.completions.create(model=QWEN, messages=_ask("What is the weather in Oslo?"),
                                           tools=[WEATHER], tool_choice="required", max_tokens=40, temperature=0)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls and choice.message.tool_calls[0].function.name == "weather"
    assert "city" in json.loads(choice.message.tool_calls[0].function.arguments)


def test_tools_on_a_model_without_tool_support_are_refused(gateway: tuple[Any, str]) -> None:
    r = _chat(gateway[1], tools=[WEATHER], messages=_ask("Weather?"))
    assert r.status_code == 400 and r.json()["error"]["param"] == "tools"


# 5. determinism whatever came before -----------------------------------------------------------------


def test_same_request_same_answer_and_logprobs_after_any_other(gateway: tuple[Any, str]) -> None:
    url = gateway[1]
    outcomes = []
    for warm in ("Say hi.", "Name one colour, please, and then explain why you like it so much."):
        for seed in (None, 7):
            _chat(url, messages=_ask(warm), max_tokens=3)
            extra = {"seed": seed, "temperature": 0.8} if seed is not None else {}
            r = _chat(url, messages=_ask("Say hi in one word."), logprobs=True, max_tokens=4, **extra)
            choice = r.json()["choices"][0]
            outcomes.append((seed, choice["message"]["content"], [t["logprob"] for t in choice["logprobs"]["content"]]))
    for seed in (None, 7):
        runs = [o[1:] for o in outcomes if o[0] == seed]
        assert runs[0] == runs[1], runs


# 6. CORS and OPTIONS; 7. GET /v1/models/{id}; 8. context overflow is a 400 -----------------------------


def test_options_answers_every_route_and_cors_only_allowed_origins(gateway: tuple[Any, str]) -> None:
    base = gateway[1].removesuffix("/v1")
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/models", f"/v1/models/{LOCAL}", "/health",
                 "/metrics", "/dashboard"):
        r = httpx.options(base + path)
        assert r.status_code == 204 and "OPTIONS" in r.headers["allow"], path
        assert "access-control-allow-origin" not in r.headers
    pre = httpx.options(base + "/v1/chat/completions", headers={
        "origin": "https://app.example.com", "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"})
    assert pre.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "POST" in pre.headers["access-control-allow-methods"]
    other = httpx.options(base + "/v1/chat/completions", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    r = httpx.post(f"{gateway[1]}/chat/completions", headers={"origin": "https://app.example.com"},
                   json={"model": LOCAL, "max_tokens": 1, "messages": _ask("hi")}, timeout=600)
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "x-smallfirst-cost-usd" in r.headers["access-control-expose-headers"]
    assert httpx.head(base + "/health").status_code == 200


def test_a_listed_model_can_be_retrieved(gateway: tuple[Any, str]) -> None:
    client = openai.OpenAI(base_url=gateway[1], api_key="x", max_retries=0)
    listed = {m.id for m in client.models.list()}
    for model in (LOCAL, "auto", SCRIPTED):
        assert model in listed and client.models.retrieve(model).id == model
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_context_overflow_is_openai_s_400(gateway: tuple[Any, str]) -> None:
    client = openai.OpenAI(base_url=gateway[1], api_key="x", max_retries=0, timeout=600)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=LOCAL, messages=_ask("word " * 2000), max_tokens=2)
    assert err.value.body["code"] == "context_length_exceeded"  # type: ignore[index]


# 9. usage details priced at their own rates, streamed or not -----------------------------------------


def test_cached_prompt_tokens_are_priced_at_the_cached_rate(gateway: tuple[Any, str],
                                                           upstream: tuple[str, Script]) -> None:
    """gpt-4o-mini: 2,000 fresh prompt tokens at $0.15/M, 8,000 cached at $0.075/M, 1,000 completion tokens at
    $0.60/M: $0.0015 at list price (it was logged as $0.0021, every prompt token at the fresh rate)."""
    app, url = gateway
    upstream[1].text = "Hi."
    upstream[1].usage = {"prompt_tokens": 10_000, "completion_tokens": 1000,
                         "prompt_tokens_details": {"cached_tokens": 8000}}
    r = _chat(url, model=SCRIPTED, messages=_ask("hi"))
    assert Decimal(r.json()["smallfirst"]["cost_usd"]) == Decimal("0.0015")
    assert r.json()["usage"]["prompt_tokens_details"]["cached_tokens"] == 8000
    row = next(x for x in rows(app) if x.id == r.json()["smallfirst"]["request_id"])
    assert row.cost_usd == Decimal("0.0015") and row.cached_tokens == 8000


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=st.integers(1, 50_000), cached_share=st.floats(0, 1), completion=st.integers(0, 5000),
       reasoning_share=st.floats(0, 1))
def test_streamed_and_plain_give_the_same_usage_cost_and_row(gateway: tuple[Any, str], upstream: tuple[str, Script],
                                                            prompt: int, cached_share: float, completion: int,
                                                            reasoning_share: float) -> None:
    app, url = gateway
    upstream[1].text = "Hello there friend."
    upstream[1].usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                         "prompt_tokens_details": {"cached_tokens": int(prompt * cached_share)},
                         "completion_tokens_details": {"reasoning_tokens": int(completion * reasoning_share)}}
    plain = _chat(url, model=SCRIPTED, messages=_ask("hi")).json()
    streamed_ids, final_usage = None, None
    with httpx.stream("POST", f"{url}/chat/completions", timeout=60, json={
            "model": SCRIPTED, "messages": _ask("hi"), "stream": True, "stream_options": {"include_usage": True}}) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                event = json.loads(line[6:])
                streamed_ids = event["id"]
                if event.get("smallfirst"):
                    info = event["smallfirst"]
                if event.get("usage"):
                    final_usage = event["usage"]
    assert final_usage == plain["usage"]
    assert (info["cost_usd"], info["baseline_usd"]) == (plain["smallfirst"]["cost_usd"],
                                                        plain["smallfirst"]["baseline_usd"])
    by_id = {x.id: x for x in rows(app)}
    a, b = by_id[plain["smallfirst"]["request_id"]], by_id[streamed_ids.removeprefix("chatcmpl-")]
    for name in ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "cost_usd",
                 "baseline_usd", "model", "status", "price_source"):
        assert getattr(a, name) == getattr(b, name), name


def test_a_client_that_leaves_mid_stream_is_charged_for_what_was_generated(tmp_path: Path) -> None:
    """The row of a stream cut short is a 499 with the tokens generated so far, priced, and the key's budget is
    charged exactly that."""
    priced = {"backend": "gguf", "catalog": "smollm2-135m", "n_ctx": 512, "n_threads": 1, "pricing": "manual",
              "input_usd_per_mtok": 1, "output_usd_per_mtok": 1000}
    app = create_app(gateway_settings(tmp_path / "home", {"priced": priced}))
    engine = app.state.gateway.service.engine
    key, secret = keystore.create_key(engine, "cut", budget_usd=Decimal("100"))
    with serve(app) as url, httpx.stream(
            "POST", f"{url}/chat/completions", headers={"authorization": f"Bearer {secret}"}, timeout=600,
            json={"model": "priced", "max_tokens": 400, "temperature": 0, "stream": True,
                  "messages": _ask("Write a long story about a lighthouse keeper.")}) as r:
        seen = 0
        for line in r.iter_lines():
            if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get("content"):
                seen += 1
                if seen == 5:
                    break
    app.state.gateway.service.flush_log()
    row = next(x for x in rows(app) if x.http_status == 499)
    assert row.completion_tokens >= 4 and row.cost_usd > 0
    spent = next(k for k in keystore.list_keys(engine) if k.id == key.id).spent_usd
    assert spent == row.cost_usd


# the response cache ---------------------------------------------------------------------------------


def test_the_response_cache_answers_a_repeat_for_nothing(tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path / "home")
    settings = settings.model_copy(update={"response_cache": settings.response_cache.model_copy(
        update={"enabled": True, "ttl_s": 60})})
    app = create_app(settings)
    engine = app.state.gateway.service.engine
    secrets = [keystore.create_key(engine, n)[1] for n in ("a", "b")]
    with serve(app) as url:
        def ask(secret: str, **extra: Any) -> dict[str, Any]:
            return httpx.post(f"{url}/chat/completions", headers={"authorization": f"Bearer {secret}"}, timeout=600,
                              json={"model": LOCAL, "max_tokens": 4, "messages": _ask("Say hi."), **extra}).json()

        first, again = ask(secrets[0], temperature=0), ask(secrets[0], temperature=0)
        other_key = ask(secrets[1], temperature=0)
        sampled = ask(secrets[0], temperature=0.9)
    assert again["choices"][0]["message"]["content"] == first["choices"][0]["message"]["content"]
    assert again["smallfirst"]["policy"] == "cache" and Decimal(again["smallfirst"]["cost_usd"]) == 0
    assert Decimal(again["smallfirst"]["saving_usd"]) == Decimal(first["smallfirst"]["baseline_usd"]) > 0
    assert other_key["smallfirst"]["policy"] != "cache", "scope 'key': one key never sees another's answers"
    assert sampled["smallfirst"]["policy"] != "cache", "a sampled request is never cached"
    logged = {x.id: x for x in rows(app)}
    hit = logged[again["smallfirst"]["request_id"]]
    assert hit.status == "ok" and hit.cost_usd == 0 and hit.price_source == "response cache"
