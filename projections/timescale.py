"""Market data on TimescaleDB: a hypertable of trades and hierarchical continuous aggregates for the candles.

Chosen at run time: `market_data_backend(conn)` answers "timescaledb" when the server can install the
extension (`timescale_available`), else "postgres" (the fallback in `projections.pg_market_data`).

Objects (the same names, columns and types as the fallback, so readers do not care which path runs):

- `md_trades`: the fallback's trade table, unpartitioned, turned into a hypertable on the integer time
  `ts_ns` with one-day chunks; `md_now_ns()` is its integer "now" (needed by the refresh policies).
- `md_candles_1m`: continuous aggregate over `md_trades`; `md_candles_5m` over `md_candles_1m`;
  `md_candles_1h` over `md_candles_5m`; `md_candles_1d` over `md_candles_1h` (hierarchical, TimescaleDB
  >= 2.9). Their SELECTs use the fallback's own aggregate expressions (`TRADE_AGGREGATES`,
  `ROLLUP_AGGREGATES`) and `time_bucket(width_ns, ...)`, which for non-negative integer times is the
  fallback's `ts - ts % width`: the same candles by construction.

Late data policy:

- the aggregates are real-time (`materialized_only = false`): above the materialization watermark a
  query aggregates the raw rows, so recent candles are exact as soon as the trade is committed;
- each refresh policy has `start_offset => NULL` (the whole history) and `end_offset` = one bucket
  (the open bucket is served in real time), and runs on `SCHEDULE` (1m every minute, 5m every 5
  minutes, 1h and 1d every hour). A trade inserted below the watermark (a late trade) is recorded in
  TimescaleDB's invalidation log; the next 1m run re-materializes exactly the invalidated buckets, which
  in turn invalidates the 5m buckets above them, and so on up. Until then the materialized buckets
  holding a late trade are stale: the candles are exact again once each level's job has run after the
  level below (at most about 1 + 5 + 60 + 60 minutes), with no cut-off however old the trade;
- the projector may make that immediate: after committing a batch that held late trades, it runs
  `refresh_statements(oldest_ns, newest_ns)` (outside a transaction: `refresh_continuous_aggregate`
  refuses to run inside one).

The fallback has no such window: it is exact at commit for any lateness.

How it is checked (no official TimescaleDB build on these machines; docs/read-models.md has the detail):
the test suite parses every statement with PostgreSQL 15's own parser and runs the aggregates' SELECTs
as plain views (with a stand-in `time_bucket`), which give the fallback's candles with the same column
names and types; `tests/projections/timescale_smoke.py`, run by hand, executes these statements on an
unofficial WebAssembly build (PGlite, PostgreSQL 17 + TimescaleDB 2.23.0-dev) and checks real-time
aggregation, the late-data staleness and its refresh, and equality with the pure function. Never
exercised: the policies' background jobs actually running (that build has no background workers), a
native TimescaleDB server, concurrent writers, large volumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import psycopg

from projections.market_data import INTERVALS, NS_PER_DAY, Interval, TradeRow
from projections.pg_market_data import (
    ROLLUP_AGGREGATES,
    STAGE_TABLE,
    TRADE_AGGREGATES,
    TRADE_COLUMNS,
    TRADES_TABLE,
    candle_table,
    clear_stage,
    stage_trades,
    trades_table_sql,
)

EXTENSION = "timescaledb"

# Policy schedule per level: how often the refresh job runs (a PostgreSQL interval).
SCHEDULE: dict[Interval, str] = {
    Interval.M1: "1 minute",
    Interval.M5: "5 minutes",
    Interval.H1: "1 hour",
    Interval.D1: "1 hour",
}


def timescale_available(conn: psycopg.Connection[Any]) -> bool:
    """True if the server can install (or has installed) the TimescaleDB extension."""
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = %s)", (EXTENSION,)).fetchone()
    return bool(row and row[0])


def market_data_backend(conn: psycopg.Connection[Any]) -> Literal["timescaledb", "postgres"]:
    """Which market data path the projector uses on this server."""
    return "timescaledb" if timescale_available(conn) else "postgres"


def cagg_query(interval: Interval) -> str:
    """The SELECT of `interval`'s continuous aggregate (also run as a plain view by the tests)."""
    width = interval.length_ns
    source = interval.source
    if source is None:
        return (f"SELECT symbol, time_bucket({width}::bigint, ts_ns) AS bucket_start_ns, {TRADE_AGGREGATES}\n"
                f"FROM {TRADES_TABLE}\nGROUP BY symbol, time_bucket({width}::bigint, ts_ns)")
    return (f"SELECT symbol, time_bucket({width}::bigint, bucket_start_ns) AS bucket_start_ns, {ROLLUP_AGGREGATES}\n"
            f"FROM {candle_table(source)}\nGROUP BY symbol, time_bucket({width}::bigint, bucket_start_ns)")


