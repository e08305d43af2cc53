"""The FastAPI app: ``create_app(settings, service=None)``.

The app holds no state that replicas must share: budgets live in the database (one conditional UPDATE per
request), so several replicas behind a load balancer can share one Postgres request log. On start it replays
the request-log journals and settles the budget holds of gateway processes that died (``store/journal.py``,
``store/keys.reconcile_holds``), before it answers anything.

Every route answers ``OPTIONS`` (``cors.py``). When keys are required (always beyond loopback), every route but
``/health`` needs one: ``/metrics`` also takes the token named by ``server.metrics_token_env``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from pydantic.json_schema import models_json_schema
from starlette.types import Message, Receive, Scope, Send

from smallfirst.config import Settings, load_settings
from smallfirst.errors import SmallfirstError, UnknownModelError
from smallfirst.models.registry import servable, specs
from smallfirst.server import completions, dashboard, error_responses, feedback
from smallfirst.server.auth import Gatekeeper
from smallfirst.server.cors import Cors
from smallfirst.server.error_responses import from_exception
from smallfirst.server.limits import BodyLimit
from smallfirst.server.metrics import GatewayMetrics
from smallfirst.server.wire import ErrorResponse, Health, ModelCard, ModelList
from smallfirst.service import Service
from smallfirst.store.request_record import RequestRecord

#: FastAPI's documentation pages: they describe the API, so they need a key where the API does
_DOC_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})

_STARTED = int(time.time())


@dataclass
class Gateway:
    """What the routes share: the settings, the service (the one request path), the gatekeeper (keys and
    budgets) and the metrics registry."""

    settings: Settings
    service: Service
    gate: Gatekeeper
    metrics: GatewayMetrics
    #: learning from this gateway's traffic (``smallfirst.learning``), None when ``learning.enabled`` is off
    learning: Any = None

    def refused(self, path: str, status: int, message: str, *, requested: str = "") -> None:
        """Log a request the gateway turned away before the service saw it (bad body, key, budget...)."""
        self.service.log_record(
            RequestRecord(
                id=str(uuid.uuid4()),
                created_at=datetime.now(UTC),
                source="gateway",
                requested_model=requested,
                model="",
                status="error",
                http_status=status,
                error=f"{path}: {message}",
            )
        )


class _GatewayApp(FastAPI):
    """FastAPI, except that the two completion routes are answered before its middleware and router, every route
    answers ``OPTIONS`` (and ``HEAD`` where it answers ``GET``), CORS headers go to allowed origins, and the
    documentation pages need a key where the API does.

    The completion routes are the hot path: what stands in front of a FastAPI endpoint (six middleware layers,
    the router, the request object, the dependency solver, the response wrapper) cost about 0.45 ms per request
    on two cores, more than half of what the gateway added to a request. Everything else is FastAPI's."""

    def __init__(self, hot: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hot = hot
        self.cors: Cors | None = None
        self.gate: Gatekeeper | None = None

    def route_methods(self, path: str) -> list[str] | None:
        """The methods ``path`` answers, or None when no route has it."""
        if path in self.hot:
            return ["POST"]
        from starlette.routing import Match

        methods: set[str] = set()
        for route in self.router.routes:
            match, _ = route.matches({"type": "http", "path": path, "method": "GET", "root_path": ""})
            if match != Match.NONE:
                methods |= set(getattr(route, "methods", None) or {"GET"})
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods) if methods else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = None
        if scope["type"] == "http":
            path, root = scope["path"], scope.get("root_path", "")
            path = path[len(root) :] if root and path.startswith(root) else path
            if self.cors is not None:
                if scope["method"] == "OPTIONS" and await self.cors.preflight({**scope, "path": path}, send):
                    return
                send = self.cors.wrap(scope, send)
            route = self.hot.get(path)
            if route is None and path in _DOC_PATHS and self.gate is not None:
                try:
                    await self.gate.check(dict(scope["headers"]).get(b"authorization", b"").decode("latin-1"))
                except SmallfirstError as exc:
                    await from_exception(exc)(scope, receive, send)
                    return
        if route is not None:
            await route(scope, receive, send)
            return
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope, send = {**scope, "method": "GET"}, _headers_only(send)
        await super().__call__(scope, receive, send)


