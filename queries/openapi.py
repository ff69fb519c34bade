"""The OpenAPI 3.1 document, built from the same `Operation` declarations the routes are built from,
and a plain HTML page rendered from it (no script, no CDN)."""

from __future__ import annotations

import html
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

from queries.http import Operation

REF = "#/components/schemas/{model}"
STATUS_TEXT = {400: "Malformed request", 401: "Not authenticated", 403: "Not allowed", 404: "Not found",
               409: "Conflict", 413: "Body too large", 415: "Unsupported media type", 422: "Invalid or refused",
               429: "Rate limited", 503: "Unavailable or behind; retry"}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    message: str
    details: dict[str, Any]


class ErrorResponse(BaseModel):
    """Every refusal: a machine-readable code, a message for people, details."""

    model_config = ConfigDict(extra="forbid")
    error: ErrorDetail


def _parameters(model: type[BaseModel] | None, where: str, schema: dict[str, Any]) -> list[dict[str, Any]]:
    if model is None:
        return []
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    out = []
    for name in model.model_fields:
        prop = dict(properties.get(name, {}))
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter: dict[str, Any] = {"name": name, "in": where, "required": where == "path" or name in required,
                                     "schema": prop}
        if description:
            parameter["description"] = description
        out.append(parameter)
    return out


def build_openapi(operations: list[Operation], extra_paths: dict[str, Any], title: str,
                  version: str) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = [(ErrorResponse, "serialization")]
    for op in operations:
        models.append((op.response, "serialization"))
        for model in (op.body_model, op.path_model, op.query_model):
            if model is not None:
                models.append((model, "validation"))
    keyed, defs = models_json_schema(models, ref_template=REF)
    components: dict[str, Any] = dict(defs.get("$defs", {}))
    paths: dict[str, Any] = {}
    for op in operations:
        parameters: list[dict[str, Any]] = []
        for model, where in ((op.path_model, "path"), (op.query_model, "query")):
            if model is not None:
                schema = keyed[(model, "validation")]
                if "$ref" in schema:
                    schema = components[schema["$ref"].rsplit("/", 1)[-1]]
                parameters.extend(_parameters(model, where, schema))
        responses: dict[str, Any] = {"200": {"description": "OK", "content": {
            "application/json": {"schema": keyed[(op.response, "serialization")]}}}}
        for status in op.statuses:
            responses[str(status)] = {"description": STATUS_TEXT.get(status, "Error"), "content": {
                "application/json": {"schema": {"$ref": REF.format(model="ErrorResponse")}}}}
        entry: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
                                 "description": f"Roles: {op.roles}. {op.description}".strip(),
                                 "parameters": parameters, "responses": responses}
        if op.body_model is not None:
            entry["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": keyed[(op.body_model, "validation")]}}}
        if op.authenticated:
            entry["security"] = [{"bearer": []}, {"apiKey": []}]
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    paths.update(extra_paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "TradeX venue API. Money is exact: prices and quantities as decimal strings "
                                "in requests; integers (ticks, lots, minor units) and decimal strings in "
                                "answers. Every error is {\"error\": {\"code\", \"message\", \"details\"}}. "
                                "WebSocket streams (not describable here): /v1/streams/markets/{symbol} and "
                                "/v1/streams/accounts/{account_id}, frames {\"position\", \"events\"}, "
                                "resume with ?after=<position> (docs/api.md)."},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}},
    }


def render_docs(document: dict[str, Any]) -> str:
    """A readable page of every operation, generated from the OpenAPI document itself."""
    rows = []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            params = ", ".join(f"{p['name']} ({p['in']})" for p in op.get("parameters", []))
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            body_ref = body.get("$ref", "").rsplit("/", 1)[-1]
            statuses = ", ".join(op.get("responses", {}))
            what = (f"{html.escape(op.get('summary', ''))} <small>({html.escape(op.get('operationId', ''))})</small>"
                    f"<br><small>{html.escape(op.get('description', ''))}</small>")
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{what}</td><td>{html.escape(params)}</td><td>{html.escape(body_ref)}</td>"
                        f"<td>{statuses}</td></tr>")
    schemas = []
    for name, schema in sorted(document["components"]["schemas"].items()):
        fields = ", ".join(f"<code>{html.escape(k)}</code>" for k in schema.get("properties", {}))
        schemas.append(f"<tr><td id='{html.escape(name)}'><b>{html.escape(name)}</b></td><td>{fields}</td></tr>")
    info = document["info"]
    return ("<!doctype html><html><head><meta charset='utf-8'><title>" + html.escape(info["title"]) +
            "</title><style>body{font-family:sans-serif;margin:2em}td{border-top:1px solid #ddd;padding:4px;"
            "vertical-align:top}</style></head><body><h1>" + html.escape(info["title"]) + " " +
            html.escape(info["version"]) + "</h1><p>" + html.escape(info["description"]) +
            "</p><p>Machine-readable: <a href='/openapi.json'>/openapi.json</a></p><h2>Operations</h2><table>"
            "<tr><th>method</th><th>path</th><th>what</th><th>parameters</th><th>body</th><th>statuses</th></tr>"
            + "".join(rows) + "</table><h2>Schemas</h2><table>" + "".join(schemas) + "</table></body></html>")
