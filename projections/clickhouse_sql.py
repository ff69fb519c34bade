"""The ClickHouse projection computed inside ClickHouse: a window of staged events to the analytics rows.

`projections.clickhouse_projector` builds the analytics rows in Python, event by event (about 25 us of CPU
per event). This module builds the same rows (same tables, same values, see that module's docstring)
with a few INSERT ... SELECT statements over a window of events already staged in ClickHouse, so the
per-event work runs in ClickHouse's vectorised engine. Position snapshots are the exception: they stay
with the Python projector, which folds positions with the domain's own rule (a small share of the log).

The staged tables (`STAGED_TABLES`, Memory engine, emptied per window) are this module's input contract:
one row per order event (a fills event carries its fills as an array), one per postings event (its
entries as an array), one per wallet opened. `infra/clickhouse_staging.py` fills them from the event
store. Everything here is domain-level: event types, quantities, prices; no storage format.

State across windows lives in ClickHouse too, versioned by the window that wrote it (`asof` = the
window's last log position), so a window written again after a crash reads exactly the state it read
the first time (rows of a later `asof` are ignored):

- `order_state`: per order touched by a window, its identity, limit price, open qty and version after
  that window (ReplacingMergeTree keyed by order and asof, so a rewritten window collapses);
- `pending_fills`: the trade halves still waiting for their partner after a window (a venue writes both
  halves of a trade in one transaction, but a window boundary can fall between them);
- `wallet_owners`: wallet aggregate id -> account.

The recorded position is therefore always a window's end: nothing is rewound for a waiting half.

Every window is checked as the Python projector checks it, and a violation raises `ProjectionError`
before the position moves: an order event for an order never placed (or placed twice), a gap or repeat
in an order's versions, a trade whose halves are not one buy and one sell, one maker and one taker, with
the same price, qty and time; postings for a wallet never opened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Final

from clickhouse_connect.driver.client import Client

from projections import clickhouse_store as store
from projections.folds import ProjectionError

Hook = Callable[[str], None]  # called with a table's name after each insert (tests inject failures there)

STAGED_ORDER_EVENTS: Final = "staged_order_events"
STAGED_POSTINGS: Final = "staged_postings"
STAGED_WALLETS: Final = "staged_wallets"

# The input contract. event_type is the read models' name of the order event (folds.ORDER_EVENT_TYPES).
# qty_lots: placed = ordered qty, amended = new open qty, reduced/cancelled/expired = qty removed, else 0;
# price_ticks: placed = limit price, amended = new limit price, else 0; leaves_qty_lots: amended only.
STAGED_TABLES: Final = {
    STAGED_ORDER_EVENTS: """(
    position Int64, order_uuid UUID, version Int64, event_type LowCardinality(String), at_ns Int64,
    symbol String, order_id Int64, account Int64, side String, order_type String, outcome String, reason String,
    qty_lots Int64, price_ticks Int64, leaves_qty_lots Int64,
    fills Array(Tuple(trade_id String, price_ticks Int64, qty_lots Int64, fee Int64, liquidity String)))""",
    STAGED_POSTINGS: """(
    position Int64, wallet_uuid UUID, at_ns Int64,
    entries Array(Tuple(posting_id String, asset String, amount Int64, counterparty Int64, kind String)))""",
    STAGED_WALLETS: "(wallet_uuid UUID, account Int64)",
}

_STATE_TABLES: Final = (
    """CREATE TABLE IF NOT EXISTS order_state (
    order_uuid UUID, asof Int64, symbol LowCardinality(String), order_id Int64, account Int64,
    side LowCardinality(String), order_type LowCardinality(String), price_ticks Int64, leaves_qty_lots Int64,
    version Int64
) ENGINE = ReplacingMergeTree(asof) ORDER BY (order_uuid, asof)""",
    """CREATE TABLE IF NOT EXISTS pending_fills (
    asof Int64, trade_id String, position Int64, seq UInt32, at_ns Int64, symbol LowCardinality(String),
    order_id Int64, account Int64, side LowCardinality(String), price_ticks Int64, qty_lots Int64,
    liquidity LowCardinality(String)
) ENGINE = ReplacingMergeTree(asof) ORDER BY (asof, trade_id, side)""",
    """CREATE TABLE IF NOT EXISTS wallet_owners (wallet_uuid UUID, account Int64)
