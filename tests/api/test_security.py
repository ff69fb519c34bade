"""Refusals: forged, expired or misdirected tokens, other accounts, revoked API keys, roles, rate limit.
Each is a 401/403/429 with a machine-readable code, is logged, and stores nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from infra.api_server import ApiServer, LedgerEventFeed, SequencerGateway
from infra.token_cli import mint_token
from queries.app import ApiConfig, create_app
from tests.api.conftest import AUDIENCE, ISSUER, KID, ApiVenue
from tests.ledger_fixtures import ALICE, BOB

pytestmark = pytest.mark.integration
SYMBOL = "BTC-USDT"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(role: str = "trader", accounts: list[int] | None = None) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "mallory", "role": role, "accounts": accounts or [ALICE], "iss": ISSUER, "aud": AUDIENCE,
            "iat": now, "nbf": now, "exp": now + 600}


def unsigned_token() -> str:
    header = {"alg": "none", "typ": "JWT", "kid": KID}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims()).encode())}."


def hs256_with_public_key(public_pem: bytes) -> str:
    header = {"alg": "HS256", "typ": "JWT", "kid": KID}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims()).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def place(client: httpx.Client, headers: dict[str, str], command_id: str, account: int = ALICE) -> httpx.Response:
    return client.post("/v1/orders", headers=headers, json={
        "command_id": command_id, "account_id": account, "symbol": SYMBOL, "side": "sell", "qty": "0.1",
        "price": "60000"})


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and isinstance(error["details"], dict), error


def test_forged_and_misdirected_tokens_are_refused_and_logged(api_venue: ApiVenue,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    now = int(time.time())
    other_key = Ed25519PrivateKey.generate()
    cases = {
        "alg none": (unsigned_token(), "algorithm_not_allowed"),
        "signed with another key": (mint_token(other_key, "trader", [ALICE], issuer=ISSUER, audience=AUDIENCE,
                                               kid=KID), "invalid_signature"),
        "HS256 forged with the public key": (hs256_with_public_key(api_venue.public_pem), "algorithm_not_allowed"),
        "expired": (api_venue.token("trader", [ALICE], now_s=now - 7_200, ttl_s=3_600), "token_expired"),
        "not yet valid": (api_venue.token("trader", [ALICE], now_s=now + 3_600, ttl_s=3_600), "token_not_yet_valid"),
        "wrong issuer": (api_venue.token("trader", [ALICE], issuer="someone-else"), "invalid_issuer"),
        "wrong audience": (api_venue.token("trader", [ALICE], audience="another-api"), "invalid_audience"),
        "unknown kid": (api_venue.token("trader", [ALICE], kid="other"), "unknown_key"),
        "garbage": ("not.a.jwt", "invalid_token"),
    }
    head = api_venue.head()
    caplog.set_level(logging.WARNING, logger="tradex.api.auth")
    with httpx.Client(base_url=api_venue.url) as client:
        for name, (token, code) in cases.items():
            response = place(client, {"Authorization": f"Bearer {token}"}, f"forged-{code}")
            assert response.status_code == 401, (name, response.text)
            assert response.json()["error"]["code"] == code, (name, response.json())
            assert response.headers["www-authenticate"].startswith("Bearer")
        assert_refused(place(client, {}, "no-credentials"), 401, "missing_credentials")
        reading = client.get(f"/v1/accounts/{ALICE}/balances",
                             headers={"Authorization": f"Bearer {cases['expired'][0]}"})
        assert_refused(reading, 401, "token_expired")
    assert api_venue.head() == head
    logged = [json.loads(record.getMessage()) for record in caplog.records if record.name == "tradex.api.auth"]
    assert {entry["code"] for entry in logged} >= {code for _, code in cases.values()}
    assert all(entry["event"] == "auth_refused" for entry in logged)


def test_traders_act_and_read_only_for_their_own_accounts(api_venue: ApiVenue) -> None:
    with api_venue.client("treasury") as treasury:
        assert treasury.post("/v1/deposits", json={"command_id": "fund-alice", "account_id": ALICE, "asset": "BTC",
                                                   "amount_minor": 100_000_000}).status_code == 200
    alice = api_venue.headers("trader", [ALICE])
    bob = api_venue.headers("trader", [BOB])
    with httpx.Client(base_url=api_venue.url) as client:
        placed = place(client, alice, "alice-ask")
        assert placed.status_code == 200, placed.text
        order_id = placed.json()["result"]["order_id"]
        head = api_venue.head()
        # Bob names Alice's account: refused by the API
        assert_refused(client.post(f"/v1/orders/{SYMBOL}/{order_id}/cancel", headers=bob,
                                   json={"command_id": "bob-cancels", "account_id": ALICE}), 403, "forbidden_account")
        # Bob names his own account: the venue finds no such open order of his
        assert_refused(client.post(f"/v1/orders/{SYMBOL}/{order_id}/cancel", headers=bob,
                                   json={"command_id": "bob-cancels-2", "account_id": BOB}), 404, "unknown_order")
        assert_refused(place(client, bob, "bob-sells-alices", ALICE), 403, "forbidden_account")
        # reading Alice's order, balances, stream: refused
        position = placed.json()["log_position"]
        assert_refused(client.get(f"/v1/orders/{SYMBOL}/{order_id}", headers=bob,
                                  params={"min_position": position}), 403, "forbidden_account")
        assert_refused(client.get(f"/v1/accounts/{ALICE}/balances", headers=bob), 403, "forbidden_account")
        assert_refused(client.get("/v1/orders", headers=bob), 403, "forbidden_role")
        # a trader may not deposit; a treasurer may not place orders
        assert_refused(client.post("/v1/deposits", headers=alice, json={
            "command_id": "self-deposit", "account_id": ALICE, "asset": "USDT", "amount_minor": 1}), 403,
            "forbidden_role")
        assert_refused(place(client, api_venue.headers("treasury"), "treasury-order"), 403, "forbidden_account")
        assert_refused(client.post("/v1/admin/instruments/BTC-USDT/halt", headers=api_venue.headers("risk"),
                                   json={"command_id": "risk-halts", "reason": "no"}), 403, "forbidden_role")
        assert api_venue.head() == head
        # the owner can
        cancelled = client.post(f"/v1/orders/{SYMBOL}/{order_id}/cancel", headers=alice,
                                json={"command_id": "alice-cancels", "account_id": ALICE})
        assert cancelled.status_code == 200, cancelled.text


def test_api_keys_are_hashed_and_revocable(api_venue: ApiVenue) -> None:
    key = api_venue.api_keys.issue("trader", [ALICE])
    key_id = key.split("_")[1]
    stored = api_venue.api_keys.path.read_text() if api_venue.api_keys.path else ""
    assert key.split("_", 2)[2] not in stored and key_id in stored  # only the hash is kept
    with httpx.Client(base_url=api_venue.url) as client:
        assert client.get(f"/v1/accounts/{ALICE}/balances", headers={"X-API-Key": key}).status_code == 200
        assert_refused(client.get(f"/v1/accounts/{ALICE}/balances", headers={"X-API-Key": key + "x"}), 401,
                       "invalid_api_key")
        assert api_venue.api_keys.revoke(key_id)
        head = api_venue.head()
        assert_refused(place(client, {"X-API-Key": key}, "revoked-key-order"), 401, "api_key_revoked")
        assert api_venue.head() == head


def test_rate_limit_per_key(api_venue: ApiVenue) -> None:
    app = create_app(ApiConfig(rate_per_s=1.0, rate_burst=3), SequencerGateway(api_venue.venue, api_venue.sequencer),
                     LedgerEventFeed(api_venue.ledger), api_venue.app.state.services.authenticator)
    with ApiServer(app) as server, httpx.Client(base_url=server.url) as client:
        alice, bob = api_venue.headers("trader", [ALICE]), api_venue.headers("trader", [BOB])
        statuses = [client.get(f"/v1/accounts/{ALICE}/balances", headers=alice).status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
        limited = client.get(f"/v1/accounts/{ALICE}/balances", headers=alice)
        assert_refused(limited, 429, "rate_limited")
        assert float(limited.headers["retry-after"]) >= 0
        assert client.get(f"/v1/accounts/{BOB}/balances", headers=bob).status_code == 200  # another key
