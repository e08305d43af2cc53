"""``POST /v1/chat/completions`` and ``POST /v1/completions``: admit, answer through the service, and reply
in the OpenAI shape with the route attached. Both share one path; only the response shapes differ.

They are the gateway's hot path, so each is a plain ASGI app that the app calls ahead of FastAPI (see
``app.py``): the body is read under the size limit and validated in one pydantic-core pass, errors take the
same OpenAI shape as everywhere else, and ``openapi_paths`` documents both routes as FastAPI would.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from starlette.types import Receive, Scope, Send

from smallfirst.errors import HeaderError, SmallfirstError
from smallfirst.models.completion import Completion, TokenLogprob
from smallfirst.server import telemetry
from smallfirst.server.auth import Admission
from smallfirst.server.error_responses import error_response, response_for
from smallfirst.server.limits import too_large
from smallfirst.server.route_info import route_headers, route_info
from smallfirst.server.sse import DONE, ClientGone, SSEResponse, event, until_disconnect
from smallfirst.server.wire import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    CompletionRequest,
    ErrorResponse,
    TextCompletion,
)
from smallfirst.service import Answer, RequestContext

if TYPE_CHECKING:
    from smallfirst.server.app import Gateway

Kind = Literal["chat", "text"]
Body = ChatCompletionRequest | CompletionRequest

_ERRORS = {
    401: "Missing or unknown API key",
    403: "Model not allowed for this key",
    404: "Unknown model",
    400: "Malformed JSON, unknown fields, wrong types, out-of-range or unsupported parameters, a prompt over the "
    "model's context (code context_length_exceeded)",
    413: "Body over the limit",
    429: "Budget spent or rate limit hit; see Retry-After",
    502: "Every upstream failed, or the model's reply failed the requested format",
    503: "The local model's queue is full (see Retry-After), or the model cannot be loaded here",
}
#: the headers a completion reads, by their ASGI (lower-case) names
_HEADERS = {
    b"authorization": "authorization",
    b"content-length": "content-length",
    b"x-smallfirst-task": "task",
    b"x-smallfirst-tag": "tag",
}
_SPECS: dict[Kind, tuple[str, type[Body], type[BaseModel], type[BaseModel], str]] = {
    "chat": (
        "/v1/chat/completions",
        ChatCompletionRequest,
        ChatCompletion,
        ChatCompletionChunk,
        "Chat completion, routed to the smallest model that does the job",
    ),
    "text": (
        "/v1/completions",
        CompletionRequest,
        TextCompletion,
        TextCompletion,
        "Text completion (the prompt is sent as one user turn)",
    ),
}
#: every model the two routes' documentation refers to, for the app's OpenAPI components
OPENAPI_MODELS: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
    *((spec[1], "validation") for spec in _SPECS.values()),
    *((model, "serialization") for spec in _SPECS.values() for model in spec[2:4]),
    (ErrorResponse, "serialization"),
]


#: the widest value of each filing header, as the request log stores it
_HEADER_WIDTHS = {b"x-smallfirst-task": 100, b"x-smallfirst-tag": 100}


def _header(name: bytes, value: bytes) -> str:
    """A header's value as text: UTF-8 (as clients send non-ASCII values), and for the headers that are filed in
    the log, no wider than their column and free of control characters. Raises HeaderError (400) otherwise."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        raise HeaderError(f"the {name.decode('latin-1')} header is not UTF-8", param=name.decode("latin-1"),
                          hint="send header values as UTF-8") from None
    width = _HEADER_WIDTHS.get(name)
    if width is not None:
        if len(text) > width:
            raise HeaderError(f"the {name.decode()} header is {len(text)} characters; at most {width} are kept",
                              param=name.decode(), hint=f"shorten it to {width} characters")
        if any(ord(ch) < 32 for ch in text):
            raise HeaderError(f"the {name.decode()} header holds control characters", param=name.decode(),
                              hint="send printable text")
    return text


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def openapi_paths() -> dict[str, Any]:
    """The two routes as FastAPI would document them (it documents only its own endpoints)."""
    paths: dict[str, Any] = {}
    for kind, (path, request, answer, chunk, summary) in _SPECS.items():
        responses: dict[str, Any] = {
            "200": {
                "description": "The completion; with stream=true, server-sent events instead",
                "content": {
                    "application/json": {"schema": _ref(answer)},
                    "text/event-stream": {
                        "schema": {
                            "type": "string",
                            "description": f"with stream=true: {chunk.__name__} objects as server-sent "
                            "events, then 'data: [DONE]'",
                        }
                    },
                },
            }
        }
        for status, why in _ERRORS.items():
            responses[str(status)] = {
                "description": why,
                "content": {"application/json": {"schema": _ref(ErrorResponse)}},
            }
        paths[path] = {
            "post": {
                "tags": ["openai"],
                "summary": summary,
                "operationId": f"{kind}_completions",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(request)}}},
                "responses": responses,
            }
        }
    return paths