ENGINE = ReplacingMergeTree ORDER BY wallet_uuid""",
)

_ORDER_ROWS: Final = "window_order_rows"  # the window's order rows with their order id (Memory, per window)
_PAIRS: Final = "window_trade_halves"  # the window's halves grouped by trade id (Memory, per window)


def create_staging(client: Client) -> None:
    """The staged tables (emptied per window) and the window's working table."""
    for name, columns in STAGED_TABLES.items():
        client.command(f"CREATE TABLE IF NOT EXISTS {name} {columns} ENGINE = Memory")
    client.command(f"""CREATE TABLE IF NOT EXISTS {_ORDER_ROWS} (
    order_uuid UUID, version Int64, position Int64, seq UInt32, ts_ns Int64, symbol String, account Int64,
    order_id Int64, event_type String, side String, order_type String, price_ticks Int64, qty_lots Int64,
    leaves_qty_lots Int64, fee Int64, liquidity String, trade_id String, reason String, limit_price Int64,
    is_last Bool, broken Bool
) ENGINE = Memory""")
    client.command(f"""CREATE TABLE IF NOT EXISTS {_PAIRS} (
    trade_id String, halves UInt64, t_symbol String, t_at_ns Int64, t_price_ticks Int64, t_qty_lots Int64,
    taker_side String, buy_account Int64, sell_account Int64, buy_order_id Int64, sell_order_id Int64,
    last_position Int64, sound Bool
) ENGINE = Memory""")


def create_state_tables(client: Client) -> bool:
    """Create the state tables if missing; True if `order_state` already existed."""
    existed = bool(client.command("EXISTS TABLE order_state"))
    for statement in _STATE_TABLES:
        client.command(statement)
    return existed


def clear_staging(client: Client) -> None:
    for name in (*STAGED_TABLES, _ORDER_ROWS, _PAIRS):
        client.command(f"TRUNCATE TABLE {name}")


def seed_order_state(client: Client, asof: int, rows: Iterable[tuple[object, ...]]) -> None:
    """Open orders as of `asof` into `order_state` (a generation the Python projector filled so far):
    (order_uuid, symbol, order_id, account, side, order_type, price_ticks, leaves_qty_lots, version)."""
    data = [(uuid, asof, *rest) for uuid, *rest in rows]
    if data:
        client.insert("order_state", data, column_names=["order_uuid", "asof", "symbol", "order_id", "account", "side",
                                                         "order_type", "price_ticks", "leaves_qty_lots", "version"])


# ---- one window ------------------------------------------------------------------------------------