def _cagg_sql(interval: Interval) -> str:
    return (f"CREATE MATERIALIZED VIEW IF NOT EXISTS {candle_table(interval)}\n"
            "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS\n"
            f"{cagg_query(interval)}\nWITH NO DATA")


def _policy_sql(interval: Interval) -> str:
    return (f"SELECT add_continuous_aggregate_policy('{candle_table(interval)}', start_offset => NULL, "
            f"end_offset => {interval.length_ns}::bigint, schedule_interval => INTERVAL '{SCHEDULE[interval]}', "
            "if_not_exists => TRUE)")


SCHEMA_STATEMENTS: tuple[str, ...] = (
    f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}",
    trades_table_sql(partitioned=False),
    f"SELECT create_hypertable('{TRADES_TABLE}', by_range('ts_ns', {NS_PER_DAY}::bigint), if_not_exists => TRUE)",
    "CREATE OR REPLACE FUNCTION md_now_ns() RETURNS bigint LANGUAGE sql STABLE AS "
    "$$ SELECT (extract(epoch FROM now()) * 1000000000)::bigint $$",
    f"SELECT set_integer_now_func('{TRADES_TABLE}', 'md_now_ns', replace_if_exists => TRUE)",
    *(_cagg_sql(interval) for interval in INTERVALS),
    *(_policy_sql(interval) for interval in INTERVALS),
)


def create_schema(conn: psycopg.Connection[Any]) -> None:
    """Install the extension, the hypertable, the continuous aggregates and their policies (idempotent).

    Runs each statement in autocommit mode (TimescaleDB refuses some of them inside a transaction block),
    so the connection must have no transaction open.
    """
    previous = conn.autocommit
    conn.autocommit = True
    try:
        for statement in SCHEMA_STATEMENTS:
            conn.execute(statement)
    finally:
        conn.autocommit = previous


_INSERT_TRADES = (f"INSERT INTO {TRADES_TABLE} ({', '.join(TRADE_COLUMNS)}) "
                  f"SELECT {', '.join(TRADE_COLUMNS)} FROM {STAGE_TABLE} ON CONFLICT DO NOTHING")


def apply_trades(cursor: psycopg.Cursor[Any], trades: Sequence[TradeRow]) -> int:
    """Store a batch of trades in the hypertable, in the caller's transaction; return how many were new.

    The candles follow by themselves (continuous aggregates). Replayed trades are skipped.
    """
    if not trades:
        return 0
    stage_trades(cursor, trades)
    cursor.execute(_INSERT_TRADES, prepare=False)
    inserted = cursor.rowcount
    clear_stage(cursor)
    return inserted


def refresh_statements(start_ns: int, end_ns: int) -> list[str]:
    """CALLs that re-materialize every level over [start_ns, end_ns], finest first, widened to whole buckets.

    Run them in autocommit mode after committing a batch that held late trades.
    """
    statements = []
    for interval in INTERVALS:
        low = interval.bucket_start_ns(start_ns)
        high = interval.bucket_start_ns(end_ns) + interval.length_ns
        statements.append(f"CALL refresh_continuous_aggregate('{candle_table(interval)}', "
                          f"{low}::bigint, {high}::bigint)")
    return statements
