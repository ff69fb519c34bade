"""The plain-PostgreSQL fallback against a real server: hand-computed candles, late data, replays,
daily partitions, and equality with the pure function on a seeded random trade set."""

from __future__ import annotations

import random
from typing import Any

import psycopg
import pytest

from projections import pg_market_data as md
from projections.market_data import INTERVALS, NS_PER_DAY, Interval, TradeRow, all_candles
from tests.projections.conftest import DAY0_NS, random_trades, trade
from tests.projections.hand_trades import EXPECTED, EXPECTED_1M_BEFORE_LATE, FIRST_BATCH, LATE_BATCH

pytestmark = pytest.mark.integration

Connection = psycopg.Connection[Any]


def _apply(conn: Connection, trades: list[TradeRow]) -> md.ApplyResult:
    """One projector step: the batch in its own transaction (where the projector also stores its tracking)."""
    with conn.transaction(), conn.cursor() as cursor:
        return md.apply_trades(cursor, trades)


def _all_candles(conn: Connection) -> dict[Interval, dict[tuple[str, int], Any]]:
    with conn.cursor() as cursor:
        return {interval: {c.key: c for c in md.read_candles(cursor, interval)} for interval in INTERVALS}


@pytest.fixture
def conn(pg_conn: Connection) -> Connection:
    with pg_conn.transaction(), pg_conn.cursor() as cursor:
        md.create_tables(cursor)
        md.create_tables(cursor)  # idempotent
    return pg_conn


def test_hand_computed_candles_with_a_late_batch(conn: Connection) -> None:
    first = _apply(conn, FIRST_BATCH)
    assert first.trades_inserted == len(FIRST_BATCH)
    with conn.cursor() as cursor:
        minutes = {c.key: c for c in md.read_candles(cursor, Interval.M1)}
    for key, expected in EXPECTED_1M_BEFORE_LATE.items():
        assert minutes[key] == expected
    late = _apply(conn, LATE_BATCH)
    assert late.trades_inserted == 2
    assert late.candles_touched == {Interval.M1: 2, Interval.M5: 1, Interval.H1: 1, Interval.D1: 1}
    with conn.cursor() as cursor:
        for interval in INTERVALS:
            assert md.read_candles(cursor, interval) == EXPECTED[interval], interval.value


def test_replayed_trades_change_nothing(conn: Connection) -> None:
    _apply(conn, FIRST_BATCH + LATE_BATCH)
    before = _all_candles(conn)
    again = _apply(conn, LATE_BATCH + FIRST_BATCH[:3])
    assert again.trades_inserted == 0
    assert again.candles_touched[Interval.M1] == 0
    partly_new = _apply(conn, [*LATE_BATCH, trade(13, "BTC-USDT", DAY0_NS + 2 * NS_PER_DAY, 130, 1)])
    assert partly_new.trades_inserted == 1
    after = _all_candles(conn)
    for interval in INTERVALS:
        new_keys = set(after[interval]) - set(before[interval])
        assert len(new_keys) == 1
        assert {key: after[interval][key] for key in before[interval]} == before[interval]
    with conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM md_trades")
        assert cursor.fetchone() == (13,)