# Order rows. Each order's rows in the window, with its prior state (as of the window's start) first,
# are gathered into one array ordered by (position, seq), fills exploded. An event either sets the open
# qty (placement, rejection, amendment, cancellation, expiry; the prior state) or moves it (fills,
# reductions): the open qty after a row is the last value set plus the moves since (forward-filled set
# values and running sums of the moves). The limit price is the last one set (placement, amendment,
# prior state); the identity comes from the first row (placement or prior state).
# `broken`: the order's events do not follow its prior version (or a placement at version 1) without gap
# or repeat, or it is placed twice, or never.
# Tuple fields: 1 version, 2 position, 3 seq, 4 ts_ns, 5 event_type, 6 set_leaves, 7 move, 8 set_price,
# 9 fill_price, 10 qty_lots, 11 fee, 12 liquidity, 13 trade_id, 14 reason, 15 symbol, 16 account,
# 17 order_id, 18 side, 19 order_type.
_ORDER_ROWS_SQL: Final = f"""
INSERT INTO {_ORDER_ROWS}
SELECT order_uuid, r.1, r.2, r.3, r.4, head.15, head.16, head.17, r.5, head.18, head.19,
       if(r.5 = 'filled', r.9, assumeNotNull(price)), r.10, assumeNotNull(base) + cum - assumeNotNull(cum_at_set),
       r.11, r.12, r.13, r.14, assumeNotNull(price), i = length(rows), broken
FROM (
    SELECT order_uuid, rows, rows[1] AS head,
           arrayMap(x -> x.6, rows) AS sets,
           arrayCumSum(arrayMap(x -> x.7, rows)) AS cums,
           arrayFill(x -> isNotNull(x), sets) AS bases,
           arrayFill(x -> isNotNull(x), arrayMap((v, c) -> if(isNull(v), NULL, c), sets, cums)) AS cums_at_set,
           arrayFill(x -> isNotNull(x), arrayMap(x -> x.8, rows)) AS prices,
           arrayDistinct(arrayMap(x -> x.1, rows)) AS versions,
           countEqual(arrayMap(x -> x.5, rows), 'placed') + (head.2 < 0) != 1
             OR (head.2 >= 0 AND (head.5 != 'placed' OR head.1 != 1))
             OR versions != arrayMap(k -> versions[1] + k - 1, arrayEnumerate(versions))
             OR length(versions) != length(arrayDistinct(arrayMap(x -> x.2, rows))) AS broken
    FROM (
        SELECT order_uuid,
               arraySort(x -> (x.2, x.3), groupArray(tuple(version, position, seq, ts_ns, event_type, set_leaves,
                                                           move, set_price, fill_price, qty_lots, fee, liquidity,
                                                           trade_id, reason, symbol, account, order_id, side,
                                                           order_type))) AS rows
        FROM (
            SELECT order_uuid, p_version AS version, -1 AS position, toUInt32(0) AS seq, toInt64(0) AS ts_ns,
                   '' AS event_type, toNullable(p_leaves) AS set_leaves, toInt64(0) AS move,
                   toNullable(p_price) AS set_price, toInt64(0) AS fill_price, toInt64(0) AS qty_lots,
                   toInt64(0) AS fee, '' AS liquidity, '' AS trade_id, '' AS reason, toString(p_symbol) AS symbol,
                   p_account AS account, p_order_id AS order_id, toString(p_side) AS side,
                   toString(p_order_type) AS order_type
            FROM (SELECT order_uuid,
                         argMax(tuple(symbol, order_id, account, side, order_type, price_ticks, leaves_qty_lots,
                                      version), asof) AS s,
                         s.1 AS p_symbol, s.2 AS p_order_id, s.3 AS p_account, s.4 AS p_side, s.5 AS p_order_type,
                         s.6 AS p_price, s.7 AS p_leaves, s.8 AS p_version
                  FROM order_state
                  WHERE asof <= {{after:Int64}} AND order_uuid IN (SELECT order_uuid FROM {STAGED_ORDER_EVENTS})
                  GROUP BY order_uuid)
            UNION ALL
            SELECT order_uuid, version, position, toUInt32(0), at_ns, toString(event_type),
                   multiIf(event_type = 'placed', if(outcome = 'rejected', toInt64(0), qty_lots),
                           event_type = 'amended', leaves_qty_lots,
                           event_type IN ('rejected', 'cancelled', 'expired'), toInt64(0), NULL),
                   if(event_type = 'reduced', -qty_lots, toInt64(0)),
                   if(event_type IN ('placed', 'amended'), toNullable(price_ticks), NULL),
                   toInt64(0), qty_lots, toInt64(0), '', '', reason, symbol, account, order_id, side, order_type
            FROM {STAGED_ORDER_EVENTS} WHERE event_type != 'filled'
            UNION ALL
            SELECT order_uuid, version, position, toUInt32(n - 1), at_ns, 'filled', NULL, -fill.qty_lots, NULL,
                   fill.price_ticks, fill.qty_lots, fill.fee, fill.liquidity, fill.trade_id, '', '', toInt64(0),
                   toInt64(0), '', ''
            FROM {STAGED_ORDER_EVENTS} ARRAY JOIN fills AS fill, arrayEnumerate(fills) AS n
            WHERE event_type = 'filled'
        )
        GROUP BY order_uuid
    )
)
ARRAY JOIN rows AS r, bases AS base, cums AS cum, cums_at_set AS cum_at_set, prices AS price,
           arrayEnumerate(rows) AS i
WHERE r.2 >= 0"""

_ORDER_CHECK_SQL: Final = f"SELECT count(), any(toString(order_uuid)) FROM {_ORDER_ROWS} WHERE broken"

