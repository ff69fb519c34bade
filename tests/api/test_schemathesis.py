"""The API against its own /openapi.json: schemathesis generates valid and invalid requests for every
operation; no answer may be a 5xx or differ from the document (status, content type, schema)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from queries.app import VERSION, _ops_paths
from queries.openapi import build_openapi
from queries.routes import operations
from tests.api.conftest import ApiVenue
from tests.ledger_fixtures import ALICE, BOB, CAROL

pytestmark = pytest.mark.integration

# The document exactly as the app serves it (test_served_document_is_this_one checks that).
DOCUMENT = build_openapi(operations(), _ops_paths(), "TradeX API", VERSION)
schema = schemathesis.openapi.from_dict(DOCUMENT)
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.negative_data_rejection]


def _headers(venue: ApiVenue, method: str, path: str) -> dict[str, str]:
    """Credentials that let the request reach its handler: the role the operation is for."""
    if path.startswith("/v1/admin"):
        role, accounts = "admin", []
    elif path in ("/v1/deposits", "/v1/withdrawals"):
        role, accounts = "treasury", []
    elif method == "POST":
        role, accounts = "trader", [ALICE, BOB, CAROL]
    else:
        role, accounts = "auditor", []
    return venue.headers(role, accounts)


def test_served_document_is_this_one(module_api_venue: ApiVenue) -> None:
    import httpx

    assert httpx.get(f"{module_api_venue.url}/openapi.json").json() == DOCUMENT


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_document(case: Any, module_api_venue: ApiVenue) -> None:
    if case.method.upper() not in ("GET", "POST"):
        return
    headers = _headers(module_api_venue, case.method.upper(), case.operation.path)
    # the generated credentials (random API keys, bearer strings) would all be refused: use real ones
    case.headers = {name: value for name, value in (case.headers or {}).items()
                    if name.lower() not in ("authorization", "x-api-key")} | headers
    response = case.call(base_url=module_api_venue.url, timeout=10)
    case.validate_response(response, checks=CHECKS)