def test_two_batches_in_one_transaction_and_a_rollback(conn: Connection) -> None:
    with conn.transaction(), conn.cursor() as cursor:
        md.apply_trades(cursor, FIRST_BATCH)
        md.apply_trades(cursor, LATE_BATCH)  # the staging table was emptied in between
    assert _all_candles(conn) == {interval: {c.key: c for c in EXPECTED[interval]} for interval in INTERVALS}
    late_day = DAY0_NS - 10 * NS_PER_DAY
    with pytest.raises(RuntimeError), conn.transaction(), conn.cursor() as cursor:
        result = md.apply_trades(cursor, [trade(20, "BTC-USDT", late_day, 1, 1)])
        assert result.partitions_created == (md.partition_name(late_day // NS_PER_DAY),)
        raise RuntimeError("the projector failed before committing")
    assert _all_candles(conn) == {interval: {c.key: c for c in EXPECTED[interval]} for interval in INTERVALS}
    with conn.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NULL", (md.partition_name(late_day // NS_PER_DAY),))
        assert cursor.fetchone() == (True,)  # the partition's creation was rolled back too


def test_daily_partitions_are_created_on_demand(conn: Connection) -> None:
    result = _apply(conn, FIRST_BATCH)
    assert result.partitions_created == ("md_trades_p20251231", "md_trades_p20260101")
    assert _apply(conn, LATE_BATCH).partitions_created == ()
    with conn.cursor() as cursor:
        cursor.execute("SELECT partrelid::regclass::text, partstrat FROM pg_partitioned_table")
        assert cursor.fetchall() == [("md_trades", "r")]
        cursor.execute("SELECT tableoid::regclass::text, count(*) FROM md_trades GROUP BY 1 ORDER BY 1")
        assert cursor.fetchall() == [("md_trades_p20251231", 1), ("md_trades_p20260101", 11)]
        cursor.execute("SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE relname = %s",
                       ("md_trades_p20260101",))
        row = cursor.fetchone()
        assert row is not None
        assert row[0] == f"FOR VALUES FROM ('{DAY0_NS}') TO ('{DAY0_NS + NS_PER_DAY}')"


def test_candle_columns_and_sums_beyond_int64(conn: Connection) -> None:
    with conn.cursor() as cursor:
        for interval in INTERVALS:
            cursor.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                           "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                           (md.candle_table(interval),))
            assert tuple(cursor.fetchall()) == md.CANDLE_COLUMNS
    big = 2**62  # two such notionals sum past int64
    rows = [TradeRow(position, f"BIG:{position}", "BIG", DAY0_NS + position, 1, big, big, "buy", 1, 2, 1, 2)
            for position in (1, 2, 3)]
    _apply(conn, rows)
    for interval, candle in ((interval, _all_candles(conn)[interval][("BIG", DAY0_NS)]) for interval in INTERVALS):
        assert (candle.volume_lots, candle.notional, candle.trade_count) == (3 * big, 3 * big, 3), interval.value


def test_seeded_random_trades_in_shuffled_batches_equal_the_pure_function(conn: Connection) -> None:
    trades = random_trades(seed=42, count=4_000)
    arrival = list(trades)
    random.Random(5).shuffle(arrival)  # most batches carry late trades
    rng = random.Random(9)
    index = 0
    while index < len(arrival):
        size = rng.randint(1, 700)
        _apply(conn, arrival[index:index + size])
        index += size
    expected = all_candles(trades)
    stored = _all_candles(conn)
    for interval in INTERVALS:
        assert stored[interval] == expected[interval], interval.value
    with conn.cursor() as cursor:
        cursor.execute("SELECT count(*), sum(notional) FROM md_trades")
        assert cursor.fetchone() == (len(trades), sum(t.notional for t in trades))


def test_partitions_are_found_and_created_in_the_trades_table_schema(pg_conn: Connection) -> None:
    with pg_conn.transaction():
        pg_conn.execute("CREATE SCHEMA market")
        pg_conn.execute("CREATE SCHEMA decoy")
        pg_conn.execute("CREATE TABLE decoy.md_trades_p20260101 (x int)")  # same name, not a partition
        pg_conn.execute("SET search_path = market, decoy")
        with pg_conn.cursor() as cursor:
            md.create_tables(cursor)
    assert _apply(pg_conn, FIRST_BATCH).partitions_created == ("md_trades_p20251231", "md_trades_p20260101")
    rows = pg_conn.execute("SELECT c.oid::regclass::text FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid"
                           " WHERE i.inhparent = 'market.md_trades'::regclass ORDER BY 1").fetchall()
    assert rows == [("md_trades_p20251231",), ("md_trades_p20260101",)]  # in `market`, first on the path
    assert pg_conn.execute("SELECT count(*) FROM market.md_trades").fetchone() == (len(FIRST_BATCH),)