_ORDER_EVENTS_SQL: Final = f"""
INSERT INTO order_events (position, seq, ts_ns, symbol, account, order_id, event_type, side, order_type,
                          price_ticks, qty_lots, leaves_qty_lots, fee, liquidity, trade_id, reason)
SELECT position, seq, ts_ns, symbol, account, order_id, event_type, side, order_type, price_ticks, qty_lots,
       leaves_qty_lots, fee, liquidity, trade_id, reason
FROM {_ORDER_ROWS}"""

_ORDER_STATE_SQL: Final = f"""
INSERT INTO order_state
SELECT order_uuid, {{stop:Int64}}, symbol, order_id, account, side, order_type, limit_price, leaves_qty_lots, version
FROM {_ORDER_ROWS} WHERE is_last"""

# The halves: this window's fills and the halves still waiting after the previous window.
_HALVES: Final = f"""
SELECT trade_id, position, seq, ts_ns AS at_ns, symbol, order_id, account, side, price_ticks, qty_lots, liquidity
FROM {_ORDER_ROWS} WHERE event_type = 'filled'
UNION ALL
SELECT trade_id, position, seq, at_ns, symbol, order_id, account, side, price_ticks, qty_lots, liquidity
FROM pending_fills WHERE asof = {{after:Int64}}"""

_PAIRED: Final = f"""
INSERT INTO {_PAIRS}
SELECT trade_id, count() AS halves,
       anyIf(symbol, side = 'buy') AS t_symbol, anyIf(at_ns, side = 'buy') AS t_at_ns,
       anyIf(price_ticks, side = 'buy') AS t_price_ticks, anyIf(qty_lots, side = 'buy') AS t_qty_lots,
       if(anyIf(liquidity, side = 'buy') = 'taker', 'buy', 'sell') AS taker_side,
       anyIf(account, side = 'buy') AS buy_account, anyIf(account, side = 'sell') AS sell_account,
       anyIf(order_id, side = 'buy') AS buy_order_id, anyIf(order_id, side = 'sell') AS sell_order_id,
       max(position) AS last_position,
       countIf(side = 'buy') = 1 AND countIf(side = 'sell') = 1
         AND countIf(liquidity = 'maker') = 1 AND countIf(liquidity = 'taker') = 1
         AND uniqExact(symbol) = 1 AND uniqExact(price_ticks) = 1 AND uniqExact(qty_lots) = 1
         AND uniqExact(at_ns) = 1 AND match(trade_id, '^[^:]+:[0-9]+$')
         AND splitByChar(':', trade_id)[1] = anyIf(symbol, side = 'buy')
         AND has({{symbols:Array(String)}}, anyIf(symbol, side = 'buy')) AS sound
FROM ({_HALVES})
GROUP BY trade_id"""

_TRADE_CHECK_SQL: Final = (f"SELECT count(), any(trade_id) FROM {_PAIRS} "
                           "WHERE halves > 2 OR (halves = 2 AND NOT sound)")

# notional = price x qty x the instrument's tick_lot_value in force at the trade (the spec history).
_TRADES_SQL: Final = f"""
INSERT INTO trades (position, trade_id, symbol, ts_ns, price_ticks, qty_lots, notional, taker_side, buy_account,
                    sell_account, buy_order_id, sell_order_id)
SELECT toInt64(splitByChar(':', p.trade_id)[2]), p.trade_id, p.t_symbol, p.t_at_ns, p.t_price_ticks, p.t_qty_lots,
       p.t_price_ticks * p.t_qty_lots * s.tick_lot_value, p.taker_side, p.buy_account, p.sell_account,
       p.buy_order_id, p.sell_order_id
FROM {_PAIRS} AS p
ASOF LEFT JOIN (SELECT * FROM values('symbol String, since Int64, tick_lot_value Int64', <specs>)) AS s
    ON p.t_symbol = s.symbol AND p.last_position > s.since
WHERE p.halves = 2"""

_PENDING_SQL: Final = f"""
INSERT INTO pending_fills
SELECT {{stop:Int64}}, trade_id, position, seq, at_ns, symbol, order_id, account, side, price_ticks, qty_lots,
       liquidity
FROM ({_HALVES})
WHERE trade_id IN (SELECT trade_id FROM {_PAIRS} WHERE halves = 1)"""

_WALLETS_SQL: Final = f"INSERT INTO wallet_owners SELECT wallet_uuid, account FROM {STAGED_WALLETS}"

