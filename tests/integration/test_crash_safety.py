"""Crash safety: kill the venue hard under load, restart, and check nothing acknowledged was lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from commands.ledger import Ledger
from commands.venue import Venue
from infra.embedded_postgres import PgConnectionInfo
from tests.venue_checks import check_venue_invariants

pytestmark = pytest.mark.integration


def simulate_process(pg: PgConnectionInfo, ack_log: Path, seed: int) -> subprocess.Popen[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TRADEX_")},
           "TRADEX_PG_HOST": pg.host, "TRADEX_PG_PORT": str(pg.port), "TRADEX_PG_DB": pg.dbname,
           "TRADEX_PG_USER": pg.user}
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "simulate", "--commands", "1000000", "--wave", "150",
         "--accounts", "8", "--seed", str(seed), "--ack-log", str(ack_log), "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def acknowledged(ack_log: Path) -> list[tuple[str, str]]:
    if not ack_log.exists():
        return []
    lines = ack_log.read_text().splitlines()
    return [(parts[0], parts[2]) for parts in (line.split(" ") for line in lines) if len(parts) == 3]


def acks_with_positions(ack_log: Path) -> list[tuple[str, int]]:
    lines = ack_log.read_text().splitlines()
    return [(parts[0], int(parts[1])) for parts in (line.split(" ") for line in lines)
            if len(parts) == 3 and parts[2] == "ok"]


def test_sigkill_under_load_loses_no_acknowledged_command(pg: PgConnectionInfo, tmp_path: Path,
                                                          make_pg_ledger: Callable[..., Ledger]) -> None:
    rng = random.Random(20261125)
    ack_log = tmp_path / "acks.txt"
    seen = 0
    for round_number in range(3):
        process = simulate_process(pg, ack_log, seed=100 + round_number)
        try:
            deadline = time.monotonic() + 120
            target = seen + rng.randint(200, 900)
            while len(acknowledged(ack_log)) < target:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the simulation made no progress"
                time.sleep(0.05)
            time.sleep(rng.random() * 0.5)  # land somewhere inside a batch
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        seen = len(acknowledged(ack_log))
    acks = acknowledged(ack_log)
    assert len(acks) >= 600

    ledger = make_pg_ledger()
    venue = Venue(ledger)
    replayed = venue.start()  # raises if the log does not replay to the recorded engine events
    assert sum(replayed.values()) > 0
    # every acknowledged, accepted command is in the log exactly once
    ok_ids = [command_id for command_id, state in acks if state == "ok"]
    assert len(ok_ids) == len(set(ok_ids))
    records = ledger.command_records(ok_ids)
    assert sorted(records) == sorted(ok_ids)
    log_positions = dict(acks_with_positions(ack_log))
    for command_id in ok_ids:  # acknowledged with the position of the transaction that recorded it
        assert records[command_id].log_position == log_positions[command_id]
    check_venue_invariants(venue)

    # the same funding commands, sent again after the crashes, take effect once
    rerun_log = tmp_path / "acks-rerun.txt"
    rerun = simulate_process(pg, rerun_log, seed=100)
    try:
        deadline = time.monotonic() + 120
        while len(acknowledged(rerun_log)) < 1:
            assert rerun.poll() is None, rerun.stderr.read() if rerun.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        rerun.send_signal(signal.SIGKILL)
        rerun.wait(30)
    fresh = make_pg_ledger()
    deposits = [entry.posting_id for event in fresh.events.get(fresh.wallet(5001).id)
                if type(event).__name__ == "EntriesPosted" for entry in event.entries if entry.kind == "deposit"]
    assert len(deposits) == len(set(deposits))
    assert deposits.count("sim:100:fund:5001:USDT") == 1
