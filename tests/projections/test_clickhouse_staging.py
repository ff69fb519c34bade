"""Staging a window for the ClickHouse SQL projection (embedded chdb): stored states the SQL cannot read
as the mapper would (a class_version to upcast, not a JSON object) fail the window instead of being
staged with wrong values; readable ones are staged with their fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from infra.clickhouse_staging import ORDER_TOPICS, POSTINGS_TOPIC, WALLET_TOPIC, Window, stage
from projections.clickhouse_sql import STAGED_ORDER_EVENTS, STAGED_POSTINGS, STAGED_WALLETS, create_staging
from projections.folds import ProjectionError

pytestmark = pytest.mark.integration

ORDER_UUID = "b82a000f-8be9-571e-8267-1ac01fc19b04"
WALLET_UUID = "f95f753f-37a3-53de-aefb-302321bef6a5"
PLACED_TOPIC = next(topic for topic in ORDER_TOPICS if topic.endswith(".Placed"))


def placed_state(**extra: Any) -> str:
    return json.dumps({
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-12-05T08:12:59.789690+00:00"},
        "originator_topic": "tradex.Order", "at_ns": 1796458379789690127, "command_id": "c1",
        "terms": {"symbol": "BTC-USDT", "order_id": 7, "account_id": 100413, "side": "buy", "order_type": "limit",
                  "qty_lots": 11, "price_ticks": 6000107, "trigger_price_ticks": 0, "tif": "gtc", "expire_at_ns": 0,
                  "post_only": False, "display_qty_lots": 0, "stp": "none", "hold_asset": "USDT",
                  "hold_per_lot": 6012108},
        "outcome": "accepted", "reason": "", **extra}, separators=(",", ":"))


def posted_state(**extra: Any) -> str:
    return json.dumps({
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-12-05T08:12:59.789690+00:00"},
        "at_ns": 1796458379789690127, "command_id": "settlement:1",
        "entries": [{"_type_": "tradex.Entry", "_data_": ["BTC-USDT:1:quote", "USDT", -600, 100178, "trade", ""]}],
        **extra}, separators=(",", ":"))


def opened_state(**extra: Any) -> str:
    return json.dumps({"timestamp": {"_type_": "datetime_iso", "_data_": "2026-12-05T08:12:59.789690+00:00"},
                       "originator_topic": "tradex.Wallet", "at_ns": 1, "command_id": "c0", "account_id": 100178,
                       **extra}, separators=(",", ":"))


def window(tmp_path: Path, orders: list[str], wallets: list[str]) -> Window:
    """Files as LogReader.copy_range writes them (COPY text: id, topic, originator id, version, state)."""
    files = {"orders": tmp_path / "orders.tsv", "wallets": tmp_path / "wallets.tsv"}
    files["orders"].write_text("".join(f"{line}\n" for line in orders))
    files["wallets"].write_text("".join(f"{line}\n" for line in wallets))
    return Window(files)


@pytest.fixture
def staging(ch: Client) -> Client:
    create_staging(ch)
    return ch


def test_a_readable_window_is_staged_with_its_fields(staging: Client, tmp_path: Path) -> None:
    staged = stage(staging, window(tmp_path, [f"11\t{PLACED_TOPIC}\t{ORDER_UUID}\t1\t{placed_state()}"], [
        f"10\t{WALLET_TOPIC}\t{WALLET_UUID}\t1\t{opened_state()}",
        f"12\t{POSTINGS_TOPIC}\t{WALLET_UUID}\t2\t{posted_state()}",
    ]))

    assert staged == 3
    assert staging.query(f"SELECT position, event_type, at_ns, symbol, order_id, account, qty_lots, price_ticks "
                         f"FROM {STAGED_ORDER_EVENTS}").result_rows == [
        (11, "placed", 1796458379789690127, "BTC-USDT", 7, 100413, 11, 6000107)]
    assert staging.query(f"SELECT account FROM {STAGED_WALLETS}").result_rows == [(100178,)]
    assert staging.query(f"SELECT position, at_ns, entries.amount FROM {STAGED_POSTINGS}").result_rows == [
        (12, 1796458379789690127, [-600])]


@pytest.mark.parametrize("group", ["orders", "postings", "wallets"])
def test_a_state_with_a_class_version_fails_the_window(staging: Client, tmp_path: Path, group: str) -> None:
    def upcast(name: str) -> dict[str, Any]:
        return {"class_version": 2} if name == group else {}

    orders = [f"11\t{PLACED_TOPIC}\t{ORDER_UUID}\t1\t{placed_state(**upcast('orders'))}"]
    wallets = [f"10\t{WALLET_TOPIC}\t{WALLET_UUID}\t1\t{opened_state(**upcast('wallets'))}",
               f"12\t{POSTINGS_TOPIC}\t{WALLET_UUID}\t2\t{posted_state(**upcast('postings'))}"]

    with pytest.raises(ProjectionError, match="class_version"):
        stage(staging, window(tmp_path, orders, wallets))


@pytest.mark.parametrize("state", ['["not", "an", "object"]', '"text"', "{}"])
def test_a_state_without_an_exchange_time_fails_the_window(staging: Client, tmp_path: Path, state: str) -> None:
    with pytest.raises(ProjectionError, match="the event at 11 has no exchange time"):
        stage(staging, window(tmp_path, [f"11\t{PLACED_TOPIC}\t{ORDER_UUID}\t1\t{state}"], []))
