"""Helpers of the PostgreSQL projection tests: run the projectors, read tables back, compare with the model."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from infra.projector_runner import LogReader, PgRunner
from projections.catalog import pg_projectors
from projections.market_data import INTERVALS, all_candles
from projections.pg_instruments import instrument_as_of
from projections.pg_market_data import read_candles
from projections.pg_projector import PgProjector
from projections.pg_tracking import ReadStore
from tests.projections.log_model import Model


@contextmanager
def pg_runner(session: Any, prefix: str, batch_size: int = 37,
              projectors: Sequence[PgProjector] | None = None) -> Iterator[PgRunner]:
    """A runner over the session's log for the read models under `prefix` (set up, not yet caught up)."""
    reader = LogReader(session.ledger, session.conninfo)
    runner = PgRunner(reader, session.conninfo, projectors if projectors is not None else pg_projectors(),
                      ReadStore(prefix), batch_size=batch_size)
    try:
        runner.setup()
        yield runner
    finally:
        runner.close()
        reader.close()


def rows(conn: psycopg.Connection[Any], query: str, *params: Any) -> list[tuple[Any, ...]]:
    return [tuple(int(v) if _integral_decimal(v) else v for v in row) for row in conn.execute(query, params)]


def _integral_decimal(value: Any) -> bool:
    from decimal import Decimal

    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise AssertionError(f"a non-integer amount in a read model: {value}")
        return True
    return False


