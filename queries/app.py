"""The API application: `create_app(config, gateway, feed, authenticator)` builds the Starlette app.

Everything the app needs from outside comes through the ports (queries/ports.py): the write side
(`CommandGateway`), the event log (`EventFeed`) and optionally read models (`ReadModels`; without one,
the app answers queries from its own in-memory fold of the log). The composition root is
infra/api_server.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route, WebSocketRoute

from queries.auth import Authenticator, Principal, refuse
from queries.errors import ApiError, error_response
from queries.http import endpoint
from queries.live_state import LiveState
from queries.memory_read_models import MemoryReadModels
from queries.metrics import ApiMetrics
from queries.openapi import build_openapi, render_docs
from queries.ports import CommandGateway, EventFeed, ReadModels
from queries.ratelimit import RateLimiter
from queries.routes import operations
from queries.stream_hub import LogFollower, StreamHub
from queries.streams import account_stream, market_stream

log = logging.getLogger("tradex.api")
VERSION = "1.0.0"


@dataclass(frozen=True)
class ApiConfig:
    max_body_bytes: int = 16 * 1024
    rate_per_s: float = 2_000.0  # per key (principal, or client address before authentication)
    rate_burst: int = 4_000
    min_position_wait_s: float = 2.0
    ready_max_lag_events: int = 100_000
    stream_retain_frames: int = 10_000
    title: str = "TradeX API"


class ApiServices:
    """What the handlers reach: ports, auth, limits, metrics, the live fold and its streams."""

    def __init__(self, config: ApiConfig, gateway: CommandGateway, feed: EventFeed, authenticator: Authenticator,
                 read_models: ReadModels | None = None) -> None:
        self.config = config
        self.gateway = gateway
        self.authenticator = authenticator
        self.feed = feed
        self.limiter = RateLimiter(config.rate_per_s, config.rate_burst)
        self.state = LiveState()
        self.hub = StreamHub(retain=config.stream_retain_frames)
        self.follower = LogFollower(feed, self.state, self.hub)
        self.read_models: ReadModels = read_models or MemoryReadModels(self.state, self.follower)
        self.metrics = ApiMetrics(gateway.stats, lambda: (self.read_models.position(), self.log_head()),
                                  self.hub.subscriber_count)

    def log_head(self) -> int:
        return max(self.follower.head, self.state.position)

    async def fresh_log_head(self) -> int:
        """The log's head as stored now (one small query), not as last seen by the follower."""
        head = int(await asyncio.to_thread(self.feed.head))
        self.follower.head = max(self.follower.head, head)
        return head

    def nudge(self) -> None:
        self.follower.nudge()

    def authenticate(self, request: Request) -> Principal:
        return self.authenticate_headers(request.headers.get("authorization"), request.headers.get("x-api-key"),
                                         request.client.host if request.client else "unknown")

    def authenticate_headers(self, authorization: str | None, api_key: str | None, client: str) -> Principal:
        try:
            principal = self.authenticator.authenticate(authorization, api_key)
        except ApiError as error:
            self.metrics.refusals.labels(error.code).inc()
            if self.limiter.take(f"client:{client}") > 0:  # guessing credentials is rate limited too
                raise ApiError(429, "rate_limited", "too many failed authentications",
                               headers={"Retry-After": "1"}) from None
            raise
        wait = self.limiter.take(principal.rate_key)
        if wait > 0:
            limited = refuse(429, "rate_limited", f"rate limit of {self.config.rate_per_s:g}/s exceeded",
                             subject=principal.subject, retry_after_s=round(wait, 3))
            limited.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            raise limited
        return principal


def create_app(config: ApiConfig, gateway: CommandGateway, feed: EventFeed, authenticator: Authenticator,
               read_models: ReadModels | None = None) -> Starlette:
    services = ApiServices(config, gateway, feed, authenticator, read_models)
    ops = operations()
    document = build_openapi(ops, _ops_paths(), config.title, VERSION)
    document_bytes = orjson.dumps(document)
    docs_page = render_docs(document)

    async def healthz(request: Request) -> Response:
        return Response(orjson.dumps({"status": "ok"}), media_type="application/json")

    async def readyz(request: Request) -> Response:
        await services.read_models.wait_until(0, 0.0)  # refreshes a database-backed model's known position
        accepting, why = await gateway.ready()
        lag = services.log_head() - services.read_models.position()
        checks: dict[str, Any] = {"write_side": why or "ok", "log_follower": "running" if services.follower.running
                                  else "stopped", "read_model_lag_events": lag,
                                  "follower_error": services.follower.last_error if services.follower.failures else ""}
        ready = accepting and services.follower.running and services.follower.failures == 0 \
            and lag <= config.ready_max_lag_events
        if not ready:
            return error_response(ApiError(503, "not_ready", "the venue is not ready", checks))
        return Response(orjson.dumps({"status": "ready", "checks": checks}), media_type="application/json")

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(request: Request) -> Response:
        return Response(document_bytes, media_type="application/json")

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_page)

    routes: list[Any] = [Route(op.path, endpoint(op, services), methods=[op.method], name=op.operation_id)
                         for op in ops]
    routes += [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"]),
               Route("/metrics", metrics, methods=["GET"]), Route("/openapi.json", openapi, methods=["GET"]),
               Route("/docs", docs, methods=["GET"]),
               WebSocketRoute("/v1/streams/markets/{symbol}", market_stream(services)),
               WebSocketRoute("/v1/streams/accounts/{account_id}", account_stream(services))]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        detail = exc.detail if isinstance(exc, HTTPException) else "the server failed"
        return error_response(ApiError(status, code, str(detail)))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return error_response(ApiError(500, "internal_error", "the server failed; this is a bug"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened = getattr(services.read_models, "open", None)  # read models with a connection pool
        if opened is not None:
            await opened()
        services.follower.start()
        try:
            yield
        finally:
            await services.follower.stop()
            closed = getattr(services.read_models, "close", None)
            if closed is not None:
                await closed()

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.services = services
    return app


def _ops_paths() -> dict[str, Any]:
    def json_object(description: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}

    def text(description: str, media_type: str) -> dict[str, Any]:
        return {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}

    def get(operation_id: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
        return {"get": {"operationId": operation_id, "summary": summary, "tags": ["operations"],
                        "responses": responses}}

    not_ready = {"description": "not ready", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
    return {
        "/healthz": get("healthz", "Liveness", {"200": json_object("alive")}),
        "/readyz": get("readyz", "Readiness: write side, log follower, read-model lag",
                       {"200": json_object("ready"), "503": not_ready}),
        "/metrics": get("metrics", "Prometheus metrics", {"200": text("Prometheus text format", "text/plain")}),
        "/openapi.json": get("openapi", "This document", {"200": json_object("OpenAPI 3.1")}),
        "/docs": get("docs", "The documentation page", {"200": text("HTML", "text/html")}),
    }
