"""A real HTTP server on loopback that fails on purpose: returns 401/429/500, hangs past a timeout, or
dies mid-stream. It proxies everything else to a real upstream, so fault tests exercise real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse


@dataclass
class Faults:
    """What the next requests get. ``mode``: pass, status, hang, cut (stream dies after a few chunks)."""

    mode: str = "pass"
    status: int = 500
    hang_s: float = 30.0
    hits: int = 0
    seen_auth: list[str] = field(default_factory=list)
    #: the JSON bodies of the requests that reached the upstream, in order
    bodies: list[dict] = field(default_factory=list)


def make_app(upstream: str, faults: Faults) -> FastAPI:
    app = FastAPI()

    @app.api_route("/v1/{path:path}", methods=["GET", "POST"])
    async def proxy(path: str, request: Request) -> Response:
        faults.hits += 1
        faults.seen_auth.append(request.headers.get("authorization", ""))
        if faults.mode == "status":
            headers = {"retry-after": "0"} if faults.status == 429 else {}
            return JSONResponse({"error": {"message": f"injected {faults.status}", "type": "server_error"}},
                                status_code=faults.status, headers=headers)
        if faults.mode == "hang":
            await asyncio.sleep(faults.hang_s)
        body = await request.body()
        if body:
            with contextlib.suppress(ValueError):
                faults.bodies.append(json.loads(body))
        client = httpx.AsyncClient(timeout=60)
        req = client.build_request(request.method, f"{upstream}/{path}", content=body,
                                   headers={"content-type": "application/json"})
        resp = await client.send(req, stream=True)
        if faults.mode == "cut":
            async def cut() -> Iterator[bytes]:
                n = 0
                async for chunk in resp.aiter_raw():
                    yield chunk
                    n += 1
                    if n >= 2:
                        raise ConnectionResetError("injected: upstream died mid-stream")
            return StreamingResponse(cut(), status_code=resp.status_code,
                                     media_type=resp.headers.get("content-type"))

        async def relay():
            try:
                async for chunk in resp.aiter_raw():
                    yield chunk
            finally:
                await resp.aclose()
                await client.aclose()

        return StreamingResponse(relay(), status_code=resp.status_code, media_type=resp.headers.get("content-type"))

    return app


@contextmanager
def serve_faulty(upstream: str, port: int) -> Iterator[tuple[str, Faults]]:
    faults = Faults()
    config = uvicorn.Config(make_app(upstream.rstrip("/").removesuffix("/v1") + "/v1", faults), host="127.0.0.1",
                            port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1", faults
    finally:
        server.should_exit = True
        thread.join(timeout=10)
