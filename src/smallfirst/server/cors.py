"""OPTIONS on every route, and CORS for the browser origins the operator allows (``server.cors_origins``).

No origin is allowed by default: allowing one lets any page served from it call the gateway with whatever key
the page holds, which is the operator's decision to make (the README says so). ``OPTIONS`` is answered on every
route with its ``Allow`` header, and for an allowed origin with the preflight's ``Access-Control-*`` headers;
answers to an allowed origin carry ``Access-Control-Allow-Origin`` and expose the ``x-smallfirst-*`` headers.
Plain ASGI, applied by the app ahead of everything else, and a pass-through (one dict lookup) for requests
without an ``Origin`` header.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.types import Message, Scope, Send

__all__ = ["Cors"]

_ALLOW_HEADERS = b"authorization, content-type, x-smallfirst-task, x-smallfirst-tag"
_EXPOSE = (b"x-smallfirst-request-id, x-smallfirst-model, x-smallfirst-policy, x-smallfirst-reason, "
           b"x-smallfirst-cost-usd, x-smallfirst-baseline-usd, x-smallfirst-saving-usd, x-smallfirst-score, "
           b"x-smallfirst-threshold, retry-after")
_MAX_AGE = b"600"


class Cors:
    """``methods(path)`` gives the methods a path answers (None for an unknown path); ``origins`` are the
    allowed browser origins ("*" allows any)."""

    def __init__(self, origins: Sequence[str], methods: Callable[[str], list[str] | None]) -> None:
        self.origins = frozenset(o.rstrip("/") for o in origins)
        self.methods = methods

    def allowed(self, origin: str | None) -> bool:
        """Whether a page from ``origin`` may call the gateway."""
        return origin is not None and ("*" in self.origins or origin in self.origins)

    async def preflight(self, scope: Scope, send: Send) -> bool:
        """Answer an ``OPTIONS`` request (True), or leave an unknown path to the app's 404 (False)."""
        methods = self.methods(scope["path"])
        if methods is None:
            return False
        allow = ", ".join(sorted({*methods, "OPTIONS"})).encode()
        headers = [(b"allow", allow), (b"content-length", b"0")]
        origin = _origin(scope)
        if self.allowed(origin):
            assert origin is not None
            requested = dict(scope["headers"]).get(b"access-control-request-headers")
            headers += [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"origin"),
                        (b"access-control-allow-methods", allow),
                        (b"access-control-allow-headers", requested or _ALLOW_HEADERS),
                        (b"access-control-max-age", _MAX_AGE)]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return True

    def wrap(self, scope: Scope, send: Send) -> Send:
        """``send`` adding the CORS headers to the answer when the request comes from an allowed origin."""
        if not self.origins:
            return send
        origin = _origin(scope)
        if not self.allowed(origin):
            return send
        assert origin is not None
        extra = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"origin"),
                 (b"access-control-expose-headers", _EXPOSE)]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return send_with_cors


def _origin(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"origin":
            return value.decode("latin-1")
    return None