class CompletionRoute:
    """One of the two endpoints, as an ASGI app that the gateway app calls before its middleware and router
    (see ``app.py``): it applies the body limit itself and answers every error in the OpenAI shape through
    ``errors.response_for``, as the app's exception handlers do for the other routes."""

    def __init__(self, gw: Gateway, kind: Kind) -> None:
        self.gw, self.kind = gw, kind
        self.request_model = _SPECS[kind][1]
        self.max_bytes = gw.settings.server.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            response: Response = error_response(405, f"{scope['path']} takes POST only")
            response.headers["allow"] = "OPTIONS, POST"
        else:
            try:
                response = await self._answer(scope, receive)
            except ClientGone:
                return  # nobody to answer
            except Exception as exc:  # noqa: BLE001 - every error leaves in the OpenAI shape
                response = response_for(exc, scope["path"], self.gw.refused)
        await response(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive) -> Response:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name in _HEADERS:
                headers[_HEADERS[name]] = _header(name, value)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise too_large(scope["path"], int(declared), self.max_bytes, self.gw.refused)
        raw = await self._body(scope["path"], receive)
        try:
            body = self.request_model.model_validate_json(raw)
        except ValidationError as exc:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            raise RequestValidationError(errors, body=raw) from None
        return await _handle(self.gw, scope["path"], headers, receive, body, self.kind)

    async def _body(self, path: str, receive: Receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise too_large(path, size, self.max_bytes, self.gw.refused)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _usage(c: Completion) -> dict[str, Any]:
    u = c.usage
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens, "audio_tokens": u.audio_prompt_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens,
                                      "audio_tokens": u.audio_completion_tokens},
    }


def _token(t: TokenLogprob) -> dict[str, Any]:
    return {
        "token": t.token,
        "logprob": t.logprob,
        "bytes": list(t.bytes) if t.bytes is not None else list(t.token.encode("utf-8")),
        "top_logprobs": [
            {"token": a.token, "logprob": a.logprob,
             "bytes": list(a.bytes) if a.bytes is not None else list(a.token.encode("utf-8"))}
            for a in t.top
        ],
    }


def _chat_logprobs(tokens: Sequence[TokenLogprob] | None) -> dict[str, Any]:
    return {"content": [_token(t) for t in tokens or ()], "refusal": None}


def _legacy_logprobs(tokens: Sequence[TokenLogprob] | None, offset: int) -> dict[str, Any]:
    """The completions API's shape: parallel lists of tokens, log-probabilities, top alternatives (a token ->
    log-probability map each) and each token's character offset into the returned text."""
    out: dict[str, Any] = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
    for t in tokens or ():
        out["tokens"].append(t.token)
        out["token_logprobs"].append(t.logprob)
        out["top_logprobs"].append({a.token: a.logprob for a in t.top})
        out["text_offset"].append(offset)
        offset += len(t.token)
    return out


def _tool_calls(c: Completion) -> list[dict[str, Any]]:
    return [{"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
            for t in c.tool_calls]


# The non-streaming bodies are plain dicts written to JSON by pydantic-core in one call: building them as
# models would only check our own values, object by object, on every request. The tests hold every response
# to the documented schema (schemathesis) and parse it with the official client.


def _chat_body(answer: Answer, info: dict[str, Any], want_logprobs: bool) -> dict[str, Any]:
    c = answer.completion
    message: dict[str, Any] = {"role": "assistant", "content": c.text if c.text or not c.tool_calls else None,
                               "refusal": None}
    if c.tool_calls:
        message["tool_calls"] = _tool_calls(c)
    return {
        "id": f"chatcmpl-{answer.request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": c.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": c.finish_reason,
                "logprobs": _chat_logprobs(c.logprobs) if want_logprobs else None,
            }
        ],
        "usage": _usage(c),
        "system_fingerprint": None,
        "smallfirst": info,
    }


def _text_body(answer: Answer, info: dict[str, Any], body: CompletionRequest) -> dict[str, Any]:
    c = answer.completion
    prefix = body.prompt_text if body.echo else ""
    return {
        "id": f"cmpl-{answer.request_id}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": c.model,
        "choices": [{"text": prefix + c.text, "index": 0, "finish_reason": c.finish_reason,
                     "logprobs": _legacy_logprobs(c.logprobs, len(prefix)) if body.logprobs is not None else None}],
        "usage": _usage(c),
        "system_fingerprint": None,
        "smallfirst": info,
    }


