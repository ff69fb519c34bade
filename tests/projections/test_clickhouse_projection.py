"""The ClickHouse projection (embedded chdb) over a real trading session: rows equal to a from-scratch
computation, exact resume after a failure or a SIGKILL in the middle of a window (counts and sums equal,
nothing doubled), a rebuild equal to the live run, and the risk queries on top agreeing with the model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from infra.projector_runner import ClickHouseRunner, LogReader
from projections import analytics, clickhouse_store
from projections.clickhouse_projector import Rows
from projections.clickhouse_registry import ClickHouseRegistry
from projections.clickhouse_store import clickhouse_client
from tests.projections.conftest import SessionLog
from tests.projections.log_model import Model

pytestmark = pytest.mark.integration

TABLES = ("trades", "order_events", "postings", "position_snapshots")
_COLUMNS = {
    "trades": "symbol, position, trade_id, ts_ns, price_ticks, qty_lots, notional, taker_side, buy_account, "
              "sell_account, buy_order_id, sell_order_id",
    "order_events": "position, seq, symbol, account, order_id, event_type, side, order_type, price_ticks, qty_lots, "
                    "leaves_qty_lots, fee, liquidity, trade_id, reason",
    "postings": "position, seq, posting_id, asset, amount, debit_account, credit_account, kind, symbol",
    "position_snapshots": "position, account, symbol, net_qty_lots, open_cost, realized_pnl, fees_paid, bought_lots, "
                          "sold_lots, tick_lot_value",
}


PATHS = pytest.mark.parametrize("sql", [True, False], ids=["sql", "python"])


@contextmanager
def ch_runner(session: SessionLog, data_dir: Path, batch_size: int = 37,
              sql: bool = True) -> Iterator[ClickHouseRunner]:
    reader = LogReader(session.ledger, session.conninfo)
    client = clickhouse_client(data_dir=data_dir)
    try:
        runner = ClickHouseRunner(reader, client, ClickHouseRegistry(), batch_size=batch_size, sql=sql)
        runner.setup()
        yield runner
    finally:
        client.close()
        reader.close()


def expected(m: Model) -> dict[str, list[tuple[Any, ...]]]:
    symbols = {symbol for symbol in m.instrument_history}
    postings = [(position, seq, posting_id, asset, -amount, account, counterparty, kind,
                 posting_id.split(":")[0] if kind in ("trade", "fee") and posting_id.split(":")[0] in symbols else "")
                for account, asset, position, seq, posting_id, amount, counterparty, kind, *_ in m.journal
                if amount < 0]
    trades = [(t.symbol, t.position, t.trade_id, t.ts_ns, t.price_ticks, t.qty_lots, t.notional, t.taker_side,
               t.buy_account, t.sell_account, t.buy_order_id, t.sell_order_id) for t in m.trade_rows()]
    return {"trades": sorted(trades), "order_events": sorted(m.ch_order_events), "postings": sorted(postings),
            "position_snapshots": sorted(m.snapshots)}


def stored(client: Client, final: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    return {table: sorted(tuple(row) for row in client.query(
        f"SELECT {_COLUMNS[table]} FROM {table}{' FINAL' if final else ''}").result_rows) for table in TABLES}


def counts_and_sums(client: Client, final: bool) -> tuple[int, ...]:
    suffix = " FINAL" if final else ""
    out: list[int] = []
    for query in (f"SELECT count(), sum(toInt128(notional)) FROM trades{suffix}",
                  f"SELECT count(), sum(toInt128(qty_lots)) FROM order_events{suffix}",
                  f"SELECT count(), sum(toInt128(amount)) FROM postings{suffix}",
                  f"SELECT count(), sum(toInt128(realized_pnl)) FROM position_snapshots{suffix}"):
        out.extend(int(value) for value in client.query(query).result_rows[0])
    return tuple(out)


def expected_counts_and_sums(m: Model) -> tuple[int, ...]:
    e = expected(m)
    return (len(e["trades"]), sum(t[6] for t in e["trades"]), len(e["order_events"]),
            sum(r[9] for r in e["order_events"]), len(e["postings"]), sum(p[4] for p in e["postings"]),
            len(e["position_snapshots"]), sum(s[5] for s in e["position_snapshots"]))


@PATHS
def test_rows_equal_the_from_scratch_computation_and_queries_agree(session_log: SessionLog, tmp_path: Path,
                                                                   sql: bool) -> None:
    m = session_log.model
    with ch_runner(session_log, tmp_path / "ch", sql=sql) as runner:
        stats = runner.catch_up()
        assert stats.events == session_log.head
        client = runner.client
        assert stored(client) == expected(m)
        assert clickhouse_store.tracked_position(client, "clickhouse") == session_log.head
        # the risk queries over these rows agree with the model's positions and fees
        pnl = {(r["account"], r["symbol"]): (r["net_qty_lots"], r["realized_pnl"], r["unrealized_pnl"], r["fees_paid"])
               for r in analytics.pnl(client)}
        assert pnl == {key: (p["net"], p["realized"], p["net"] * m.last_price[key[1]][3] * p["tick_lot_value"]
                             - p["cost"], p["fees"]) for key, p in m.positions.items()}
        fees = {(r["asset"], r["symbol"]): r["fees"] for r in analytics.fees_collected(client)}
        want_fees: dict[tuple[str, str], int] = {}
        for account, asset, _, _, posting_id, amount, _, kind, *_ in m.journal:
            if kind == "fee" and account == -2:
                key = (asset, posting_id.split(":")[0])
                want_fees[key] = want_fees.get(key, 0) + amount
        assert fees == want_fees


@PATHS
def test_a_failure_between_inserts_resumes_without_loss_or_double_count(session_log: SessionLog,
                                                                       tmp_path: Path, sql: bool) -> None:
    windows = [0]

    def failing_hook(table: str) -> None:  # the SQL path: called after each insert
        if table == "trades":
            windows[0] += 1
        if table == "order_events" and windows[0] == 6:
            raise RuntimeError("injected failure between two inserts")

    def failing_write(client: Client, rows: Rows) -> None:
        windows[0] += 1
        clickhouse_store.insert_tuples(client, clickhouse_store.TRADES, rows.trades)
        clickhouse_store.insert_tuples(client, clickhouse_store.ORDER_EVENTS, rows.order_events)
        if windows[0] == 6:
            raise RuntimeError("injected failure between two inserts")
        clickhouse_store.insert_tuples(client, clickhouse_store.POSTINGS, rows.postings)
        clickhouse_store.insert_tuples(client, clickhouse_store.POSITION_SNAPSHOTS, rows.snapshots)

    with ch_runner(session_log, tmp_path / "ch", batch_size=250, sql=sql) as runner:
        if sql:
            runner.hook = failing_hook
        else:
            runner.write = failing_write
        with pytest.raises(RuntimeError, match="injected failure"):
            runner.catch_up()
        assert clickhouse_store.tracked_position(runner.client, "clickhouse") <= 5 * 250
    with ch_runner(session_log, tmp_path / "ch", batch_size=250, sql=sql) as restarted:  # a new process
        restarted.catch_up()
        client = restarted.client
        want = expected_counts_and_sums(session_log.model)
        assert counts_and_sums(client, final=True) == want
        assert stored(client) == expected(session_log.model)
        for table in TABLES:
            client.command(f"OPTIMIZE TABLE {table} FINAL")
        assert counts_and_sums(client, final=False) == want  # and no copy survives a merge


@PATHS
def test_a_projector_killed_in_the_middle_of_a_window_resumes_exactly(session_log: SessionLog, tmp_path: Path,
                                                                      sql: bool) -> None:
    marker, data_dir = tmp_path / "hanging", tmp_path / "ch"
    info = session_log.info
    mode = "clickhouse" if sql else "clickhouse-python"
    process = subprocess.Popen([sys.executable, "-m", "tests.projections.kill_target", mode, info.host,
                                str(info.port), info.dbname, str(data_dir), str(marker), "7"],
                               cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert process.poll() is None, "the projector process ended before the window it should hang in"
            assert time.monotonic() < deadline, "the projector process never reached the window"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)  # trades and order events of window 7 inserted, the rest not
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    with ch_runner(session_log, data_dir, batch_size=300, sql=sql) as restarted:
        assert restarted.position == 6 * 300  # resumes after the last window recorded whole
        restarted.catch_up()
        assert counts_and_sums(restarted.client, final=True) == expected_counts_and_sums(session_log.model)
        assert stored(restarted.client) == expected(session_log.model)


@PATHS
def test_a_rebuild_from_zero_equals_the_live_run_and_becomes_live(session_log: SessionLog, tmp_path: Path,
                                                                   sql: bool) -> None:
    with ch_runner(session_log, tmp_path / "ch", batch_size=37, sql=sql) as runner:
        runner.catch_up()
        client, registry = runner.client, runner.registry
        live = {table: client.query(f"SELECT count(), groupBitXor(cityHash64({_COLUMNS[table]})) "
                                    f"FROM {table} FINAL").result_rows[0] for table in TABLES}
        runner.batch_size = 1_000
        assert runner.rebuild(keep_old=True) == 2
        assert registry.live_generation(client, "clickhouse") == 2
        assert client.database == "tradex_g2"
        rebuilt = {table: client.query(f"SELECT count(), groupBitXor(cityHash64({_COLUMNS[table]})) "
                                       f"FROM {table} FINAL").result_rows[0] for table in TABLES}
        assert rebuilt == live
        assert all(count > 0 for count, _ in live.values())
        assert stored(client) == expected(session_log.model)
