"""The command log on PostgreSQL (both recorders) and in memory: recorded with the events, once per id."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

from commands import ledger_commands as c
from commands.ledger import Ledger
from commands.ledger_store import HandledCommand
from domain.clock import causation
from domain.errors import CommandConflict
from domain.wallet import Wallet
from infra.embedded_postgres import PgConnectionInfo
from tests.ledger_fixtures import ALICE, BOB, seed_reference_data

RECORDERS = {
    "fast": {},
    "stock": {"APPLICATION_RECORDER_TOPIC": "infra.chained_recorder:HashChainedRecorder",
              "MAPPER_TOPIC": "eventsourcing.persistence:Mapper"},
}


@pytest.fixture(params=sorted(RECORDERS))
def make_ledger(request: pytest.FixtureRequest, make_pg_ledger: Callable[..., Ledger]) -> Callable[[], Ledger]:
    return lambda: make_pg_ledger(**RECORDERS[request.param])


def test_a_command_is_recorded_with_the_position_of_its_transaction(make_ledger: Callable[[], Ledger]) -> None:
    ledger = make_ledger()
    seed_reference_data(ledger)
    first = ledger.execute(c.Deposit("dep-1", ALICE, "USDT", 500))
    assert first.log_position == ledger.recorder.max_notification_id()
    records = make_ledger().command_records(["dep-1", "never-sent"])
    assert list(records) == ["dep-1"]
    record = records["dep-1"]
    assert (record.kind, record.result, record.log_position) == ("deposit", first.result, first.log_position)
    ledger.execute(c.Deposit("dep-2", ALICE, "USDT", 1))
    again = make_ledger().execute(c.Deposit("dep-1", ALICE, "USDT", 500))  # another process, later
    assert again.duplicate and again.result == first.result and again.log_position == first.log_position
    with pytest.raises(CommandConflict):
        ledger.execute(c.Deposit("dep-1", ALICE, "USDT", 501))


def test_a_recorded_id_fails_the_whole_save(make_ledger: Callable[[], Ledger], pg: PgConnectionInfo) -> None:
    ledger = make_ledger()
    seed_reference_data(ledger)
    ledger.execute(c.Deposit("dep-1", ALICE, "USDT", 500))
    head = ledger.recorder.max_notification_id()
    with causation(1, "x"):
        other = Wallet.open(987_654)
    with pytest.raises(IntegrityError):
        ledger.save(other, commands=[HandledCommand("new-id", "k", "d", {}),
                                     HandledCommand("dep-1", "deposit", "d", {})])
    assert ledger.recorder.max_notification_id() == head
    with psycopg.connect(pg.conninfo()) as connection:
        rows = connection.execute("SELECT command_id FROM ledger_events_commands ORDER BY 1").fetchall()
    assert ("new-id",) not in rows and ("dep-1",) in rows


def test_one_id_raced_by_two_writers_commits_once(make_ledger: Callable[[], Ledger]) -> None:
    setup = make_ledger()
    seed_reference_data(setup)
    ledgers = [make_ledger(), make_ledger()]
    barrier = threading.Barrier(2)
    outcomes: dict[int, Any] = {}

    def deposit(index: int) -> None:
        ledger = ledgers[index]
        command = c.Deposit("same-id", [ALICE, BOB][index], "USDT", 100 + index)  # other aggregates, other body
        with causation(ledger.clock(), command.command_id):
            aggregates, result = ledger.handle(command)
        barrier.wait(timeout=10)
        try:
            ledger.save(*aggregates, commands=[HandledCommand("same-id", "deposit", ledger.digest(command), result)])
            outcomes[index] = "saved"
        except IntegrityError as error:
            outcomes[index] = error

    threads = [threading.Thread(target=deposit, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(type(o).__name__ for o in outcomes.values()) == ["IntegrityError", "str"]
    winner = next(index for index, outcome in outcomes.items() if outcome == "saved")
    fresh = make_ledger()
    totals = {account: fresh.wallet(account).balance("USDT").total for account in (ALICE, BOB)}
    assert totals == {ALICE: 100 if winner == 0 else 0, BOB: 101 if winner == 1 else 0}


def test_the_memory_store_keeps_the_same_rules(memory_ledger: Ledger) -> None:
    seed_reference_data(memory_ledger)
    first = memory_ledger.execute(c.Deposit("dep-1", ALICE, "USDT", 5))
    assert memory_ledger.command_records(["dep-1"])["dep-1"].log_position == first.log_position
    assert memory_ledger.execute(c.Deposit("dep-1", ALICE, "USDT", 5)).duplicate
    with causation(1, "x"):
        other = Wallet.open(987_654)
    head = memory_ledger.recorder.max_notification_id()
    with pytest.raises(IntegrityError):
        memory_ledger.save(other, commands=[HandledCommand("dep-1", "deposit", "d", {})])
    assert memory_ledger.recorder.max_notification_id() == head