def assert_read_models_match(conn: psycopg.Connection[Any], prefix: str, m: Model) -> None:
    """Every PostgreSQL read model under `prefix` equals the from-scratch model, table by table."""
    p = prefix
    # orders: current state
    got = {(r[0], r[1]): r[2:] for r in rows(conn, f"""
        SELECT symbol, order_id, account_id, side, status, price_ticks, leaves_qty_lots, filled_qty_lots,
               filled_notional_ticks_lots, fees_paid, triggered, reason, version, placed_position, last_position
        FROM {p}.orders""")}
    want = {key: (o["account_id"], o["side"], o["status"], o["price_ticks"], o["leaves"], o["filled"], o["notional"],
                  o["fees"], o["triggered"], o["reason"], o["version"], o["placed_position"], o["last_position"])
            for key, o in m.orders.items()}
    assert got == want
    # orders: every event
    got_events = rows(conn, f"SELECT symbol, order_id, version, position, event_type, status, price_ticks, "
                            f"leaves_qty_lots, qty_lots FROM {p}.order_events ORDER BY position, symbol, order_id")
    assert got_events == sorted(m.order_events, key=lambda e: (e[3], e[0], e[1]))
    # fills and trades
    assert rows(conn, f"SELECT account_id, position, seq, symbol, order_id, trade_id, side, price_ticks, qty_lots, "
                      f"fee, liquidity FROM {p}.fills ORDER BY position, seq") == sorted(m.fills, key=lambda f: f[1:3])
    trade_columns = ("symbol", "number", "trade_id", "at_ns", "position", "price_ticks", "qty_lots", "notional",
                     "taker_side", "buy_account", "sell_account", "buy_order_id", "sell_order_id", "buy_fee",
                     "sell_fee")
    assert rows(conn, f"SELECT {', '.join(c if c != 'number' else 'trade_number' for c in trade_columns)} "
                      f"FROM {p}.trades ORDER BY symbol, trade_number") == \
        [tuple(t[c] for c in trade_columns) for _, t in sorted(m.trades.items())]
    # balances and the journal
    got_balances = {(r[0], r[1]): r[2:] for r in rows(conn, f"SELECT account_id, asset, total, held, available "
                                                            f"FROM {p}.balances")}
    assert got_balances == {key: (total, held, total - held) for key, (total, held) in m.balances.items()}
    for asset, in conn.execute(f"SELECT DISTINCT asset FROM {p}.balances").fetchall():
        total, = conn.execute(f"SELECT sum(total) FROM {p}.balances WHERE asset = %s", (asset,)).fetchone() or (None,)
        assert total == 0, f"{asset} does not sum to zero over the wallets"
    assert rows(conn, f"SELECT account_id, asset, position, seq, posting_id, amount, counterparty, kind, hold_ref, "
                      f"balance_after, held_after FROM {p}.postings ORDER BY position, seq, account_id") == \
        sorted(m.journal, key=lambda j: (j[2], j[3], j[0]))
    # positions, marked at the last trade price
    got_positions = {(r[0], r[1]): r[2:] for r in rows(conn, f"""
        SELECT account_id, symbol, net_qty_lots, open_cost, realized_pnl, fees_paid, bought_lots, sold_lots,
               last_price_ticks, unrealized_pnl, avg_price_numerator, avg_price_denominator
        FROM {p}.positions_marked""")}
    want_positions = {}
    for (account, symbol), q in m.positions.items():
        last = m.last_price[symbol][3]
        want_positions[(account, symbol)] = (
            q["net"], q["cost"], q["realized"], q["fees"], q["bought"], q["sold"], last,
            q["net"] * last * q["tick_lot_value"] - q["cost"], abs(q["cost"]), abs(q["net"]) * q["tick_lot_value"])
    assert got_positions == want_positions
    assert dict(rows(conn, f"SELECT symbol, price_ticks FROM {p}.last_prices")) == \
        {symbol: key[3] for symbol, key in m.last_price.items()}
    # instruments now and as of every past position where one changed (and just before)
    for symbol, history in m.instrument_history.items():
        assert rows(conn, f"SELECT status, version, maker_fee_ppm FROM {p}.instruments WHERE symbol = %s", symbol) == \
            [(history[-1][1]["status"], history[-1][1]["version"], history[-1][1]["maker_fee_ppm"])]
        with conn.cursor() as cur:
            assert instrument_as_of(cur, symbol, history[0][0] - 1, schema=p) is None
            for position, _ in history:
                for at in (position, position + 1):
                    found = instrument_as_of(cur, symbol, at, schema=p)
                    assert found is not None
                    later = [s for pos, s in history if pos <= at][-1]
                    assert (found["status"], found["version"], found["maker_fee_ppm"], found["tick_size"]) == \
                        (later["status"], later["version"], later["maker_fee_ppm"], later["tick_size"])
    assert dict(rows(conn, f"SELECT code, scale FROM {p}.assets")) == m.assets
    # market data: the trades and every interval's candles
    trade_rows = m.trade_rows()
    assert rows(conn, f"SELECT symbol, position, trade_id, ts_ns, price_ticks, qty_lots, notional, taker_side, "
                      f"buy_account, sell_account, buy_order_id, sell_order_id FROM {p}.md_trades "
                      f"ORDER BY symbol, position") == \
        sorted((t.symbol, t.position, t.trade_id, t.ts_ns, t.price_ticks, t.qty_lots, t.notional, t.taker_side,
                t.buy_account, t.sell_account, t.buy_order_id, t.sell_order_id) for t in trade_rows)
    expected = all_candles(trade_rows)
    schema = conn.execute(f"SELECT generation FROM {p}.projections WHERE name = 'market_data'").fetchone()
    assert schema is not None
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(f"{p}_market_data_g{schema[0]}")))
        for interval in INTERVALS:
            assert read_candles(cur, interval) == sorted(expected[interval].values(), key=lambda c: c.key)
        cur.execute("SET search_path TO DEFAULT")


def checksums(conn: psycopg.Connection[Any], schema: str) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every table of a schema, rows in key order (partitions through their parent)."""
    tables = [name for name, in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname", (schema,))]
    out = {}
    for table in tables:
        name = sql.Identifier(schema, table)
        count, digest = conn.execute(sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t").format(name)
        ).fetchone() or (0, "")
        out[table] = (int(count), str(digest))
    return out
