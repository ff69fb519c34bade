"""What can be checked of the TimescaleDB path without TimescaleDB (not installable on these machines):

- the run-time detection answers from pg_available_extensions;
- every statement of the schema and of the late-data refresh is accepted by PostgreSQL 15's own parser
  (plpgsql checks the syntax of the statements in a function body when the function is created);
- the continuous aggregates' SELECTs, run as plain views over a plain `md_trades` with a stand-in
  `time_bucket(bigint, bigint)`, have the fallback tables' exact column names and types and give the
  same candles as the fallback and as the pure function.

Not checked here: create_hypertable, the continuous aggregate machinery, the policies, refreshes.
"""

from __future__ import annotations

import random
from typing import Any

import psycopg
import pytest

from projections import pg_market_data as md
from projections import timescale
from projections.market_data import INTERVALS, Candle, Interval, all_candles
from tests.projections.conftest import random_trades
from tests.projections.hand_trades import EXPECTED, FIRST_BATCH, LATE_BATCH

pytestmark = pytest.mark.integration

Connection = psycopg.Connection[Any]

# TimescaleDB's integer time_bucket (no offset, no origin) floors to a multiple of the width; for the
# non-negative times used here that is ts - ts % width. A stand-in: the real one is the extension's.
TIME_BUCKET_STAND_IN = """
CREATE FUNCTION time_bucket(bucket_width bigint, ts bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT ts - ((ts % bucket_width) + bucket_width) % bucket_width $$"""


def _parses(conn: Connection, statement: str) -> None:
    conn.execute("SET check_function_bodies = on")
    conn.execute("CREATE OR REPLACE FUNCTION pg_temp.parse_check() RETURNS void LANGUAGE plpgsql AS "
                 f"$parse_check$ BEGIN {statement}; END $parse_check$")


def test_detection_follows_pg_available_extensions(pg_conn: Connection) -> None:
    row = pg_conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    available = row is not None and row[0] == 1
    assert timescale.timescale_available(pg_conn) is available
    assert timescale.market_data_backend(pg_conn) == ("timescaledb" if available else "postgres")


def test_every_timescale_statement_parses(pg_conn: Connection) -> None:
    pg_conn.autocommit = True
    statements = [*timescale.SCHEMA_STATEMENTS, *timescale.refresh_statements(10**18, 10**18 + 10**13)]
    assert len(statements) == 5 + 2 * len(INTERVALS) + len(INTERVALS)
    for statement in statements:
        _parses(pg_conn, statement)
    with pytest.raises(psycopg.errors.SyntaxError):  # the check does check
        _parses(pg_conn, "CREATE MATERIALIZED VIEW v WITH (timescaledb.continuous) AS SELEC 1 WITH NO DATA")


def test_refresh_windows_cover_whole_buckets() -> None:
    start, end = 10**18 + 7, 10**18 + 10**12
    statements = timescale.refresh_statements(start, end)
    for interval, statement in zip(INTERVALS, statements, strict=True):
        low = interval.bucket_start_ns(start)
        high = interval.bucket_start_ns(end) + interval.length_ns
        assert statement == (f"CALL refresh_continuous_aggregate('{md.candle_table(interval)}', "
                             f"{low}::bigint, {high}::bigint)")


def _columns(conn: Connection, relation: str) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                        (relation,)).fetchall()
    return [(str(name), str(kind)) for name, kind in rows]


def _view_candles(conn: Connection, interval: Interval, schema: str) -> dict[tuple[str, int], Candle]:
    rows = conn.execute(f"SELECT {', '.join(md.CANDLE_COLUMN_NAMES)} FROM {schema}.{md.candle_table(interval)}"
                        ).fetchall()
    return {candle.key: candle for candle in (md.candle_from_row(interval, row) for row in rows)}


@pytest.fixture
def both_paths(pg_conn: Connection) -> Connection:
    """Schema `fallback` with the fallback's tables; schema `emulated` with a plain md_trades and the
    continuous aggregates' SELECTs as plain views."""
    with pg_conn.transaction():
        pg_conn.execute("CREATE SCHEMA fallback")
        pg_conn.execute("CREATE SCHEMA emulated")
        pg_conn.execute("SET search_path = fallback")
        with pg_conn.cursor() as cursor:
            md.create_tables(cursor)
        pg_conn.execute("SET search_path = emulated")
        pg_conn.execute(TIME_BUCKET_STAND_IN)
        pg_conn.execute(md.trades_table_sql(partitioned=False))
        for interval in INTERVALS:
            pg_conn.execute(f"CREATE VIEW {md.candle_table(interval)} AS {timescale.cagg_query(interval)}")
    return pg_conn


def test_aggregate_views_have_the_fallback_columns(both_paths: Connection) -> None:
    for interval in INTERVALS:
        table = md.candle_table(interval)
        assert _columns(both_paths, f"emulated.{table}") == list(md.CANDLE_COLUMNS)
        assert _columns(both_paths, f"fallback.{table}") == list(md.CANDLE_COLUMNS)
    assert _columns(both_paths, "emulated.md_trades") == _columns(both_paths, "fallback.md_trades")


def _apply_both(conn: Connection, batch: list[Any]) -> None:
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SET LOCAL search_path = fallback")
        md.apply_trades(cursor, batch)
        cursor.execute("SET LOCAL search_path = emulated")
        timescale.apply_trades(cursor, batch)


def test_hand_computed_candles_on_both_paths(both_paths: Connection) -> None:
    _apply_both(both_paths, FIRST_BATCH)
    _apply_both(both_paths, LATE_BATCH)
    _apply_both(both_paths, LATE_BATCH)  # a replay: no change on either path
    for interval in INTERVALS:
        expected = {candle.key: candle for candle in EXPECTED[interval]}
        assert _view_candles(both_paths, interval, "emulated") == expected, interval.value
        assert _view_candles(both_paths, interval, "fallback") == expected, interval.value


def test_seeded_random_trades_give_identical_candles_on_both_paths(both_paths: Connection) -> None:
    trades = random_trades(seed=11, count=3_000)
    arrival = list(trades)
    random.Random(1).shuffle(arrival)
    for index in range(0, len(arrival), 400):
        _apply_both(both_paths, arrival[index:index + 400])
    expected = all_candles(trades)
    for interval in INTERVALS:
        emulated = _view_candles(both_paths, interval, "emulated")
        assert emulated == _view_candles(both_paths, interval, "fallback"), interval.value
        assert emulated == expected[interval], interval.value
    with both_paths.cursor() as cursor:
        assert timescale.apply_trades(cursor, trades[:100]) == 0  # search_path is emulated's: replays skipped
    both_paths.rollback()