_POSTINGS_CHECK_SQL: Final = f"""
SELECT count(), any(toString(wallet_uuid)) FROM {STAGED_POSTINGS}
WHERE wallet_uuid NOT IN (SELECT wallet_uuid FROM wallet_owners)"""

# One row per posting, from its paying leg; symbol: the listed market a trade or fee posting's id starts with.
_POSTINGS_SQL: Final = f"""
INSERT INTO postings (position, seq, ts_ns, posting_id, asset, amount, debit_account, credit_account, kind, symbol)
SELECT p.position, toUInt32(p.n - 1), p.at_ns, p.e.posting_id, p.e.asset, -p.e.amount, w.account,
       p.e.counterparty, p.e.kind,
       if(p.e.kind IN ('trade', 'fee') AND has({{symbols:Array(String)}}, splitByChar(':', p.e.posting_id)[1]),
          splitByChar(':', p.e.posting_id)[1], '')
FROM (SELECT position, at_ns, wallet_uuid, e, n FROM {STAGED_POSTINGS}
      ARRAY JOIN entries AS e, arrayEnumerate(entries) AS n WHERE e.amount < 0) AS p
INNER JOIN (SELECT wallet_uuid, any(account) AS account FROM wallet_owners GROUP BY wallet_uuid) AS w
    ON p.wallet_uuid = w.wallet_uuid"""


def _specs_literal(specs: Sequence[tuple[str, int, int]]) -> str:
    """(symbol, listed or changed at position, tick_lot_value) rows as a values() literal."""
    if not specs:
        return "('', -1, 0)"
    for symbol, _, _ in specs:
        if not symbol.replace("-", "").replace("_", "").replace(".", "").replace("/", "").isalnum():
            raise ProjectionError(f"unexpected instrument symbol {symbol!r}")
    return ", ".join(f"('{symbol}', {int(since)}, {int(value)})" for symbol, since, value in specs)


def apply_window(client: Client, after: int, stop: int, specs: Sequence[tuple[str, int, int]],
                 hook: Hook | None = None) -> None:
    """Turn the staged window (after, stop] into trades, order_events and postings rows, and the state
    as of `stop`. Each insert carries a deduplication token made of the table and the window, so a
    window written again after a crash (same range, same events) is dropped at insert time; rows of a
    differently cut window collapse under FINAL (see clickhouse_store)."""
    window: dict[str, object] = {"after": after, "stop": stop}
    symbols = sorted({symbol for symbol, _, _ in specs})

    def insert(table: str, statement: str, parameters: dict[str, object]) -> None:
        client.command(statement, parameters=parameters,
                       settings={"insert_deduplicate": 1, "insert_deduplication_token": f"{table}:{after}:{stop}",
                                 "optimize_on_insert": 0})
        if hook is not None:
            hook(table)

    client.command(f"TRUNCATE TABLE {_ORDER_ROWS}")
    client.command(_ORDER_ROWS_SQL, parameters=window)
    _check(client, _ORDER_CHECK_SQL, window, "order {} has an event out of order, before its placement, "
                                             "or is placed twice (an event lost or repeated)")
    client.command(f"TRUNCATE TABLE {_PAIRS}")
    client.command(_PAIRED, parameters={**window, "symbols": symbols})
    _check(client, _TRADE_CHECK_SQL, window,
           "trade {}: its fills are not one buy and one sell, one maker and one taker, at the same price, qty "
           "and time, of a listed instrument")
    trades = _TRADES_SQL.replace("<specs>", _specs_literal(specs))
    insert(store.TRADES.name, trades, window)
    insert(store.ORDER_EVENTS.name, _ORDER_EVENTS_SQL, window)
    insert("wallet_owners", _WALLETS_SQL, window)
    _check(client, _POSTINGS_CHECK_SQL, window, "entries for a wallet never opened: {}")
    insert(store.POSTINGS.name, _POSTINGS_SQL, {**window, "symbols": symbols})
    insert("pending_fills", _PENDING_SQL, window)
    insert("order_state", _ORDER_STATE_SQL, window)


def _check(client: Client, query: str, parameters: dict[str, object], message: str) -> None:
    count, example = client.query(query, parameters=parameters).result_rows[0]
    if int(count):
        raise ProjectionError(message.format(example))
