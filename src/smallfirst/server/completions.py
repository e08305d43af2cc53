"""``POST /v1/chat/completions`` and ``POST /v1/completions``: admit, answer through the service, and reply
in the OpenAI shape with the route attached. Both share one path; only the response shapes differ."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from smallfirst.errors import SmallfirstError
from smallfirst.models.records import Completion
from smallfirst.server import telemetry
from smallfirst.server.auth import Admission
from smallfirst.server.route_info import route_headers, route_info
from smallfirst.server.sse import DONE, ClientGone, SSEResponse, event, until_disconnect
from smallfirst.server.wire import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChoiceLogprobs,
    ChunkChoice,
    CompletionChoice,
    CompletionRequest,
    Delta,
    ErrorResponse,
    RouteInfo,
    TextCompletion,
    TokenLogprob,
    Usage,
)
from smallfirst.service import Answer, RequestContext

if TYPE_CHECKING:
    from smallfirst.server.app import Gateway

Kind = Literal["chat", "text"]
Body = TypeVar("Body", ChatCompletionRequest, CompletionRequest)

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": why}
    for status, why in (
        (400, "Malformed JSON, wrong types or out-of-range parameters"),
        (401, "Missing or unknown API key"),
        (403, "Model not allowed for this key"),
        (404, "Unknown model"),
        (413, "Body over the limit, or prompt over the model's context"),
        (429, "Budget spent or rate limit hit; see Retry-After"),
        (502, "Every upstream failed"),
        (503, "The local model's queue is full; see Retry-After"),
    )
}


def _streamed(model: type[Any]) -> dict[int | str, dict[str, Any]]:
    return {
        **_ERRORS,
        200: {
            "model": model,
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "string",
                        "description": "with stream=true: chunks as server-sent events, then 'data: [DONE]'",
                    }
                }
            },
        },
    }


async def _read(request: Request, model: type[Body]) -> Body:
    """The body, parsed and validated in one pass by pydantic-core. FastAPI's body parameter would decode
    the JSON in Python first and then run its dependency solver on every request; the route documents the
    schema through ``_documented`` instead."""
    raw = await request.body()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=raw) from None


def _documented(model: type[Any]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


#: the request models whose schemas the app adds to its OpenAPI components (see ``_documented``)
REQUEST_MODELS = (ChatCompletionRequest, CompletionRequest)


def _usage(c: Completion) -> Usage:
    return Usage(
        prompt_tokens=c.usage.prompt_tokens,
        completion_tokens=c.usage.completion_tokens,
        total_tokens=c.usage.total_tokens,
    )


def _chat_body(answer: Answer, info: RouteInfo, want_logprobs: bool) -> ChatCompletion:
    c = answer.completion
    logprobs = None
    if want_logprobs and c.logprobs is not None:
        logprobs = ChoiceLogprobs(
            content=[
                TokenLogprob(token=t.token, logprob=t.logprob, bytes=list(t.token.encode("utf-8")))
                for t in c.logprobs
            ]
        )
    return ChatCompletion(
        id=f"chatcmpl-{answer.request_id}",
        created=int(time.time()),
        model=c.model,
        choices=[
            Choice(message=AssistantMessage(content=c.text), finish_reason=c.finish_reason, logprobs=logprobs)
        ],
        usage=_usage(c),
        smallfirst=info,
    )


def _text_body(answer: Answer, info: RouteInfo) -> TextCompletion:
    c = answer.completion
    return TextCompletion(
        id=f"cmpl-{answer.request_id}",
        created=int(time.time()),
        model=c.model,
        choices=[CompletionChoice(text=c.text, finish_reason=c.finish_reason)],
        usage=_usage(c),
        smallfirst=info,
    )


async def _handle(
    gw: Gateway, request: Request, body: ChatCompletionRequest | CompletionRequest, kind: Kind
) -> Response:
    try:
        messages = body.to_messages()
        params = body.params()
        admission = await gw.gate.admit(request.headers.get("authorization"), body.model, messages, params)
    except SmallfirstError as exc:
        gw.refused(request.url.path, exc.status, str(exc), requested=body.model)
        raise
    ctx = RequestContext(
        source="gateway",
        key_id=admission.key_id,
        task=request.headers.get("x-smallfirst-task"),
        tag=request.headers.get("x-smallfirst-tag"),
    )
    if body.stream:
        return await _stream(gw, body, messages, params, ctx, admission, kind)
    with telemetry.span("chat" if kind == "chat" else "text_completion", body.model) as span:
        try:
            answer = await until_disconnect(
                request, gw.service.aanswer(messages, body.model, ctx=ctx, **params)
            )
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
    # pydantic-core writes the JSON itself: no intermediate dict for json.dumps to walk again
    return Response(payload.model_dump_json(), media_type="application/json", headers=route_headers(info))


async def _stream(
    gw: Gateway,
    body: ChatCompletionRequest | CompletionRequest,
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
        info: RouteInfo | None = None,
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


def add_routes(app: FastAPI, gw: Gateway) -> None:
    @app.post(
        "/v1/chat/completions",
        response_model=ChatCompletion,
        responses=_streamed(ChatCompletionChunk),
        tags=["openai"],
        summary="Chat completion, routed to the smallest model that does the job",
        openapi_extra=_documented(ChatCompletionRequest),
    )
    async def chat_completions(request: Request) -> Response:
        return await _handle(gw, request, await _read(request, ChatCompletionRequest), "chat")

    @app.post(
        "/v1/completions",
        response_model=TextCompletion,
        responses=_streamed(TextCompletion),
        tags=["openai"],
        summary="Text completion (the prompt is sent as one user turn)",
        openapi_extra=_documented(CompletionRequest),
    )
    async def completions(request: Request) -> Response:
        return await _handle(gw, request, await _read(request, CompletionRequest), "text")
