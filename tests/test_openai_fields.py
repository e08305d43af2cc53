"""The conformance test of docs/openai-fields.md: every field of OpenAI's chat and completions request schemas is
in the table, every field the wire models declare is in it, and each row's claim holds. Each example is sent
to a local model (SmolLM2 in process, whose chat template has no tools) and to an endpoint tier (llama.cpp's
server behind a proxy that records what reaches it)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smallfirst.server import create_app
from smallfirst.server.wire import ChatCompletionRequest, ChatMessage, CompletionRequest
from tests.conftest import free_port
from tests.faulty_upstream import Faults, serve_faulty
from tests.gateway_support import LOCAL, gateway_settings, http_model, serve

DOC = Path(__file__).resolve().parents[1] / "docs" / "openai-fields.md"
HTTP = "recorded-http"
#: OpenAI's request fields (the official API reference, chat completions and completions, 2025)
OPENAI_CHAT = {
    "messages", "model", "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
    "max_completion_tokens", "max_tokens", "metadata", "modalities", "n", "parallel_tool_calls", "prediction",
    "presence_penalty", "prompt_cache_key", "reasoning_effort", "response_format", "safety_identifier", "seed",
    "service_tier", "stop", "store", "stream", "stream_options", "temperature", "tool_choice", "tools",
    "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
}
OPENAI_TEXT = {
    "model", "prompt", "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs", "max_tokens", "n",
    "presence_penalty", "seed", "stop", "stream", "stream_options", "suffix", "temperature", "top_p", "user",
}
#: smallfirst's own request fields, beside OpenAI's: the ``smallfirst`` object (the gold answer learning grades by)
EXTENSIONS = {"smallfirst"}
#: where a passed field lands in the upstream's chat request when its name changes on the way
UPSTREAM_KEY = {("chat", "max_completion_tokens"): "max_tokens", ("text", "logprobs"): "top_logprobs"}


def _rows(heading: str) -> list[dict[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    out = []
    for line in lines[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        assert len(set(header)) == len(header), f"duplicate column in {heading}: {header}"
        out.append(dict(zip(header, cells, strict=True)))
    return out


def _example(cell: str) -> Any:
    return json.loads(cell.strip("`"))


FIELDS = _rows("Chat completions") + _rows("Completions")
SHAPES = _rows("Messages")


def test_every_openai_field_and_every_declared_field_is_in_the_table() -> None:
    chat = {r["field"] for r in FIELDS if r["api"] == "chat"}
    text = {r["field"] for r in FIELDS if r["api"] == "text"}
    assert chat - EXTENSIONS == OPENAI_CHAT, (chat - EXTENSIONS) ^ OPENAI_CHAT
    assert text - EXTENSIONS == OPENAI_TEXT, (text - EXTENSIONS) ^ OPENAI_TEXT
    assert set(ChatCompletionRequest.model_fields) == chat
    assert set(CompletionRequest.model_fields) == text
    roles = {r["shape"] for r in SHAPES}
    for role in ChatMessage.model_fields["role"].annotation.__args__:  # type: ignore[union-attr]
        assert role in roles or f"{role} role" in roles, role


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, llama_server: str) -> Iterator[tuple[str, Faults]]:
    with serve_faulty(llama_server, free_port()) as (proxy, faults):
        settings = gateway_settings(tmp_path_factory.mktemp("fields"), {HTTP: http_model(proxy)})
        with serve(create_app(settings)) as url:
            yield url, faults


def _send(url: str, kind: str, model: str, extra: dict[str, Any]) -> httpx.Response:
    if kind == "chat":
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "Say hi."}],
                                "max_tokens": 3, "temperature": 0}
    else:
        body = {"model": model, "prompt": "Say hi.", "max_tokens": 3, "temperature": 0}
    body.update({k: (model if v == "<the model>" else v) for k, v in extra.items()})
    return httpx.post(f"{url}/{'chat/completions' if kind == 'chat' else 'completions'}", json=body, timeout=300)


def _check(claim: str, r: httpx.Response, param: str, recorded: list[dict[str, Any]] | None, key: str) -> None:
    if claim == "honoured":
        assert r.status_code == 200, r.text
    elif claim in ("refused", "tools"):  # SmolLM2's template has no tools
        assert r.status_code == 400, r.text
        got = r.json()["error"]["param"] or ""
        assert got.split(".")[0] in {param, "messages", "tools"}, got
    elif claim == "passed":
        assert r.status_code in (200, 400), r.text
        if r.status_code == 400:  # the endpoint refused it, or its reply fell short of it (cut before the JSON ended)
            assert r.json()["error"]["code"] in ("upstream_rejected", "max_tokens_too_small"), r.text
        assert recorded, "nothing reached the upstream"
        assert key in recorded[-1], f"{key} did not reach the upstream: {sorted(recorded[-1])}"
    else:
        raise AssertionError(f"unknown claim {claim!r} in the table")


@pytest.mark.parametrize("row", FIELDS, ids=[f"{r['api']}:{r['field']}" for r in FIELDS])
def test_field_does_what_the_table_says(gateway: tuple[str, Faults], row: dict[str, str]) -> None:
    url, faults = gateway
    kind, name, extra = row["api"], row["field"], _example(row["example"])
    _check(row["local"], _send(url, kind, LOCAL, extra), name, None, name)
    before = len(faults.bodies)
    r = _send(url, kind, HTTP, extra)
    recorded = faults.bodies[before:]
    key = UPSTREAM_KEY.get((kind, name), name)
    claim = row["endpoint"]
    if claim == "honoured" and r.status_code == 200 and name == "stream":
        assert r.headers["content-type"].startswith("text/event-stream")
    _check(claim, r, name, recorded, key)


@pytest.mark.parametrize("row", SHAPES, ids=[r["shape"] for r in SHAPES])
def test_message_shape_does_what_the_table_says(gateway: tuple[str, Faults], row: dict[str, str]) -> None:
    url, faults = gateway
    messages = _example(row["example"])
    _check(row["local"], _send(url, "chat", LOCAL, {"messages": messages}), "messages", None, "")
    before = len(faults.bodies)
    r = _send(url, "chat", HTTP, {"messages": messages})
    recorded = faults.bodies[before:]
    if row["endpoint"] == "passed":
        assert r.status_code in (200, 400), r.text
        assert recorded, "nothing reached the upstream"
        sent = recorded[-1]["messages"]
        assert len(sent) == len(messages)
        for got, want in zip(sent, messages, strict=True):
            for field in ("tool_calls", "tool_call_id", "name"):
                assert (field in got) == (field in want), (field, got)
    else:
        _check(row["endpoint"], r, "messages", recorded, "messages")
    if row["shape"] == "developer" and recorded:
        assert recorded[-1]["messages"][0]["role"] == "system"


def test_an_unknown_field_is_refused_as_openai_refuses_it(gateway: tuple[str, Faults]) -> None:
    r = _send(gateway[0], "chat", LOCAL, {"top_k": 5})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "top_k"
    assert "unrecognized request argument" in r.json()["error"]["message"]


@pytest.mark.parametrize(("field", "value"), [("stream", "yes"), ("temperature", "0"), ("max_tokens", 2.5),
                                              ("logprobs", 1)])
def test_types_are_strict(gateway: tuple[str, Faults], field: str, value: Any) -> None:
    r = _send(gateway[0], "chat", LOCAL, {field: value})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == field
