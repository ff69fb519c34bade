"""PostgreSQL read models over a real trading session: equal to a from-scratch computation, exactly once
under failures and concurrent runners, and a rebuild from zero gives the same tables as the live run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from projections.catalog import pg_projectors
from projections.pg_orders import OrdersProjector
from projections.pg_tracking import ConcurrentProjector
from tests.projections.conftest import SessionLog
from tests.projections.pg_helpers import assert_read_models_match, checksums, pg_runner

pytestmark = pytest.mark.integration


def test_every_read_model_equals_the_from_scratch_computation(session_log: SessionLog) -> None:
    # windows of 37 ids: many trades straddle two windows, so halves wait in pending_fills
    with pg_runner(session_log, "rm_all") as runner:
        stats = runner.catch_up()
        assert stats.events == session_log.head
        assert {t.name: t.position for t in runner.tracked} == {name: session_log.head for name in
                                                                 ("instruments", "orders", "balances", "positions",
                                                                  "market_data")}
    with psycopg.connect(session_log.conninfo) as conn:
        assert_read_models_match(conn, "rm_all", session_log.model)
        pending, = conn.execute("SELECT count(*) FROM rm_all_orders_g1.pending_fills").fetchone() or (None,)
        assert pending == 0


class FailingOrders(OrdersProjector):
    """Writes a window's rows, then fails before the transaction commits (on its `fail_at`-th window)."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.windows, self.fail_at = 0, fail_at

    def apply(self, cur: Any, batch: Any) -> None:
        super().apply(cur, batch)
        self.windows += 1
        if self.windows == self.fail_at:
            raise RuntimeError("injected failure inside the batch")


def test_a_failure_inside_a_batch_leaves_nothing_and_the_restart_applies_everything_once(
        session_log: SessionLog) -> None:
    projectors = pg_projectors(["instruments", "balances", "positions", "market_data"])
    with pg_runner(session_log, "rm_fail", batch_size=200, projectors=[FailingOrders(fail_at=4), *projectors]) \
            as runner, pytest.raises(RuntimeError, match="injected failure"):
        runner.catch_up()
    with psycopg.connect(session_log.conninfo) as conn:
        position, = conn.execute("SELECT position FROM rm_fail.tracking WHERE name = 'orders'").fetchone() or (0,)
        assert 0 < position < session_log.head
        last, = conn.execute("SELECT max(position) FROM rm_fail.order_events").fetchone() or (0,)
        assert last <= position  # the failed window's rows were rolled back with its tracking
    with pg_runner(session_log, "rm_fail", batch_size=500) as restarted:
        restarted.catch_up()
    with psycopg.connect(session_log.conninfo) as conn:
        assert_read_models_match(conn, "rm_fail", session_log.model)


def test_two_runners_cannot_apply_the_same_window(session_log: SessionLog) -> None:
    with pg_runner(session_log, "rm_twice", projectors=pg_projectors(["balances"])) as first, \
            pg_runner(session_log, "rm_twice", projectors=pg_projectors(["balances"])) as second:
        window = first.reader.read(0, 300, sorted(first.tracked[0].projector.topics))
        first.apply(first.tracked[0], window, 300)
        with pytest.raises(ConcurrentProjector):
            second.apply(second.tracked[0], window, 300)  # it still believed the position was 0
        assert second.tracked[0].position == 300  # it took the other runner's position over
        first.catch_up()
        assert second.catch_up().applied == 0  # nothing left: the other runner is at the head
    with psycopg.connect(session_log.conninfo) as conn:
        count, = conn.execute("SELECT count(*) FROM rm_twice.postings").fetchone() or (0,)
        assert count == len(session_log.model.journal)


def test_a_rebuild_from_zero_gives_the_live_tables_and_switches_the_views(session_log: SessionLog) -> None:
    with pg_runner(session_log, "rm_live", batch_size=37) as runner:
        runner.catch_up()
        for projector in pg_projectors():
            rebuilt = runner.rebuild(projector, keep_old=True)  # other windows: 1,000 ids
            assert (rebuilt.generation, rebuilt.position) == (2, session_log.head)
    with psycopg.connect(session_log.conninfo) as conn:
        for projector in pg_projectors():
            live = checksums(conn, f"rm_live_{projector.name}_g1")
            assert live == checksums(conn, f"rm_live_{projector.name}_g2"), projector.name
            assert all(count > 0 for table, (count, _) in live.items() if table != "pending_fills"), live
        generations = dict(conn.execute("SELECT name, generation FROM rm_live.projections").fetchall())
        assert set(generations.values()) == {2}
        view, = conn.execute("SELECT definition FROM pg_views WHERE schemaname = 'rm_live' "
                             "AND viewname = 'orders'").fetchone() or ("",)
        assert "rm_live_orders_g2" in view
        assert_read_models_match(conn, "rm_live", session_log.model)


def test_a_projector_killed_in_the_middle_of_a_window_resumes_with_nothing_lost_or_doubled(
        session_log: SessionLog, tmp_path: Path) -> None:
    marker = tmp_path / "hanging"
    info = session_log.info
    process = subprocess.Popen([sys.executable, "-m", "tests.projections.kill_target", "postgres", info.host,
                                str(info.port), info.dbname, "rm_killed", str(marker), "5"],
                               cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, "the projector process ended before the window it should hang in"
            assert time.monotonic() < deadline, "the projector process never reached the window"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)  # inside the 5th window's transaction, rows written
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    with psycopg.connect(session_log.conninfo) as conn:
        positions = dict(conn.execute("SELECT name, position FROM rm_killed.tracking").fetchall())
        assert positions["orders"] == 4 * 300  # the killed window left nothing behind
        last, = conn.execute("SELECT max(position) FROM rm_killed.order_events").fetchone() or (0,)
        assert last <= 4 * 300
    with pg_runner(session_log, "rm_killed", batch_size=128) as restarted:
        restarted.catch_up()
    with psycopg.connect(session_log.conninfo) as conn:
        assert_read_models_match(conn, "rm_killed", session_log.model)
