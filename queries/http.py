"""The HTTP plumbing shared by every operation: authentication, rate limit, parameter and body
validation, error conversion and metrics, around a handler that only does its own work.

An `Operation` declares its method, path, parameter and body models, response model, roles and the
error statuses it can answer; the same declaration produces the route and its OpenAPI description, so
the document describes exactly what is served.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from queries.auth import Principal
from queries.errors import ApiError, error_response

if TYPE_CHECKING:
    from queries.app import ApiServices

log = logging.getLogger("tradex.api")

JSON = "application/json"
AUTH_STATUSES = (401, 403, 429)


@dataclass
class Context:
    request: Request
    services: ApiServices
    principal: Principal | None
    path: Any = None
    query: Any = None
    body: Any = None


Handler = Callable[[Context], Awaitable[BaseModel]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    handler: Handler
    response: type[BaseModel]
    path_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    body_model: type[BaseModel] | None = None
    error_statuses: tuple[int, ...] = ()
    authenticated: bool = True
    roles: str = "any authenticated role"
    description: str = ""

    @property
    def statuses(self) -> tuple[int, ...]:
        statuses = set(self.error_statuses) | {503}
        if self.authenticated:
            statuses |= set(AUTH_STATUSES)
        if self.path_model or self.query_model or self.body_model:
            statuses.add(422)
        if self.body_model:
            statuses |= {400, 413, 415}
        return tuple(sorted(statuses))


def validation_details(error: ValidationError, where: str) -> dict[str, Any]:
    """pydantic's errors without the offending input (it may be huge or not JSON-safe)."""
    errors = []
    for item in error.errors(include_url=False, include_input=False, include_context=False)[:20]:
        errors.append({"loc": [where, *[str(part) for part in item["loc"]]], "type": item["type"],
                       "msg": item["msg"]})
    return {"errors": errors}


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413, "body_too_large", f"the body may have at most {limit} bytes", {"limit": limit})
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"the body may have at most {limit} bytes", {"limit": limit})
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(model: type[BaseModel], raw: bytes, content_type: str | None) -> BaseModel:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != JSON:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json",
                       {"content_type": media_type[:64]})
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        if any(item["type"] in ("json_invalid",) for item in error.errors(include_input=False)):
            raise ApiError(400, "malformed_json", "the body is not valid JSON (UTF-8)",
                           validation_details(error, "body")) from None
        raise ApiError(422, "invalid_request", "the body does not match the schema",
                       validation_details(error, "body")) from None


def parse_params(model: type[BaseModel], values: dict[str, Any], where: str) -> BaseModel:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise ApiError(422, "invalid_request", f"invalid {where} parameters",
                       validation_details(error, where)) from None


def json_response(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type=JSON)


def endpoint(operation: Operation, services: ApiServices) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of one operation."""
    metrics = services.metrics
    route = operation.operation_id
    latency = metrics.latency.labels(route, operation.method)

    async def handle(request: Request) -> Response:
        began = time.perf_counter()
        try:
            response = await _run(operation, services, request)
        except ApiError as error:
            if error.status == 403:  # 401s are counted where credentials are checked
                metrics.refusals.labels(error.code).inc()
            response = error_response(error)
        except Exception:
            log.exception("unhandled error in %s %s", operation.method, operation.path)
            response = error_response(ApiError(500, "internal_error", "the server failed; this is a bug"))
        latency.observe(time.perf_counter() - began)
        metrics.requests.labels(route, operation.method, str(response.status_code)).inc()
        return response

    return handle


async def _run(operation: Operation, services: ApiServices, request: Request) -> Response:
    principal: Principal | None = None
    if operation.authenticated:
        principal = services.authenticate(request)
    context = Context(request, services, principal)
    if operation.path_model is not None:
        context.path = parse_params(operation.path_model, dict(request.path_params), "path")
    if operation.query_model is not None:
        context.query = parse_params(operation.query_model, dict(request.query_params), "query")
    elif request.query_params:
        raise ApiError(422, "invalid_request", "this operation takes no query parameters",
                       {"errors": [{"loc": ["query", name], "type": "extra_forbidden", "msg": "unknown parameter"}
                                   for name in list(request.query_params)[:20]]})
    if operation.body_model is not None:
        raw = await read_body(request, services.config.max_body_bytes)
        context.body = parse_body(operation.body_model, raw, request.headers.get("content-type"))
    result = await operation.handler(context)
    return json_response(result)
