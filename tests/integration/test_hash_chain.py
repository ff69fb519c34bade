"""Tamper evidence: every stored event is hash-chained to the previous one, in the same transaction."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

from commands import ledger_commands as c
from commands.ledger import Ledger
from domain.clock import causation
from infra.chained_recorder import HashChainedRecorder, verify_chain
from infra.embedded_postgres import PgConnectionInfo
from tests.ledger_fixtures import ALICE, BOB, seed_reference_data

pytestmark = pytest.mark.integration


def chained(ledger: Ledger) -> HashChainedRecorder:
    recorder = ledger.recorder
    assert isinstance(recorder, HashChainedRecorder)
    return recorder


def test_every_event_from_the_first_is_chained(make_pg_ledger: Callable[..., Ledger], pg: PgConnectionInfo) -> None:
    ledger = make_pg_ledger()
    seed_reference_data(ledger)
    ledger.execute(c.Deposit("d1", ALICE, "USDT", 10))
    report = verify_chain(chained(ledger))
    assert report.intact
    with psycopg.connect(pg.conninfo()) as connection:
        events = connection.execute("SELECT count(*) FROM ledger_events").fetchone()
        links = connection.execute("SELECT count(*) FROM ledger_events_chain").fetchone()
    assert events == links == (report.events_checked,)
    assert report.events_checked == ledger.recorder.max_notification_id() > 10


def test_a_rolled_back_save_leaves_no_chain_link(make_pg_ledger: Callable[..., Ledger], pg: PgConnectionInfo) -> None:
    first, second = make_pg_ledger(), make_pg_ledger()
    seed_reference_data(first)
    first.execute(c.Deposit("d1", ALICE, "USDT", 10))
    stale = second.wallet(ALICE)
    first.execute(c.Deposit("d2", ALICE, "USDT", 10))
    with causation(1, "stale"):
        stale.hold("h", "USDT", 5)
    with pytest.raises(IntegrityError):
        second.save(stale)  # a stale version conflicts: the chain insert is rolled back with the events
    first.execute(c.Deposit("d3", BOB, "USDT", 10))
    assert verify_chain(chained(first)).intact


def test_tampering_with_a_stored_event_is_detected(make_pg_ledger: Callable[..., Ledger], pg: PgConnectionInfo) -> None:
    ledger = make_pg_ledger()
    seed_reference_data(ledger)
    result = ledger.execute(c.Deposit("d1", ALICE, "USDT", 10))
    ledger.execute(c.Deposit("d2", BOB, "USDT", 20))
    with psycopg.connect(pg.conninfo()) as connection:
        updated = connection.execute("UPDATE ledger_events SET state = state || '\\x20'::bytea "
                                     "WHERE notification_id = %s", (result.log_position,))
        assert updated.rowcount == 1
    report = verify_chain(chained(ledger))
    assert not report.intact
    assert report.first_broken_notification_id == result.log_position
