"""End to end over real HTTP and WebSocket: deposits, crossing orders, fills, balances, positions,
candles, idempotent resends, read-your-writes, streams that resume without gaps."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.api.conftest import ApiVenue
from tests.ledger_fixtures import ALICE, BOB

pytestmark = pytest.mark.integration
SYMBOL = "BTC-USDT"


def fund(venue: ApiVenue) -> int:
    with venue.client("treasury") as treasury:
        for command_id, account, asset, amount in (("dep-bob-usdt", BOB, "USDT", 1_000_000_000_000),
                                                  ("dep-alice-btc", ALICE, "BTC", 1_000_000_000)):
            response = treasury.post("/v1/deposits", json={"command_id": command_id, "account_id": account,
                                                            "asset": asset, "amount_minor": amount})
            assert response.status_code == 200, response.text
    return int(response.json()["log_position"])


def order(client: httpx.Client, command_id: str, account: int, side: str, qty: str, price: str,
          **extra: Any) -> httpx.Response:
    return client.post("/v1/orders", json={"command_id": command_id, "account_id": account, "symbol": SYMBOL,
                                           "side": side, "qty": qty, "price": price, **extra})


def test_deposit_cross_and_read_back(api_venue: ApiVenue) -> None:
    fund(api_venue)
    with api_venue.client("trader", [ALICE]) as alice, api_venue.client("trader", [BOB]) as bob:
        ask = order(alice, "alice-ask-1", ALICE, "sell", "0.5", "60000")
        assert ask.status_code == 200, ask.text
        assert ask.json()["result"]["status"] == "accepted"
        bid = order(bob, "bob-bid-1", BOB, "buy", "0.2", "60000.5")
        assert bid.status_code == 200, bid.text
        answer = bid.json()
        assert answer["result"]["status"] == "filled" and answer["log_position"] > ask.json()["log_position"]
        position = answer["log_position"]

        # the same command again: the first answer, nothing new stored
        head = api_venue.head()
        again = order(bob, "bob-bid-1", BOB, "buy", "0.2", "60000.5")
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert again.json()["log_position"] == position and api_venue.head() == head
        # the same id with another body: a conflict
        conflict = order(bob, "bob-bid-1", BOB, "buy", "0.3", "60000.5")
        assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "command_conflict"

        fills = bob.get(f"/v1/accounts/{BOB}/fills", params={"min_position": position})
        assert fills.status_code == 200, fills.text
        [fill] = fills.json()["items"]
        assert (fill["price"], fill["qty"], fill["liquidity"], fill["side"]) == ("60000.000000", "0.20000000",
                                                                               "taker", "buy")
        notional, fee = 12_000_000_000, 24_000_000  # 0.2 BTC at 60,000 USDT; taker fee 0.2 %
        balances = {b["asset"]: b for b in bob.get(f"/v1/accounts/{BOB}/balances",
                                                   params={"min_position": position}).json()["balances"]}
        assert balances["BTC"]["total_minor"] == 20_000_000
        assert balances["USDT"]["total_minor"] == 1_000_000_000_000 - notional - fee
        assert balances["USDT"]["held_minor"] == 0
        alice_balances = {b["asset"]: b for b in alice.get(f"/v1/accounts/{ALICE}/balances").json()["balances"]}
        assert alice_balances["BTC"]["held_minor"] == 30_000_000  # the ask's open 0.3 BTC
        [bob_position] = bob.get(f"/v1/accounts/{BOB}/positions").json()["positions"]
        assert bob_position["net_qty_lots"] == 2_000 and bob_position["fees_paid_minor"] == fee
        candles = bob.get(f"/v1/markets/{SYMBOL}/candles").json()["candles"]
        assert [(c["open_ticks"], c["volume_lots"], c["trade_count"]) for c in candles] == [(6_000_000, 2_000, 1)]
        trades = bob.get(f"/v1/markets/{SYMBOL}/trades").json()["items"]
        assert [t["trade_id"] for t in trades] == [fill["trade_id"]]
        journal = bob.get(f"/v1/accounts/{BOB}/journal", params={"asset": "USDT"}).json()["items"]
        assert sum(entry["amount_minor"] for entry in journal) == balances["USDT"]["total_minor"]

        book = alice.get(f"/v1/markets/{SYMBOL}/book").json()
        assert book["asks"] == [{"price_ticks": 6_000_000, "qty_lots": 3_000, "orders": 1}] and book["bids"] == []
        top = alice.get(f"/v1/markets/{SYMBOL}/top").json()
        assert (top["ask_price_ticks"], top["bid_price_ticks"]) == (6_000_000, None)

        # amend, then cancel the rest of the ask; its history tells the whole story
        order_id = ask.json()["result"]["order_id"]
        amended = alice.post(f"/v1/orders/{SYMBOL}/{order_id}/amend",
                             json={"command_id": "alice-amend-1", "account_id": ALICE, "price": "61000"})
        assert amended.status_code == 200, amended.text
        cancelled = alice.post(f"/v1/orders/{SYMBOL}/{order_id}/cancel",
                               json={"command_id": "alice-cancel-1", "account_id": ALICE})
        assert cancelled.status_code == 200, cancelled.text
        detail = alice.get(f"/v1/orders/{SYMBOL}/{order_id}",
                           params={"min_position": cancelled.json()["log_position"]}).json()
        assert detail["order"]["status"] == "cancelled"
        assert [event["type"] for event in detail["history"]] == ["Created", "FillsRecorded", "Amended", "Cancelled"]
        assert alice.get(f"/v1/markets/{SYMBOL}/book").json()["asks"] == []


def test_order_pages_and_read_your_writes(api_venue: ApiVenue) -> None:
    fund(api_venue)
    with api_venue.client("trader", [ALICE]) as alice:
        for index in range(5):
            response = order(alice, f"ask-{index}", ALICE, "sell", "0.01", str(70_000 + index))
            assert response.status_code == 200, response.text
        last = response.json()["log_position"]
        seen: list[int] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2, "min_position": last}
            if cursor:
                params["cursor"] = cursor
            page = alice.get(f"/v1/accounts/{ALICE}/orders", params=params).json()
            seen += [item["order_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [5, 4, 3, 2, 1]
        assert [o["order_id"] for o in alice.get(f"/v1/accounts/{ALICE}/orders",
                                                 params={"status": "filled"}).json()["items"]] == []
        bad_cursor = alice.get(f"/v1/accounts/{ALICE}/orders", params={"cursor": "xyz"})
        assert bad_cursor.status_code == 400 and bad_cursor.json()["error"]["code"] == "invalid_cursor"
        ahead = alice.get(f"/v1/accounts/{ALICE}/balances", params={"min_position": last + 1_000_000})
        assert ahead.status_code == 422 and ahead.json()["error"]["code"] == "position_ahead_of_log"
    with api_venue.client("risk") as risk:
        everyone = risk.get("/v1/orders", params={"limit": 3}).json()
        assert len(everyone["items"]) == 3 and everyone["next_cursor"]


def _frames(socket: Any, count: int) -> list[dict[str, Any]]:
    return [json.loads(socket.recv(timeout=5)) for _ in range(count)]


def _trades_until(socket: Any, wanted: int) -> tuple[list[str], int]:
    trade_ids: list[str] = []
    position = 0
    while len(trade_ids) < wanted:
        frame = json.loads(socket.recv(timeout=5))
        assert frame["position"] > position
        position = frame["position"]
        trade_ids += [event["trade_id"] for event in frame["events"] if event["type"] == "trade"]
    return trade_ids, position


def test_market_stream_resumes_without_gaps(api_venue: ApiVenue) -> None:
    fund(api_venue)
    ws_url = api_venue.url.replace("http://", "ws://") + f"/v1/streams/markets/{SYMBOL}"
    headers = api_venue.headers("trader", [BOB])
    with api_venue.client("trader", [ALICE]) as alice, api_venue.client("trader", [BOB]) as bob:
        resting = order(alice, "resting", ALICE, "sell", "1", "60000")
        assert resting.status_code == 200
        with connect(f"{ws_url}?min_position={resting.json()['log_position']}", additional_headers=headers) as socket:
            [snapshot] = _frames(socket, 1)
            assert snapshot["events"][0]["type"] == "book_snapshot"
            assert snapshot["events"][0]["asks"] == [[6_000_000, 10_000, 1]]
            for index in range(3):
                assert order(bob, f"take-{index}", BOB, "buy", "0.1", "60000").status_code == 200
            first_ids, last_position = _trades_until(socket, 3)
        # while disconnected, more trades happen
        for index in range(3, 6):
            assert order(bob, f"take-{index}", BOB, "buy", "0.1", "60000").status_code == 200
        with connect(f"{ws_url}?after={last_position}", additional_headers=headers) as socket:
            later_ids, _ = _trades_until(socket, 3)
        rest = bob.get(f"/v1/markets/{SYMBOL}/trades").json()["items"]
        assert first_ids + later_ids == [trade["trade_id"] for trade in reversed(rest)]
        assert len(set(first_ids + later_ids)) == 6


def test_account_stream_sees_own_orders_and_balances(api_venue: ApiVenue) -> None:
    ws_url = api_venue.url.replace("http://", "ws://") + f"/v1/streams/accounts/{ALICE}"
    with connect(f"{ws_url}?access_token={api_venue.token('trader', [ALICE])}") as socket:
        [snapshot] = _frames(socket, 1)
        assert snapshot["events"][0]["type"] == "account_snapshot"
        fund(api_venue)
        frame = json.loads(socket.recv(timeout=5))
        assert [(e["type"], e["asset"], e["total_minor"]) for e in frame["events"]] == [("balance", "BTC",
                                                                                          1_000_000_000)]
    # another trader's account: refused with 4403 after an error frame
    other = api_venue.url.replace("http://", "ws://") + f"/v1/streams/accounts/{BOB}"
    with connect(other, additional_headers=api_venue.headers("trader", [ALICE])) as socket:
        error = json.loads(socket.recv(timeout=5))
        assert error["error"]["code"] == "forbidden_account"
        with pytest.raises(Exception):  # noqa: B017 - the server closed the socket
            socket.recv(timeout=5)
        assert socket.close_code == 4403
    # no valid credentials: 4401
    with connect(f"{other}?access_token=not.a.jwt") as socket:
        assert json.loads(socket.recv(timeout=5))["error"]["code"] == "invalid_token"
        with pytest.raises(Exception):  # noqa: B017
            socket.recv(timeout=5)
        assert socket.close_code == 4401


def test_operations_endpoints(api_venue: ApiVenue) -> None:
    with httpx.Client(base_url=api_venue.url) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200
        metrics = client.get("/metrics").text
        assert "tradex_projection_lag_events" in metrics and "tradex_sequencer_batches_total" in metrics
        document = client.get("/openapi.json").json()
        assert "/v1/orders" in document["paths"] and "ErrorResponse" in document["components"]["schemas"]
        assert "placeOrder" in client.get("/docs").text
        missing = client.get("/v1/nothing-here")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
