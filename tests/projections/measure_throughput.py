"""Throughput of the read-model building blocks (a measurement, not a test): run it with

    .venv/bin/python -m tests.projections.measure_throughput [--trades N]

It starts its own PostgreSQL (fsync on) and chdb in temporary directories and prints:
- `pg_market_data.apply_trades` rows/s for N trades, time-ordered and shuffled (late-heavy), at several
  batch sizes, one transaction (commit included) per batch, checking the candles against the pure function;
- `clickhouse_store` insert rows/s per table at several batch sizes;
- the time of each analytics query over the inserted data.
The numbers are recorded in docs/read-models.md.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from infra.embedded_postgres import EmbeddedPostgres
from projections import analytics
from projections import clickhouse_store as store
from projections import pg_market_data as md
from projections.clickhouse_store import OrderEventRow, PositionSnapshotRow, PostingRow
from projections.market_data import INTERVALS, TradeRow, all_candles
from tests.projections.conftest import DAY0_NS, trade

SYMBOLS = ("BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT")


def market_trades(count: int, seed: int = 1, span_ns: int = 24 * 3600 * 10**9) -> list[TradeRow]:
    """`count` trades in log order over one day (time-ordered), 4 symbols, 1,000 accounts."""
    rng = random.Random(seed)
    times = sorted(DAY0_NS + rng.randrange(span_ns) for _ in range(count))
    return [trade(position, rng.choice(SYMBOLS), ts_ns, rng.randint(1_000, 2_000), rng.randint(1, 100),
                  taker_side=rng.choice(("buy", "sell")), buy_account=rng.randrange(1_000),
                  sell_account=rng.randrange(1_000))
            for position, ts_ns in enumerate(times, start=1)]


def measure_postgres(trades: list[TradeRow], batches: tuple[int, ...]) -> None:
    base = Path(tempfile.mkdtemp(prefix="tradex-measure-pg-"))
    base.chmod(0o711)
    server = EmbeddedPostgres(base / "pgdata", fsync=True)
    info = server.start()
    try:
        expected = all_candles(trades)
        shuffled = list(trades)
        random.Random(2).shuffle(shuffled)
        for order, rows in (("time-ordered", trades), ("shuffled", shuffled)):
            for batch in batches:
                with psycopg.connect(info.conninfo()) as conn:
                    with conn.transaction(), conn.cursor() as cursor:
                        cursor.execute("DROP TABLE IF EXISTS md_trades, md_candles_1m, md_candles_5m, "
                                       "md_candles_1h, md_candles_1d")
                        md.create_tables(cursor)
                    started = time.perf_counter()
                    for index in range(0, len(rows), batch):
                        with conn.transaction(), conn.cursor() as cursor:
                            md.apply_trades(cursor, rows[index:index + batch])
                    elapsed = time.perf_counter() - started
                    with conn.cursor() as cursor:
                        exact = all({c.key: c for c in md.read_candles(cursor, interval)} == expected[interval]
                                    for interval in INTERVALS)
                print(f"postgres apply_trades {order:12} batch {batch:>7,}: {elapsed:6.2f} s "
                      f"{len(rows) / elapsed:>9,.0f} trades/s  candles exact: {exact}", flush=True)
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def measure_clickhouse(trades: list[TradeRow], batches: tuple[int, ...]) -> None:
    count = len(trades)
    rows: dict[str, Sequence[Any]] = {
        "trades": trades,
        "order_events": [OrderEventRow(p, 0, DAY0_NS + p, "BTC-USDT", p % 1_000, p, "placed", "buy", "limit", 1_500,
                                       10, 10, 0, "", "", "") for p in range(1, count + 1)],
        "postings": [PostingRow(p, 0, DAY0_NS + p, f"t:{p}:fee", "USDT", 15, p % 1_000, -2, "fee", "BTC-USDT")
                     for p in range(1, count + 1)],
        "position_snapshots": [PositionSnapshotRow(p, DAY0_NS + p, p % 1_000, SYMBOLS[p % 4], p % 50 - 25,
                                                   (p % 50 - 25) * 15_000, p, p // 10, p, p, 10)
                               for p in range(1, count + 1)],
    }
    tables = {table.name: table for table in store.TABLES}
    base = Path(tempfile.mkdtemp(prefix="tradex-measure-ch-"))
    client = store.clickhouse_client(data_dir=base / "chdb")
    try:
        store.create_tables(client)
        for name, data in rows.items():
            for batch in batches:
                client.command(f"TRUNCATE TABLE {name}")
                started = time.perf_counter()
                for index in range(0, count, batch):
                    store.insert_rows(client, tables[name], data[index:index + batch])
                elapsed = time.perf_counter() - started
                print(f"clickhouse insert {name:18} batch {batch:>7,}: {elapsed:6.2f} s "
                      f"{count / elapsed:>9,.0f} rows/s", flush=True)
        for name, query in analytics.QUERIES.items():
            started = time.perf_counter()
            result = query(client)
            print(f"clickhouse query {name:30} {len(result):>6} rows  {(time.perf_counter() - started) * 1e3:7.1f} ms")
    finally:
        client.close()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trades", type=int, default=100_000)
    arguments = parser.parse_args()
    trades = market_trades(arguments.trades)
    measure_postgres(trades, (1_000, 5_000, 20_000, 100_000))
    measure_clickhouse(trades, (10_000, 100_000))


if __name__ == "__main__":
    main()