def _context(headers: dict[str, str], admission: Admission, request_id: str, gold: str | None) -> RequestContext:
    return RequestContext(source="gateway", key_id=admission.key_id, task=headers.get("task"),
                          tag=headers.get("tag"), request_id=request_id, gold=gold)


async def _handle(
    gw: Gateway, path: str, headers: dict[str, str], receive: Receive, body: Body, kind: Kind
) -> Response:
    request_id = str(uuid.uuid4())
    try:
        messages = body.to_messages()
        params = body.params()
        admission = await gw.gate.admit(headers.get("authorization"), body.model, messages, params, request_id)
    except SmallfirstError as exc:
        gw.refused(path, exc.status, str(exc), requested=body.model)
        raise
    ctx = _context(headers, admission, request_id, body.gold)
    if body.stream:
        return await _stream(gw, body, messages, params, ctx, kind)
    with telemetry.span("chat" if kind == "chat" else "text_completion", body.model) as span:
        try:
            answer = await until_disconnect(receive, gw.service.aanswer(messages, body.model, ctx=ctx, **params))
        except ClientGone:
            return Response(status_code=499)
        telemetry.record(span, answer)
    info = route_info(answer)
    payload = (
        _chat_body(answer, info, bool(params.get("logprobs")))
        if kind == "chat"
        else _text_body(answer, info, body)  # type: ignore[arg-type]
    )
    return Response(to_json(payload), media_type="application/json", headers=route_headers(info))


async def _stream(
    gw: Gateway,
    body: Body,
    messages: Any,
    params: dict[str, Any],
    ctx: RequestContext,
    kind: Kind,
) -> Response:
    agen = gw.service.astream(messages, body.model, ctx=ctx, **params)
    try:
        # The first item is awaited before answering, so routing errors (404, 400, ...) keep their status.
        first = await agen.__anext__()
    except BaseException:
        await agen.aclose()
        raise
    rid = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{ctx.request_id}"
    created = int(time.time())
    model = first.model if isinstance(first, Answer) else (first.model or body.model)
    want_logprobs = bool(params.get("logprobs"))
    echo = body.prompt_text if kind == "text" and body.echo else ""  # type: ignore[union-attr]
    offset = [len(echo)]

    def chunk(choice: dict[str, Any], **extra: Any) -> bytes:
        obj = "chat.completion.chunk" if kind == "chat" else "text_completion"
        return event({"id": rid, "object": obj, "created": created, "model": model, "system_fingerprint": None,
                      "choices": [choice], **extra})

    def piece(text: str, tokens: Sequence[TokenLogprob]) -> bytes:
        if kind == "chat":
            return chunk({"index": 0, "delta": {"content": text}, "finish_reason": None,
                          "logprobs": _chat_logprobs(tokens) if want_logprobs else None})
        logprobs = None
        if want_logprobs:
            logprobs = _legacy_logprobs(tokens, offset[0])
            offset[0] += sum(len(t.token) for t in tokens)
        return chunk({"index": 0, "text": text, "finish_reason": None, "logprobs": logprobs})

    async def events() -> AsyncIterator[bytes]:
        item: Any = first
        try:
            if kind == "chat":
                yield chunk({"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None,
                             "logprobs": None})
            elif echo:
                yield chunk({"index": 0, "text": echo, "finish_reason": None, "logprobs": None})
            while True:
                if isinstance(item, Answer):
                    c = item.completion
                    if kind == "chat" and c.tool_calls:
                        calls = [{"index": i, **call} for i, call in enumerate(_tool_calls(c))]
                        yield chunk({"index": 0, "delta": {"tool_calls": calls}, "finish_reason": None,
                                     "logprobs": None})
                    final = {"index": 0, "finish_reason": c.finish_reason, "logprobs": None}
                    final.update({"delta": {}} if kind == "chat" else {"text": ""})
                    yield chunk(final, smallfirst=route_info(item))
                    if body.include_usage:
                        yield event({"id": rid, "object": "chat.completion.chunk" if kind == "chat"
                                     else "text_completion", "created": created, "model": model,
                                     "system_fingerprint": None, "choices": [], "usage": _usage(c)})
                    yield DONE
                    return
                if item.text or item.logprobs:
                    yield piece(item.text, item.logprobs)
                item = await agen.__anext__()
        except SmallfirstError as exc:
            # Headers are gone already; OpenAI clients raise on an error event in the stream.
            yield event(
                {"error": {"message": str(exc), "type": exc.kind, "param": exc.param, "code": exc.code}}
            )
        finally:
            await agen.aclose()

    return SSEResponse(events(), headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


def routes(gw: Gateway) -> dict[str, CompletionRoute]:
    """The two endpoints by path."""
    return {spec[0]: CompletionRoute(gw, kind) for kind, spec in _SPECS.items()}
