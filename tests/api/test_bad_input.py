"""Bad input: every client mistake is a 4xx in the one error shape, and nothing is stored."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import ApiVenue
from tests.ledger_fixtures import ALICE

pytestmark = pytest.mark.integration

GOOD: dict[str, Any] = {"command_id": "c-1", "account_id": ALICE, "symbol": "BTC-USDT", "side": "sell",
                        "qty": "0.1", "price": "60000"}
JSON = {"content-type": "application/json"}


def body(**changes: Any) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


# name: (method, path, raw body, headers, expected status, expected code)
CASES: dict[str, tuple[str, str, bytes, dict[str, str], int, str]] = {
    "malformed JSON": ("POST", "/v1/orders", b'{"command_id": "c-1", ', JSON, 400, "malformed_json"),
    "empty body": ("POST", "/v1/orders", b"", JSON, 400, "malformed_json"),
    "not an object": ("POST", "/v1/orders", b"[1, 2, 3]", JSON, 422, "invalid_request"),
    "invalid UTF-8": ("POST", "/v1/orders", b'{"command_id": "\xff\xfe", "account_id": 1001}', JSON, 400,
                      "malformed_json"),
    "lone surrogate": ("POST", "/v1/orders", body(command_id="\\ud800").replace(b"\\\\ud800", b"\\ud800"), JSON, 400,
                       "malformed_json"),  # the JSON parser refuses lone surrogates itself
    "NUL in free text": ("POST", "/v1/admin/instruments/BTC-USDT/halt",
                         json.dumps({"command_id": "h-1", "reason": "a\u0000b"}).encode(), JSON, 422,
                         "invalid_request"),
    "surrogate in free text": ("POST", "/v1/admin/instruments/BTC-USDT/halt",
                               b'{"command_id": "h-2", "reason": "\\udc00"}', JSON, 400, "malformed_json"),
    "qty as a number": ("POST", "/v1/orders", body(qty=0.1), JSON, 422, "invalid_request"),
    "account as a string": ("POST", "/v1/orders", body(account_id=str(ALICE)), JSON, 422, "invalid_request"),
    "account as a float": ("POST", "/v1/orders", body(account_id=float(ALICE)), JSON, 422, "invalid_request"),
    "post_only as a string": ("POST", "/v1/orders", body(post_only="true"), JSON, 422, "invalid_request"),
    "unknown field": ("POST", "/v1/orders", body(leverage=100), JSON, 422, "invalid_request"),
    "huge integer": ("POST", "/v1/orders", body(account_id=10**40), JSON, 422, "invalid_request"),
    "huge amount": ("POST", "/v1/deposits", json.dumps({"command_id": "d", "account_id": ALICE, "asset": "USDT",
                                                         "amount_minor": 2**63}).encode(), JSON, 422,
                    "invalid_request"),
    "huge decimal": ("POST", "/v1/orders", body(price="9" * 60), JSON, 422, "invalid_request"),
    "exponent": ("POST", "/v1/orders", body(qty="1e3"), JSON, 422, "invalid_request"),
    "NaN": ("POST", "/v1/orders", body(qty="NaN"), JSON, 422, "invalid_request"),
    "negative qty": ("POST", "/v1/orders", body(qty="-1"), JSON, 422, "invalid_request"),
    "zero qty": ("POST", "/v1/orders", body(qty="0"), JSON, 422, "invalid_qty"),
    "zero amount": ("POST", "/v1/deposits", json.dumps({"command_id": "d", "account_id": ALICE, "asset": "USDT",
                                                         "amount_minor": 0}).encode(), JSON, 422,
                    "invalid_request"),
    "off-tick price": ("POST", "/v1/orders", body(price="60000.001"), JSON, 422, "off_tick_price"),
    "off-lot qty": ("POST", "/v1/orders", body(qty="0.00001"), JSON, 422, "off_lot_qty"),
    "price outside the band": ("POST", "/v1/orders", body(price="999999"), JSON, 422, "price_outside_band"),
    "unknown instrument": ("POST", "/v1/orders", body(symbol="DOGE-USDT"), JSON, 422, "unknown_instrument"),
    "bad symbol": ("POST", "/v1/orders", body(symbol="btc/usdt"), JSON, 422, "invalid_request"),
    "bad side": ("POST", "/v1/orders", body(side="BUY"), JSON, 422, "invalid_request"),
    "missing field": ("POST", "/v1/orders", json.dumps({"command_id": "c"}).encode(), JSON, 422,
                      "invalid_request"),
    "oversized body": ("POST", "/v1/orders", body(command_id="c" * 100, pad="x" * 20_000), JSON, 413,
                       "body_too_large"),
    "wrong content type": ("POST", "/v1/orders", body(), {"content-type": "text/plain"}, 415,
                           "unsupported_media_type"),
    "deep nesting": ("POST", "/v1/orders", b"[" * 5_000 + b"]" * 5_000, JSON, 400, "malformed_json"),
    "bad path parameter": ("POST", "/v1/orders/BTC-USDT/99999999999999999999999/cancel",
                           json.dumps({"command_id": "x", "account_id": ALICE}).encode(), JSON, 422,
                           "invalid_request"),
    "unknown query parameter": ("GET", f"/v1/accounts/{ALICE}/balances?as_of=yesterday", b"", {}, 422,
                                "invalid_request"),
    "bad query value": ("GET", f"/v1/accounts/{ALICE}/orders?limit=100000", b"", {}, 422, "invalid_request"),
    "unknown route": ("GET", "/v1/orderz", b"", {}, 404, "not_found"),
    "wrong method": ("DELETE", "/v1/orders", b"", {}, 405, "method_not_allowed"),
}


def test_bad_input_is_refused_with_the_error_shape_and_stores_nothing(api_venue: ApiVenue) -> None:
    with api_venue.client("treasury") as treasury:
        assert treasury.post("/v1/deposits", json={"command_id": "fund", "account_id": ALICE, "asset": "BTC",
                                                   "amount_minor": 100_000_000}).status_code == 200
    head = api_venue.head()
    trader = api_venue.headers("trader", [ALICE])
    admin = api_venue.headers("admin")
    treasury_headers = api_venue.headers("treasury")
    failures = []
    with httpx.Client(base_url=api_venue.url, timeout=10) as client:
        for name, (method, path, raw, headers, status, code) in CASES.items():
            auth = admin if "/admin/" in path else treasury_headers if path == "/v1/deposits" else trader
            response = client.request(method, path, content=raw, headers={**auth, **headers})
            try:
                error = response.json()["error"]
                ok = (response.status_code == status and error["code"] == code and isinstance(error["message"], str)
                      and isinstance(error["details"], dict))
            except (ValueError, KeyError, TypeError):
                ok = False
            if not ok:
                failures.append((name, response.status_code, response.text[:300]))
    assert not failures, failures
    assert api_venue.head() == head
