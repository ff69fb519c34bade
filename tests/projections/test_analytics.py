"""Risk queries on chdb against independent Python computations over a small hand-made data set.

The data set is inserted with a replayed (and differently cut) copy of part of each table, so every
query must also be exact under replays.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from domain.values import FEE_ACCOUNT
from projections import analytics
from projections import clickhouse_store as store
from projections.clickhouse_store import OrderEventRow, PositionSnapshotRow, PostingRow
from projections.market_data import NS_PER_MINUTE, Interval, TradeRow
from tests.projections.conftest import DAY0_NS, trade

pytestmark = pytest.mark.integration

BTC, ETH = "BTC-USDT", "ETH-USDT"
T = DAY0_NS
TICK_LOT_VALUE = {BTC: 10, ETH: 3}

TRADES = [
    trade(1, BTC, T + 10, 100, 5, buy_account=1, sell_account=2),
    trade(2, BTC, T + 70 * 10**9, 102, 3, buy_account=3, sell_account=1),
    trade(3, ETH, T + 80 * 10**9, 50, 10, tick_lot_value=3, buy_account=2, sell_account=4),
    trade(4, BTC, T + 5 * NS_PER_MINUTE, 99, 4, buy_account=2, sell_account=3, taker_side="sell"),
    trade(5, ETH, T + 61 * NS_PER_MINUTE, 52, 7, tick_lot_value=3, buy_account=4, sell_account=4),  # self-trade
    trade(6, BTC, T + 61 * NS_PER_MINUTE, 101, 2, buy_account=1, sell_account=4),
    trade(7, BTC, T + 61 * NS_PER_MINUTE, 104, 1, buy_account=4, sell_account=2),  # same ns as 6: the last price
    trade(8, BTC, T + 30, 95, 9, buy_account=3, sell_account=2),  # late: earlier time, larger position
]

SNAPSHOTS = [  # (position, account, symbol, net, open_cost, realized, fees, bought, sold)
    PositionSnapshotRow(1, T + 10, 1, BTC, 5, 5_000, 0, 5, 5, 0, 10),
    PositionSnapshotRow(1, T + 10, 2, BTC, -5, -5_000, 0, 5, 0, 5, 10),
    PositionSnapshotRow(2, T + 70, 1, BTC, 2, 2_000, 60, 8, 5, 3, 10),
    PositionSnapshotRow(2, T + 70, 3, BTC, 3, 3_060, 0, 3, 3, 0, 10),
    PositionSnapshotRow(3, T + 80, 2, ETH, 10, 1_500, 0, 2, 10, 0, 3),
    PositionSnapshotRow(3, T + 80, 4, ETH, -10, -1_500, 0, 2, 0, 10, 3),
    PositionSnapshotRow(4, T + 90, 2, BTC, -1, -1_000, -40, 9, 4, 5, 10),
    PositionSnapshotRow(4, T + 90, 3, BTC, -1, -1_020, 0, 6, 3, 4, 10),
    PositionSnapshotRow(6, T + 95, 1, BTC, 4, 4_020, 60, 10, 7, 3, 10),
    PositionSnapshotRow(6, T + 95, 4, BTC, -2, -2_020, 0, 1, 0, 2, 10),
    PositionSnapshotRow(7, T + 96, 4, BTC, -1, -1_010, -30, 2, 1, 2, 10),
    PositionSnapshotRow(7, T + 96, 2, BTC, -2, -2_040, -40, 10, 4, 6, 10),
    PositionSnapshotRow(8, T + 97, 3, BTC, 8, 7_550, 0, 9, 12, 4, 10),
    PositionSnapshotRow(8, T + 97, 2, BTC, 0, 0, -100, 11, 4, 13, 10),  # flat now
]

POSTINGS = [
    PostingRow(1, 0, T + 10, "BTC-USDT:1:quote", "USDT", 5_000, 1, 2, "trade", BTC),
    PostingRow(1, 1, T + 10, "BTC-USDT:1:fee:buyer", "USDT", 10, 1, FEE_ACCOUNT, "fee", BTC),
    PostingRow(1, 2, T + 10, "BTC-USDT:1:fee:seller", "USDT", 5, 2, FEE_ACCOUNT, "fee", BTC),
    PostingRow(2, 0, T + 70, "BTC-USDT:2:fee:buyer", "USDT", 7, 3, FEE_ACCOUNT, "fee", BTC),
    PostingRow(3, 0, T + 80, "ETH-USDT:3:fee:buyer", "USDT", 3, 2, FEE_ACCOUNT, "fee", ETH),
    PostingRow(5, 0, T + 90, "ETH-USDT:5:fee:buyer", "USDT", 2, 4, FEE_ACCOUNT, "fee", ETH),
    PostingRow(6, 0, T + 95, "BTC-USDT:6:fee:buyer", "USDT", 4, 1, FEE_ACCOUNT, "fee", BTC),
    PostingRow(6, 1, T + 95, "rebate-6", "USDT", 1, FEE_ACCOUNT, 4, "fee", BTC),  # out of the fee account
    PostingRow(7, 0, T + 96, "BTC-USDT:7:fee:seller", "BTC", 9, 2, FEE_ACCOUNT, "fee", BTC),
    PostingRow(9, 0, T + 99, "deposit-9", "USDT", 1_000_000, -1, 3, "deposit", ""),
]


def _order_events() -> list[OrderEventRow]:
    rows = []
    script = [  # (account, symbol, event types in order)
        (1, BTC, ["placed", "accepted", "filled", "amended", "filled", "cancelled", "placed", "rejected"]),
        (2, BTC, ["placed", "accepted", "filled", "placed", "filled", "filled"]),
        (2, ETH, ["placed", "filled"]),
        (3, BTC, ["placed", "filled", "amended", "amended", "placed", "filled", "cancelled"]),
        (4, ETH, ["placed", "placed", "filled", "filled"]),
        (4, BTC, ["placed", "filled", "placed", "filled"]),
        (5, BTC, ["placed", "cancelled"]),  # orders but no trade
    ]
    position = 100
    for account, symbol, types in script:
        for order_id, event_type in enumerate(types):
            position += 1
            rows.append(OrderEventRow(position, 0, T + position, symbol, account, order_id, event_type, "buy",
                                      "limit", 100, 1, 0, 0, "", "", ""))
    return rows


ORDER_EVENTS = _order_events()


@pytest.fixture(scope="module")
def ch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    client = store.clickhouse_client(data_dir=Path(tmp_path_factory.mktemp("analytics")) / "chdb")
    try:
        store.create_tables(client)
        data: list[tuple[store.TableSpec, Sequence[Any]]] = [
            (store.TRADES, TRADES), (store.POSITION_SNAPSHOTS, SNAPSHOTS), (store.POSTINGS, POSTINGS),
            (store.ORDER_EVENTS, ORDER_EVENTS)]
        for table, rows in data:
            store.insert_rows(client, table, rows)
            store.insert_rows(client, table, rows[1:-1])  # a replay cut differently: another token
        yield client
    finally:
        client.close()


# ---- the independent computation -----------------------------------------------------------------

def _unique(rows: list[TradeRow]) -> list[TradeRow]:
    return list({row.position: row for row in rows}.values())


def _last_prices() -> dict[str, int]:
    last: dict[str, TradeRow] = {}
    for row in TRADES:
        if row.symbol not in last or row.order_key > last[row.symbol].order_key:
            last[row.symbol] = row
    return {symbol: row.price_ticks for symbol, row in last.items()}


def _latest_snapshots() -> dict[tuple[int, str], PositionSnapshotRow]:
    latest: dict[tuple[int, str], PositionSnapshotRow] = {}
    for row in SNAPSHOTS:
        key = (row.account, row.symbol)
        if key not in latest or row.position > latest[key].position:
            latest[key] = row
    return latest


def _decimal(value: Fraction, places: int) -> Decimal:
    scaled = value * 10**places
    return Decimal(round(scaled)).scaleb(-places)  # round() on a Fraction is half-even and exact


# ---- the tests -----------------------------------------------------------------------------------

def test_last_price_is_by_time_then_position() -> None:
    assert _last_prices() == {BTC: 104, ETH: 52}


def test_exposure_by_account_and_instrument(ch: Client) -> None:
    prices = _last_prices()
    expected: list[dict[str, Any]] = []
    for (account, symbol), snap in sorted(_latest_snapshots().items()):
        if snap.net_qty_lots:
            value = snap.net_qty_lots * prices[symbol] * TICK_LOT_VALUE[symbol]
            expected.append({"account": account, "symbol": symbol, "net_qty_lots": snap.net_qty_lots,
                             "last_price_ticks": prices[symbol], "exposure": value, "gross_exposure": abs(value)})
    assert analytics.exposure(ch) == expected
    assert analytics.exposure(ch, account=3) == [row for row in expected if row["account"] == 3]
    assert analytics.exposure(ch, symbol=ETH) == [row for row in expected if row["symbol"] == ETH]


def test_realized_and_unrealized_pnl(ch: Client) -> None:
    prices = _last_prices()
    expected: list[dict[str, Any]] = []
    for (account, symbol), snap in sorted(_latest_snapshots().items()):
        unrealized = snap.net_qty_lots * prices[symbol] * snap.tick_lot_value - snap.open_cost
        expected.append({"account": account, "symbol": symbol, "net_qty_lots": snap.net_qty_lots,
                         "last_price_ticks": prices[symbol], "realized_pnl": snap.realized_pnl,
                         "unrealized_pnl": unrealized, "fees_paid": snap.fees_paid,
                         "net_pnl": snap.realized_pnl + unrealized - snap.fees_paid})
    rows = analytics.pnl(ch)
    assert rows == expected
    assert {row["account"] for row in rows if row["net_qty_lots"] == 0} == {2}  # a flat position keeps its PnL


@pytest.mark.parametrize("interval", [Interval.M1, Interval.M5, Interval.H1], ids=lambda i: i.value)
def test_vwap_and_volume_by_interval(ch: Client, interval: Interval) -> None:
    groups: dict[tuple[str, int], list[TradeRow]] = defaultdict(list)
    for row in _unique(TRADES):
        groups[(row.symbol, interval.bucket_start_ns(row.ts_ns))].append(row)
    expected: list[dict[str, Any]] = []
    for (symbol, bucket), rows in sorted(groups.items()):
        volume = sum(r.qty_lots for r in rows)
        price_volume = sum(r.price_ticks * r.qty_lots for r in rows)
        expected.append({"symbol": symbol, "bucket_start_ns": bucket, "trade_count": len(rows),
                         "volume_lots": volume, "notional": sum(r.notional for r in rows),
                         "price_volume": price_volume, "vwap_ticks": _decimal(Fraction(price_volume, volume), 6)})
    assert analytics.vwap_volume(ch, interval) == expected
    window = analytics.vwap_volume(ch, interval.length_ns, symbol=BTC, start_ns=T, end_ns=T + 61 * NS_PER_MINUTE)
    first_hour = [row for row in expected if row["symbol"] == BTC and row["bucket_start_ns"] < T + 60 * NS_PER_MINUTE]
    assert window == first_hour


def test_top_accounts_by_volume(ch: Client) -> None:
    per_account: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in TRADES:
        for account in (row.buy_account, row.sell_account):
            per_account[account][0] += 1
            per_account[account][1] += row.qty_lots
            per_account[account][2] += row.notional
    total = sum(values[2] for values in per_account.values())
    ranked = sorted(per_account.items(), key=lambda item: (-item[1][2], item[0]))
    expected = [{"account": account, "trade_count": count, "volume_lots": volume, "notional": notional,
                 "share": _decimal(Fraction(notional, total), 6), "rank": rank}
                for rank, (account, (count, volume, notional)) in enumerate(ranked, start=1)]
    assert analytics.top_accounts_by_volume(ch, limit=3) == expected[:3]
    assert analytics.top_accounts_by_volume(ch, limit=10) == expected
    assert per_account[4][0] == 5  # trades 3, 6, 7 and the self-trade 5 once per side


def test_top_accounts_by_open_interest(ch: Client) -> None:
    expected: list[dict[str, Any]] = []
    latest = _latest_snapshots()
    for symbol in (BTC, ETH):
        open_positions = [(account, snap.net_qty_lots) for (account, sym), snap in latest.items()
                          if sym == symbol and snap.net_qty_lots]
        total = sum(abs(net) for _, net in open_positions)
        ranked = sorted(open_positions, key=lambda item: (-abs(item[1]), item[0]))[:2]
        expected += [{"symbol": symbol, "account": account, "net_qty_lots": net, "open_interest_lots": abs(net),
                      "rank": rank, "share": _decimal(Fraction(abs(net), total), 6)}
                     for rank, (account, net) in enumerate(ranked, start=1)]
    assert analytics.top_accounts_by_open_interest(ch, limit=2) == expected
    eth_only = [row for row in expected if row["symbol"] == ETH]
    assert analytics.top_accounts_by_open_interest(ch, limit=2, symbol=ETH) == eth_only


def test_fees_collected(ch: Client) -> None:
    fees: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in POSTINGS:
        if row.kind == "fee" and FEE_ACCOUNT in (row.credit_account, row.debit_account):
            fees[(row.asset, row.symbol)][0] += 1
            fees[(row.asset, row.symbol)][1] += row.amount if row.credit_account == FEE_ACCOUNT else -row.amount
    expected = [{"asset": asset, "symbol": symbol, "fee_postings": count, "fees": amount}
                for (asset, symbol), (count, amount) in sorted(fees.items())]
    assert expected[0] == {"asset": "BTC", "symbol": BTC, "fee_postings": 1, "fees": 9}
    assert analytics.fees_collected(ch) == expected
    assert analytics.fees_collected(ch, asset="USDT") == [row for row in expected if row["asset"] == "USDT"]


def test_order_to_trade_ratio(ch: Client) -> None:
    counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for event in ORDER_EVENTS:
        if event.event_type in ("placed", "amended", "cancelled"):
            counts[(event.account, event.symbol)][0] += 1
    for row in TRADES:
        for account in {row.buy_account, row.sell_account}:
            counts[(account, row.symbol)][1] += 1
    expected = [{"account": account, "symbol": symbol, "order_messages": messages, "trades": trades,
                 "ratio": _decimal(Fraction(messages, trades), 3) if trades else None}
                for (account, symbol), (messages, trades) in sorted(counts.items())]
    assert analytics.order_to_trade_ratio(ch) == expected
    assert analytics.order_to_trade_ratio(ch, account=5) == [
        {"account": 5, "symbol": BTC, "order_messages": 2, "trades": 0, "ratio": None}]


def test_every_named_query_runs(ch: Client) -> None:
    assert set(analytics.QUERIES) == {"exposure", "pnl", "vwap-volume", "top-accounts-by-volume",
                                      "top-accounts-by-open-interest", "fees-collected", "order-to-trade-ratio"}
    for query in analytics.QUERIES.values():
        assert query(ch)


def test_ratio_rounds_half_even_exactly() -> None:
    assert analytics.ratio(1, 8, places=2) == Decimal("0.12")
    assert analytics.ratio(3, 8, places=2) == Decimal("0.38")
    assert analytics.ratio(-1, 3, places=3) == Decimal("-0.333")
    assert analytics.ratio(10**30 + 1, 10**24, places=6) == Decimal("1000000.000000")
    with pytest.raises(ValueError):
        analytics.ratio(1, 0)
