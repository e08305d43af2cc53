"""``POST /v1/chat/completions`` and ``POST /v1/completions``: admit, answer through the service, and reply
in the OpenAI shape with the route attached. Both share one path; only the response shapes differ.

They are the gateway's hot path, so each is a plain ASGI app that the app calls ahead of FastAPI (see
``app.py``): the body is read under the size limit and validated in one pydantic-core pass, errors take the
same OpenAI shape as everywhere else, and ``openapi_paths`` documents both routes as FastAPI would.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from starlette.types import Receive, Scope, Send

from smallfirst.errors import SmallfirstError
from smallfirst.models.completion import Completion
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
    ChunkChoice,
    CompletionChoice,
    CompletionRequest,
    Delta,
    ErrorResponse,
    TextCompletion,
)
from smallfirst.service import Answer, RequestContext

if TYPE_CHECKING:
    from smallfirst.server.app import Gateway

Kind = Literal["chat", "text"]
Body = ChatCompletionRequest | CompletionRequest

_ERRORS = {
    400: "Malformed JSON, wrong types or out-of-range parameters",
    401: "Missing or unknown API key",
    403: "Model not allowed for this key",
    404: "Unknown model",
    413: "Body over the limit, or prompt over the model's context",
    429: "Budget spent or rate limit hit; see Retry-After",
    502: "Every upstream failed",
    503: "The local model's queue is full; see Retry-After",
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
            response.headers["allow"] = "POST"
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
                headers[_HEADERS[name]] = value.decode("latin-1")
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


def _usage(c: Completion) -> dict[str, int]:
    u = c.usage
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens, "total_tokens": u.total_tokens}


# The non-streaming bodies are plain dicts written to JSON by pydantic-core in one call: building them as
# models would only check our own values, object by object, on every request. The tests hold every response
# to the documented schema (schemathesis) and parse it with the official client.


def _chat_body(answer: Answer, info: dict[str, Any], want_logprobs: bool) -> dict[str, Any]:
    c = answer.completion
    logprobs = None
    if want_logprobs and c.logprobs is not None:
        logprobs = {
            "content": [
                {"token": t.token, "logprob": t.logprob, "bytes": list(t.token.encode("utf-8")), "top_logprobs": []}
                for t in c.logprobs
            ],
            "refusal": None,
        }
    return {
        "id": f"chatcmpl-{answer.request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": c.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": c.text, "refusal": None},
                "finish_reason": c.finish_reason,
                "logprobs": logprobs,
            }
        ],
        "usage": _usage(c),
        "system_fingerprint": None,
        "smallfirst": info,
    }


def _text_body(answer: Answer, info: dict[str, Any]) -> dict[str, Any]:
    c = answer.completion
    return {
        "id": f"cmpl-{answer.request_id}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": c.model,
        "choices": [{"text": c.text, "index": 0, "logprobs": None, "finish_reason": c.finish_reason}],
        "usage": _usage(c),
        "system_fingerprint": None,
        "smallfirst": info,
    }


async def _handle(
    gw: Gateway, path: str, headers: dict[str, str], receive: Receive, body: Body, kind: Kind
) -> Response:
    try:
        messages = body.to_messages()
        params = body.params()
        admission = await gw.gate.admit(headers.get("authorization"), body.model, messages, params)
    except SmallfirstError as exc:
        gw.refused(path, exc.status, str(exc), requested=body.model)
        raise
    ctx = RequestContext(
        source="gateway", key_id=admission.key_id, task=headers.get("task"), tag=headers.get("tag"), gold=body.gold
    )
    if body.stream:
        return await _stream(gw, body, messages, params, ctx, admission, kind)
    with telemetry.span("chat" if kind == "chat" else "text_completion", body.model) as span:
        try:
            answer = await until_disconnect(receive, gw.service.aanswer(messages, body.model, ctx=ctx, **params))
        except ClientGone:
            gw.gate.settle_soon(admission, Decimal(0))
            return Response(status_code=499)
        except BaseException:
            gw.gate.settle_soon(admission, Decimal(0))
            raise
        gw.gate.settle_soon(admission, answer.cost.amount)
        telemetry.record(span, answer)
    info = route_info(answer)
    payload = (
        _chat_body(answer, info, bool(params.get("logprobs"))) if kind == "chat" else _text_body(answer, info)
    )
    return Response(to_json(payload), media_type="application/json", headers=route_headers(info))


async def _stream(
    gw: Gateway,
    body: Body,
    messages: Any,
    params: dict[str, Any],
    ctx: RequestContext,
    admission: Admission,
    kind: Kind,
) -> Response:
    agen = gw.service.astream(messages, body.model, ctx=ctx, **params)
    try:
        # The first item is awaited before answering, so routing errors (404, 413, ...) keep their status.
        first = await agen.__anext__()
    except BaseException:
        await agen.aclose()
        gw.gate.settle_soon(admission, Decimal(0))
        raise
    rid = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{uuid.uuid4()}"
    created = int(time.time())

    def chunk(
        text: str | None,
        *,
        model: str,
        finish: str | None = None,
        role: bool = False,
        info: dict[str, Any] | None = None,
    ) -> bytes:
        if kind == "chat":
            delta = Delta(role="assistant" if role else None, content=text)
            return event(
                ChatCompletionChunk(
                    id=rid,
                    created=created,
                    model=model,
                    smallfirst=info,
                    choices=[ChunkChoice(delta=delta, finish_reason=finish)],
                )
            )
        return event(
            TextCompletion(
                id=rid,
                created=created,
                model=model,
                smallfirst=info,
                choices=[CompletionChoice(text=text or "", finish_reason=finish)],
            )
        )

    async def events() -> AsyncIterator[bytes]:
        cost = Decimal(0)
        item: Any = first
        try:
            if kind == "chat":
                yield chunk("", model=body.model, role=True)
            while True:
                if isinstance(item, Answer):
                    info = route_info(item)
                    yield chunk(
                        None if kind == "chat" else "",
                        model=item.model,
                        finish=item.completion.finish_reason,
                        info=info,
                    )
                    if body.include_usage:
                        usage = _usage(item.completion)
                        final: ChatCompletionChunk | TextCompletion = (
                            ChatCompletionChunk(
                                id=rid, created=created, model=item.model, choices=[], usage=usage
                            )
                            if kind == "chat"
                            else TextCompletion(
                                id=rid, created=created, model=item.model, choices=[], usage=usage
                            )
                        )
                        yield event(final)
                    yield DONE
                    cost = item.cost.amount
                    return
                if item.text:
                    yield chunk(item.text, model=body.model)
                item = await agen.__anext__()
        except SmallfirstError as exc:
            # Headers are gone already; OpenAI clients raise on an error event in the stream.
            yield event(
                {"error": {"message": str(exc), "type": exc.kind, "param": exc.param, "code": exc.code}}
            )
        finally:
            await agen.aclose()
            gw.gate.settle_soon(admission, cost)

    return SSEResponse(events(), headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


def routes(gw: Gateway) -> dict[str, CompletionRoute]:
    """The two endpoints by path."""
    return {spec[0]: CompletionRoute(gw, kind) for kind, spec in _SPECS.items()}
