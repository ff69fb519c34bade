"""One error shape for every refusal the API gives: {"error": {"code", "message", "details"}}.

Handlers raise `ApiError`; the app turns it (and every other exception) into that shape. A client
mistake is always a 4xx with a machine-readable code; a 5xx means a bug or an outage, never bad input.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class ApiError(Exception):
    """A refusal with an HTTP status, a stable machine-readable code and a human message."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(error: ApiError) -> Response:
    return Response(orjson.dumps(error_body(error.code, error.message, error.details), default=str),
                    status_code=error.status, media_type="application/json", headers=error.headers)


# Write-side refusal codes (domain.errors.LedgerError.code) -> HTTP status. Anything not listed that the
# ledger refuses is a 422: the request was well formed but the ledger will not do it.
LEDGER_CODE_STATUS: dict[str, int] = {
    "command_conflict": 409,
    "already_exists": 409,
    "concurrent_update": 409,
    "unknown_order": 404,
    "unknown_account": 422,
    "unknown_instrument": 422,
    "unknown_asset": 422,
    "overloaded": 503,
}


def status_of_ledger_code(code: str) -> int:
    return LEDGER_CODE_STATUS.get(code, 422)
