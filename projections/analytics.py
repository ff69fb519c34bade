"""Risk analytics: named, documented queries over the ClickHouse tables of `projections.clickhouse_store`.

Every function takes a clickhouse-connect client and returns a list of dicts (column name -> value),
sorted deterministically. Money, prices and quantities are ints (sums computed in Int128, since
ClickHouse's sum of Int64 wraps around); ratios are `decimal.Decimal` rounded half-even at the stated
number of places from exact integers, never floats.

Correctness under replays: sums and counts read `FINAL` (a replayed row collapses with its original
before being counted); "latest value" queries use `argMax(value, position)` (or the order key
`(ts_ns, position)` for prices), which a duplicate cannot change.

Definitions:

- last trade price of a symbol: price of its trade with the largest `(ts_ns, position)`;
- a position's state: its snapshot with the largest log position;
- exposure (quote minor units) = net_qty_lots x last price x tick_lot_value, signed (+ long);
- unrealized PnL = exposure - open_cost (the domain's `Position.unrealized_pnl` at the last price);
- net PnL = realized + unrealized - fees;
- an account's traded volume counts each trade once per side it was on (a self-trade counts twice);
- open interest of an account in a symbol = |net_qty_lots|, its share = that / sum over accounts;
- fees collected = postings of kind "fee" into the fee account, minus any out of it;
- order-to-trade ratio = order messages (placed + amended + cancelled) / trades the account took part in.

`QUERIES` maps each query's name to its function, for the command line.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

from domain.values import FEE_ACCOUNT
from projections.market_data import Interval

Row = dict[str, Any]

ORDER_MESSAGE_TYPES = ("placed", "amended", "cancelled")

# Latest state per (symbol, account), and the last trade price per symbol: shared by several queries.
_LATEST_POSITIONS = """
    SELECT symbol, account,
           argMax(net_qty_lots, position) AS net_qty_lots,
           argMax(open_cost, position) AS open_cost,
           argMax(realized_pnl, position) AS realized_pnl,
           argMax(fees_paid, position) AS fees_paid,
           argMax(tick_lot_value, position) AS tick_lot_value
    FROM position_snapshots
    WHERE {where}
    GROUP BY symbol, account"""

_LAST_PRICES = """
    SELECT symbol, argMax(price_ticks, (ts_ns, position)) AS last_price_ticks
    FROM trades
    GROUP BY symbol"""


def ratio(numerator: int, denominator: int, places: int = 6) -> Decimal:
    """numerator / denominator, rounded half-even to `places` decimals, exactly (integers in, no float)."""
    if denominator <= 0:
        raise ValueError("the denominator must be positive")
    negative = numerator < 0
    scaled, remainder = divmod(abs(numerator) * 10**places, denominator)
    if 2 * remainder > denominator or (2 * remainder == denominator and scaled % 2 == 1):
        scaled += 1
    return Decimal(-scaled if negative else scaled).scaleb(-places)


def _filters(**conditions: Any) -> tuple[str, dict[str, Any]]:
    """WHERE text and parameters for the optional equality filters that are not None."""
    clauses, parameters = ["1"], {}
    types = {"account": "Int64", "symbol": "String", "asset": "String"}
    for name, value in conditions.items():
        if value is not None:
            clauses.append(f"{name} = {{{name}:{types[name]}}}")
            parameters[name] = value
    return " AND ".join(clauses), parameters


def _rows(client: Client, query: str, parameters: dict[str, Any]) -> list[Row]:
    return list(client.query(query, parameters=parameters).named_results())


def exposure(client: Client, *, account: int | None = None, symbol: str | None = None) -> list[Row]:
    """Exposure by account and instrument: open positions marked at the last trade price.

    Columns: account, symbol, net_qty_lots, last_price_ticks, exposure (signed, quote minor units),
    gross_exposure (absolute). Flat positions are left out.
    """
    where, parameters = _filters(account=account, symbol=symbol)
    query = f"""
    SELECT p.account AS account, p.symbol AS symbol, p.net_qty_lots AS net_qty_lots,
           m.last_price_ticks AS last_price_ticks,
           toInt128(p.net_qty_lots) * m.last_price_ticks * p.tick_lot_value AS exposure,
           abs(toInt128(p.net_qty_lots) * m.last_price_ticks * p.tick_lot_value) AS gross_exposure
    FROM ({_LATEST_POSITIONS.format(where=where)}) AS p
    INNER JOIN ({_LAST_PRICES}) AS m ON p.symbol = m.symbol
    WHERE p.net_qty_lots != 0
    ORDER BY account, symbol"""
    return _rows(client, query, parameters)


def pnl(client: Client, *, account: int | None = None, symbol: str | None = None) -> list[Row]:
    """Realized and unrealized PnL by account and instrument (unrealized at the last trade price).

    Columns: account, symbol, net_qty_lots, last_price_ticks, realized_pnl, unrealized_pnl, fees_paid,
    net_pnl (= realized + unrealized - fees); quote minor units. Flat positions are included (their
    realized PnL and fees stay).
    """
    where, parameters = _filters(account=account, symbol=symbol)
    query = f"""
    SELECT p.account AS account, p.symbol AS symbol, p.net_qty_lots AS net_qty_lots,
           m.last_price_ticks AS last_price_ticks,
           toInt128(p.realized_pnl) AS realized_pnl,
           toInt128(p.net_qty_lots) * m.last_price_ticks * p.tick_lot_value - p.open_cost AS unrealized_pnl,
           toInt128(p.fees_paid) AS fees_paid,
           realized_pnl + unrealized_pnl - fees_paid AS net_pnl
    FROM ({_LATEST_POSITIONS.format(where=where)}) AS p
    INNER JOIN ({_LAST_PRICES}) AS m ON p.symbol = m.symbol
    ORDER BY account, symbol"""
    return _rows(client, query, parameters)


def vwap_volume(client: Client, interval: Interval | int = Interval.H1, *, symbol: str | None = None,
                start_ns: int | None = None, end_ns: int | None = None) -> list[Row]:
    """VWAP and volume per symbol and time bucket (UTC, epoch-aligned; an Interval or a width in ns).

    Columns: symbol, bucket_start_ns, trade_count, volume_lots, notional (quote minor units),
    price_volume (sum of price_ticks x qty_lots), vwap_ticks (price_volume / volume_lots, Decimal to
    6 places). Trades with ts_ns in [start_ns, end_ns) when given.
    """
    width = interval.length_ns if isinstance(interval, Interval) else int(interval)
    if width <= 0:
        raise ValueError("the interval width must be positive")
    where, parameters = _filters(symbol=symbol)
    if start_ns is not None:
        where += " AND ts_ns >= {start_ns:Int64}"
        parameters["start_ns"] = start_ns
    if end_ns is not None:
        where += " AND ts_ns < {end_ns:Int64}"
        parameters["end_ns"] = end_ns
    parameters["width"] = width
    query = f"""
    SELECT symbol, ts_ns - ts_ns % {{width:Int64}} AS bucket_start_ns,
           count() AS trade_count,
           sum(toInt128(qty_lots)) AS volume_lots,
           sum(toInt128(notional)) AS notional,
           sum(toInt128(price_ticks) * qty_lots) AS price_volume
    FROM trades FINAL
    WHERE {where}
    GROUP BY symbol, bucket_start_ns
    ORDER BY symbol, bucket_start_ns"""
    rows = _rows(client, query, parameters)
    for row in rows:
        row["vwap_ticks"] = ratio(int(row["price_volume"]), int(row["volume_lots"]))
    return rows


def top_accounts_by_volume(client: Client, *, limit: int = 10, symbol: str | None = None) -> list[Row]:
    """Concentration by traded volume: the `limit` accounts with the largest traded notional.

    Columns: account, trade_count, volume_lots, notional, share (of all accounts' traded notional,
    Decimal to 6 places), rank (1 = largest; ties ordered by account).
    """
    where, parameters = _filters(symbol=symbol)
    query = f"""
    SELECT account, count() AS trade_count, sum(toInt128(qty_lots)) AS volume_lots,
           sum(toInt128(notional)) AS notional
    FROM trades FINAL
    ARRAY JOIN [buy_account, sell_account] AS account
    WHERE {where}
    GROUP BY account
    ORDER BY notional DESC, account"""
    rows = _rows(client, query, parameters)
    total = sum(int(row["notional"]) for row in rows)
    for rank, row in enumerate(rows, start=1):
        row["share"] = ratio(int(row["notional"]), total) if total else Decimal(0)
        row["rank"] = rank
    return rows[:limit]


def top_accounts_by_open_interest(client: Client, *, limit: int = 10, symbol: str | None = None) -> list[Row]:
    """Concentration by open interest: per symbol, the `limit` accounts with the largest |net qty|.

    Columns: symbol, account, net_qty_lots, open_interest_lots (|net|), share (of the symbol's summed
    |net|, Decimal to 6 places), rank within the symbol (ties ordered by account).
    """
    if limit <= 0:
        raise ValueError("limit must be positive")
    where, parameters = _filters(symbol=symbol)
    parameters["limit"] = limit
    query = f"""
    SELECT symbol, account, net_qty_lots, open_interest_lots, symbol_open_interest_lots,
           row_number() OVER (PARTITION BY symbol ORDER BY open_interest_lots DESC, account) AS rank
    FROM (
        SELECT symbol, account, net_qty_lots, toInt128(abs(net_qty_lots)) AS open_interest_lots,
               sum(toInt128(abs(net_qty_lots))) OVER (PARTITION BY symbol) AS symbol_open_interest_lots
        FROM ({_LATEST_POSITIONS.format(where=where)})
        WHERE net_qty_lots != 0
    )
    ORDER BY symbol, rank
    LIMIT {{limit:UInt32}} BY symbol"""
    rows = _rows(client, query, parameters)
    for row in rows:
        row["share"] = ratio(int(row["open_interest_lots"]), int(row.pop("symbol_open_interest_lots")))
    return rows


def fees_collected(client: Client, *, fee_account: int = FEE_ACCOUNT, asset: str | None = None) -> list[Row]:
    """Fees collected by the venue, per asset and instrument.

    Columns: asset, symbol, fee_postings (count), fees (minor units of the asset: credited to the fee
    account minus debited from it, over postings of kind "fee").
    """
    where, parameters = _filters(asset=asset)
    parameters["fee_account"] = fee_account
    query = f"""
    SELECT asset, symbol, count() AS fee_postings,
           sum(if(credit_account = {{fee_account:Int64}}, toInt128(amount), -toInt128(amount))) AS fees
    FROM postings FINAL
    WHERE kind = 'fee' AND (credit_account = {{fee_account:Int64}} OR debit_account = {{fee_account:Int64}})
      AND {where}
    GROUP BY asset, symbol
    ORDER BY asset, symbol"""
    return _rows(client, query, parameters)


def order_to_trade_ratio(client: Client, *, account: int | None = None, symbol: str | None = None) -> list[Row]:
    """Order-to-trade ratio per account and instrument.

    Columns: account, symbol, order_messages (placed + amended + cancelled order events), trades
    (trades the account was on either side of, a self-trade once), ratio (Decimal to 3 places;
    None when the account has no trade).
    """
    where, parameters = _filters(account=account, symbol=symbol)
    types = ", ".join(f"'{kind}'" for kind in ORDER_MESSAGE_TYPES)
    query = f"""
    SELECT account, symbol, sum(messages) AS order_messages, sum(fills) AS trades
    FROM (
        SELECT account, symbol, count() AS messages, toUInt64(0) AS fills
        FROM order_events FINAL
        WHERE event_type IN ({types})
        GROUP BY account, symbol
        UNION ALL
        SELECT account, symbol, toUInt64(0) AS messages, count() AS fills
        FROM trades FINAL
        ARRAY JOIN arrayDistinct([buy_account, sell_account]) AS account
        GROUP BY account, symbol
    )
    WHERE {where}
    GROUP BY account, symbol
    ORDER BY account, symbol"""
    rows = _rows(client, query, parameters)
    for row in rows:
        trades = int(row["trades"])
        row["ratio"] = ratio(int(row["order_messages"]), trades, places=3) if trades else None
    return rows


QUERIES: dict[str, Callable[..., list[Row]]] = {
    "exposure": exposure,
    "pnl": pnl,
    "vwap-volume": vwap_volume,
    "top-accounts-by-volume": top_accounts_by_volume,
    "top-accounts-by-open-interest": top_accounts_by_open_interest,
    "fees-collected": fees_collected,
    "order-to-trade-ratio": order_to_trade_ratio,
}
