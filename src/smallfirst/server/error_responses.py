"""Every error leaves the gateway in the OpenAI shape ``{"error": {"message", "type", "param", "code"}}``,
with the status the issue names: FastAPI's 422 for a bad body becomes 400, as OpenAI returns."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from smallfirst.errors import SmallfirstError
from smallfirst.redact import redact

log = logging.getLogger("smallfirst.server")

_KINDS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}

#: called with (path, status, message) for refusals that never reached the service, so they are logged too
Refusal = Callable[[str, int, str], None]


def error_response(
    status: int,
    message: str,
    kind: str | None = None,
    *,
    param: str | None = None,
    code: str | None = None,
    retry_after: float | None = None,
) -> JSONResponse:
    headers = {"retry-after": str(max(1, math.ceil(retry_after)))} if retry_after is not None else None
    body = {
        "error": {
            "message": redact(message) or "",
            "type": kind or _KINDS.get(status, "api_error"),
            "param": param,
            "code": code,
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def from_exception(exc: SmallfirstError) -> JSONResponse:
    return error_response(
        exc.status,
        str(exc),
        exc.kind,
        param=exc.param,
        code=exc.code,
        retry_after=getattr(exc, "retry_after", None),
    )


def _validation_message(errors: list[dict[str, Any]]) -> tuple[str, str | None]:
    first = errors[0] if errors else {"msg": "invalid request", "loc": ()}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    if first.get("type") == "json_invalid":
        return f"the request body is not valid JSON ({first.get('ctx', {}).get('error', first['msg'])})", None
    param = ".".join(loc) or None
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return (f"{param}: {first['msg']}" if param else str(first["msg"])) + more, param


def response_for(exc: Exception, path: str, refused: Refusal) -> JSONResponse:
    """The OpenAI-shaped answer to anything a route raised; refusals that never reached the service (a bad
    body, a bad request line) are logged here."""
    if isinstance(exc, SmallfirstError):
        return from_exception(exc)
    if isinstance(exc, RequestValidationError):
        message, param = _validation_message(list(exc.errors()))
        refused(path, 400, message)
        return error_response(400, message, param=param, code="invalid_value")
    if isinstance(exc, HTTPException):
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in message:
            message = "the request body could not be read as JSON"
        if exc.status_code in (400, 413):
            refused(path, exc.status_code, message)
        return error_response(exc.status_code, message)
    log.error("unhandled error on %s", path, exc_info=exc)
    return error_response(500, f"internal error: {type(exc).__name__}", "server_error", code="internal_error")


def install(app: FastAPI, refused: Refusal) -> None:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return response_for(exc, request.url.path, refused)

    for kind in (RequestValidationError, SmallfirstError, HTTPException, Exception):
        app.add_exception_handler(kind, handler)
