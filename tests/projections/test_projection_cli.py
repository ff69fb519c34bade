"""`tradex projections status|run|rebuild|wait` and `tradex analytics`, against a real PostgreSQL and chdb;
read-your-writes; a live runner follows a rebuild's switch-over without applying anything twice."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from commands import ledger_commands as c
from commands.ledger import Ledger
from infra import analytics_cli, projections_cli
from infra.embedded_postgres import PgConnectionInfo
from infra.projector_runner import LogReader, PgRunner
from projections.catalog import pg_projectors
from projections.pg_tracking import ProjectionTimeout, ReadStore
from tests.ledger_fixtures import ALICE
from tests.projections.log_model import model, read_log
from tests.projections.pg_helpers import assert_read_models_match
from tests.projections.session import run_session, session_clock

pytestmark = pytest.mark.integration


@pytest.fixture
def venue_env(pg: PgConnectionInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A small session in the test's own database, and the environment that points the CLI at it."""
    for name, value in (("TRADEX_PG_HOST", pg.host), ("TRADEX_PG_PORT", str(pg.port)), ("TRADEX_PG_DB", pg.dbname),
                        ("TRADEX_PG_USER", pg.user), ("TRADEX_CLICKHOUSE_DIR", str(tmp_path / "ch")),
                        ("TRADEX_SETTINGS", ""), ("TRADEX_PROJECTION_BATCH", "97")):
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    clock = session_clock()
    from infra.bootstrap import postgres_env

    ledger = Ledger(env=postgres_env(pg), clock=clock)
    venue = run_session(ledger, clock, batches=12)
    yield venue
    ledger.close()


def cli(main: Callable[[list[str]], int], *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def status(argv: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    code, out, _ = cli(projections_cli.main, "projections", "status", "--json", *argv)
    assert code == 0
    return {row["name"]: row for row in json.loads(out)}


def test_status_run_wait_rebuild_and_analytics(venue_env: Any, pg: PgConnectionInfo) -> None:
    ledger = venue_env.ledger
    head = ledger.recorder.max_notification_id()
    before = status()
    assert {row["position"] for row in before.values()} == {None}
    # the backlog in two processes (infra/parallel_runner.py), then ClickHouse
    assert cli(projections_cli.main, "projections", "run", "--processes", "2", "--quiet")[0] == 0
    after = status()
    assert {(row["position"], row["lag_events"], row["lag_seconds"], row["generation"]) for row in after.values()} == \
        {(head, 0, 0.0, 1)}
    code, out, _ = cli(projections_cli.main, "projections", "status")
    assert code == 0 and "market_data" in out and "clickhouse" in out

    # read-your-writes: a new command's position is not reached until the projectors run
    outcome, = venue_env.process([c.Deposit("late-deposit", ALICE, "USDT", 12_345)])
    code, _, err = cli(projections_cli.main, "projections", "wait", str(outcome.log_position), "--timeout", "0.3")
    assert code == 1 and f"did not reach log position {outcome.log_position}" in err and f"at {head}" in err
    assert cli(projections_cli.main, "projections", "run", "--quiet")[0] == 0
    assert cli(projections_cli.main, "projections", "wait", str(outcome.log_position), "--timeout", "1")[0] == 0

    # rebuild: a new generation, live, at the head
    code, out, _ = cli(projections_cli.main, "projections", "rebuild", "orders", "--quiet")
    assert code == 0 and "orders: generation 2 is live" in out
    assert cli(projections_cli.main, "projections", "rebuild", "clickhouse", "--quiet")[0] == 0
    now = status()
    assert (now["orders"]["generation"], now["clickhouse"]["generation"], now["balances"]["generation"]) == (2, 2, 1)
    assert {row["lag_events"] for row in now.values()} == {0}

    # analytics, in the three formats
    code, out, _ = cli(analytics_cli.main, "analytics", "pnl", "--format", "json")
    assert code == 0
    pnl = json.loads(out)
    m = model(read_log(ledger))
    assert {(r["account"], r["symbol"]): r["realized_pnl"] for r in pnl} == \
        {key: p["realized"] for key, p in m.positions.items()}
    code, out, _ = cli(analytics_cli.main, "analytics", "vwap-volume", "--interval", "1h", "--symbol", "BTC-USDT",
                       "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("symbol,bucket_start_ns,trade_count")
    assert all(line.startswith("BTC-USDT,") for line in out.splitlines()[1:]) and len(out.splitlines()) > 1
    code, out, _ = cli(analytics_cli.main, "analytics", "top-accounts-by-volume", "--limit", "3")
    assert code == 0 and len(out.splitlines()) == 2 + 3 and out.splitlines()[0].split()[0] == "account"
    with pytest.raises(SystemExit, match="does not take --asset"):
        cli(analytics_cli.main, "analytics", "pnl", "--asset", "USDT")
    with psycopg.connect(pg.conninfo()) as conn:
        assert_read_models_match(conn, "rm", m)


def test_a_live_runner_follows_a_rebuild_and_readers_wait_for_their_writes(venue_env: Any,
                                                                          pg: PgConnectionInfo) -> None:
    ledger = venue_env.ledger
    store = ReadStore("rm_follow")
    reader = LogReader(ledger, pg.conninfo())
    live = PgRunner(reader, pg.conninfo(), pg_projectors(), store, batch_size=50)
    rebuilder = PgRunner(reader, pg.conninfo(), [], store, batch_size=500)
    try:
        live.setup()
        live.catch_up()
        rebuilder.rebuild(pg_projectors(["positions"])[0])  # the live runner still believes generation 1
        outcomes = venue_env.process([c.Deposit("after-rebuild", ALICE, "BTC", 7),
                                      c.Deposit("after-rebuild-2", ALICE, "ETH", 9)])
        position = outcomes[-1].log_position
        with pytest.raises(ProjectionTimeout, match=rf"did not reach log position {position} within 0.2 s: balances"):
            store.wait_for_position(pg.conninfo(), ["balances", "positions"], position, 0.2)
        waiter_saw: list[dict[str, int]] = []
        waiter = threading.Thread(target=lambda: waiter_saw.append(
            store.wait_for_position(pg.conninfo(), ["balances", "positions"], position, 10)))
        waiter.start()
        time.sleep(0.1)
        live.catch_up()  # follows positions to generation 2, catches everything up
        waiter.join()
        assert waiter_saw and min(waiter_saw[0].values()) >= position
        assert {t.name: t.generation for t in live.tracked}["positions"] == 2
    finally:
        live.close()
        rebuilder.close()
        reader.close()
    with psycopg.connect(pg.conninfo()) as conn:
        assert_read_models_match(conn, "rm_follow", model(read_log(ledger)))