def _headers_only(send: Send) -> Send:
    """``send`` for a HEAD request answered as its GET: the status and headers (``content-length`` included), no
    body (RFC 9110, section 9.3.2)."""

    async def send_headers(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_headers


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    """The gateway app on ``settings`` (default: the config file and environment), answering through ``service``
    (default: a new one, closed with the app). Replays journals and settles holds of stopped processes first."""
    settings = settings or (service.settings if service else load_settings())
    owned = service is None
    service = service or Service(settings)
    service.allow_paths = False  # a request names models, never files on the server's disk
    service.use_background_log()
    metrics = GatewayMetrics(lambda: service.pool.workers.depths())
    gate = Gatekeeper(service)
    gate.reconcile(getattr(service, "recovered_owners", []))
    service.observers.append(metrics.observe)
    service.observers.append(gate.observe)
    service.pool.load_observers.append(metrics.observe_load)
    gw = Gateway(settings, service, gate, metrics)
    if settings.learning.enabled:
        from smallfirst.learning.loop import Learning

        gw.learning = Learning(service).attach()
        metrics.watch_learning(gw.learning)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await service.aclose_endpoints()
        await asyncio.to_thread(service.flush_log)
        if owned:
            await asyncio.to_thread(service.close)

    app = _GatewayApp(
        completions.routes(gw),
        title="smallfirst",
        version="0.1.0",
        lifespan=lifespan,
        description="An OpenAI-compatible gateway that answers each request with the smallest model "
        "that does the job, and reports what that saved against a baseline model.",
    )
    app.state.gateway = gw
    app.gate = gate
    app.cors = Cors(settings.server.cors_origins, app.route_methods)
    error_responses.install(app, gw.refused)
    _add_pages(app, gw)
    feedback.add_route(app, gw)
    app.add_middleware(BodyLimit, max_bytes=settings.server.max_body_bytes, refused=gw.refused)
    _openapi(app)
    return app


def _add_pages(app: FastAPI, gw: Gateway) -> None:
    auth_errors: dict[int | str, dict[str, Any]] = {401: {"model": ErrorResponse}}

    def cards() -> dict[str, ModelCard]:
        out = {name: ModelCard(id=name, created=_STARTED, owned_by="smallfirst-policy", smallfirst_kind="policy")
               for name in gw.service.policies}
        for name, spec in specs(gw.settings).items():
            if name not in out and servable(name, spec, gw.settings):
                out[name] = ModelCard(id=name, created=_STARTED, owned_by=spec.backend)
        return out

    @app.get(
        "/v1/models",
        response_model=ModelList,
        tags=["openai"],
        responses=auth_errors,
        summary="Models and routing policies a request may name (models only once they can be served here)",
    )
    async def list_models(request: Request) -> ModelList:
        await gw.gate.check(request.headers.get("authorization"))
        return ModelList(data=list(cards().values()))

    @app.get(
        "/v1/models/{model_id:path}",
        response_model=ModelCard,
        tags=["openai"],
        responses={**auth_errors, 404: {"model": ErrorResponse}},
        summary="One model or policy of /v1/models",
    )
    async def retrieve_model(model_id: str, request: Request) -> ModelCard:
        await gw.gate.check(request.headers.get("authorization"))
        card = cards().get(model_id)
        if card is None:
            raise UnknownModelError(f"unknown model {model_id!r}", param="model",
                                    hint="GET /v1/models lists the models and policies this gateway serves")
        return card

    @app.get("/health", response_model=Health, tags=["ops"])
    async def health() -> Health:
        return Health(auth="keys" if gw.gate.enforced else "open", models_loaded=gw.service.pool.loaded())

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **auth_errors},
    )
    async def prometheus(request: Request) -> Response:
        await gw.gate.check(request.headers.get("authorization"), token_env=gw.settings.server.metrics_token_env)
        await asyncio.to_thread(gw.service.flush_log, 5.0)  # requests still queued for the log count too
        return Response(gw.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/", include_in_schema=False)
    @app.get("/dashboard", response_class=HTMLResponse, tags=["ops"], responses=auth_errors)
    async def dashboard_page(request: Request) -> HTMLResponse:
        key = request.headers.get("authorization") or (
            f"Bearer {request.query_params['key']}" if "key" in request.query_params else None
        )
        await gw.gate.check(key)
        rows, totals = await asyncio.to_thread(_recent, gw.service)
        learning = await asyncio.to_thread(_learning_lines, gw) if gw.learning is not None else None
        return HTMLResponse(dashboard.render(rows, totals, auth="keys" if gw.gate.enforced else "open",
                                             learning=learning))


def _recent(service: Service) -> tuple[list[RequestRecord], Any]:
    from smallfirst.store.requests import list_requests, totals

    service.flush_log(5.0)
    return list_requests(service.engine, limit=50, newest_first=True), totals(service.engine)


def _learning_lines(gw: Gateway) -> list[str]:
    from smallfirst.learning.status import learning_status, render

    return render(learning_status(gw.settings, gw.service.engine))


def _openapi(app: FastAPI) -> None:
    """Adds the completion routes, which are plain ASGI routes FastAPI does not document itself, and drops
    the 422 FastAPI documents for every body: this gateway answers 400 like OpenAI."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path in schema.get("paths", {}).values():
                for op in path.values():
                    op.get("responses", {}).pop("422", None)
            schema["paths"] = {**completions.openapi_paths(), **schema.get("paths", {})}
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            _, defs = models_json_schema(completions.OPENAPI_MODELS, ref_template="#/components/schemas/{model}")
            components.update(defs["$defs"])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
