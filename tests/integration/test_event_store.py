"""The PostgreSQL event store: save and reload, snapshots, stable topics, write conflicts, upcasting."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from commands import ledger_commands as c
from commands.ledger import ConcurrentUpdate, Ledger
from domain.account import Account
from domain.clock import causation
from domain.ids import account_id_uuid, wallet_id
from domain.market import Market
from domain.wallet import Balance, Wallet
from infra.embedded_postgres import PgConnectionInfo
from tests.ledger_fixtures import ALICE, BOB, seed_reference_data

pytestmark = pytest.mark.integration


def test_events_saved_by_one_ledger_are_read_back_by_another(make_pg_ledger: Callable[..., Ledger]) -> None:
    writer = make_pg_ledger()
    seed_reference_data(writer)
    writer.execute(c.Deposit("d1", ALICE, "USDT", 5_000))
    writer.execute(c.PlaceHold("h1", ALICE, "USDT", 1_200, "order-1"))
    reader = make_pg_ledger()
    wallet = reader.wallet(ALICE)
    assert wallet.balance("USDT") == Balance(5_000, 1_200)
    assert wallet.holds == {"order-1": ["USDT", 1_200]}
    assert reader.account(ALICE).may_trade
    assert reader.instrument("BTC-USDT").spec.taker_fee_ppm == 2_000


def test_stored_topics_are_stable_names_not_module_paths(make_pg_ledger: Callable[..., Ledger],
                                                         pg: PgConnectionInfo) -> None:
    ledger = make_pg_ledger()
    seed_reference_data(ledger)
    ledger.execute(c.Deposit("d1", ALICE, "USDT", 5_000))
    with psycopg.connect(pg.conninfo()) as connection:
        topics = {row[0] for row in connection.execute("SELECT DISTINCT topic FROM ledger_events")}
    assert "tradex.Wallet.EntriesPosted" in topics and "tradex.Account.Opened" in topics
    assert all(topic.startswith("tradex.") and ":" not in topic for topic in topics), topics


def test_wallets_are_snapshotted_and_load_identically(make_pg_ledger: Callable[..., Ledger]) -> None:
    ledger = make_pg_ledger()
    seed_reference_data(ledger)
    for number in range(120):
        ledger.execute(c.Deposit(f"d{number}", BOB, "USDT", number + 1))
    snapshots = list(ledger.snapshots.get(wallet_id(BOB))) if ledger.snapshots else []
    assert snapshots, "a wallet with more than 100 events has a snapshot"
    assert snapshots[-1].originator_version == 100
    fresh = make_pg_ledger()
    wallet = fresh.wallet(BOB)
    assert wallet.version == 121
    assert wallet.balance("USDT").total == sum(range(1, 121))
    # the snapshot path and a full replay of every event agree
    replayed = None
    for event in fresh.events.get(wallet_id(BOB)):
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Wallet) and replayed.version == 121
    assert replayed.balances() == wallet.balances()


def test_two_writers_of_one_aggregate_one_wins_one_conflicts(make_pg_ledger: Callable[..., Ledger]) -> None:
    first, second = make_pg_ledger(), make_pg_ledger()
    seed_reference_data(first)
    first.execute(c.Deposit("d1", ALICE, "USDT", 1_000))
    mine, theirs = first.wallet(ALICE), second.wallet(ALICE)
    with causation(1, "race"):
        mine.hold("a", "USDT", 600)
        theirs.hold("b", "USDT", 600)  # each alone would be fine; both would overdraw
    first.save(mine)
    with pytest.raises(IntegrityError):
        second.save(theirs)
    assert make_pg_ledger().wallet(ALICE).holds == {"a": ["USDT", 600]}


class GatedLedger(Ledger):
    """A ledger whose saves wait at a barrier, so two commands read the same version before either writes."""

    name = "Ledger"  # the same event store tables as the ledger
    barrier: threading.Barrier

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        self.barrier.wait(timeout=10)
        return super().save(*objs, **kwargs)


def test_racing_commands_on_one_wallet_one_commits_one_gets_a_retryable_conflict(
        pg: PgConnectionInfo, make_pg_ledger: Callable[..., Ledger], clock: Callable[[], int]) -> None:
    from infra.bootstrap import postgres_env

    setup = make_pg_ledger()
    seed_reference_data(setup)
    setup.execute(c.Deposit("d1", ALICE, "USDT", 1_000))
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    ledgers = {}
    for name in ("x", "y"):  # built one after the other: only the commands race
        ledgers[name] = GatedLedger(env=postgres_env(pg), clock=clock)
        ledgers[name].barrier = barrier

    def hold(name: str) -> None:
        try:
            outcomes[name] = ledgers[name].execute(c.PlaceHold(f"hold-{name}", ALICE, "USDT", 600, name))
        except ConcurrentUpdate as error:
            outcomes[name] = error

    threads = [threading.Thread(target=hold, args=(name,)) for name in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for ledger in ledgers.values():
        ledger.close()
    conflicts = [o for o in outcomes.values() if isinstance(o, ConcurrentUpdate)]
    assert len(outcomes) == 2 and len(conflicts) == 1
    assert conflicts[0].code == "concurrent_update"
    wallet = make_pg_ledger().wallet(ALICE)
    assert wallet.balance("USDT") == Balance(1_000, 600) and len(wallet.holds) == 1


def test_an_old_stored_event_is_upcast_when_read(make_pg_ledger: Callable[..., Ledger]) -> None:
    ledger = make_pg_ledger()
    # Account.Opened as version 1 stored it: no `preferences`, no class_version.
    v1_state = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2025-06-01T12:00:00+00:00"},
        "originator_topic": "tradex.Account",
        "at_ns": 1_748_779_200_000_000_000,
        "command_id": "legacy-import-1",
        "account_id": 4242,
        "profile": {"name": "Legacy Larry"},
    }
    aggregate_id = account_id_uuid(4242)
    ledger.recorder.insert_events([StoredEvent(
        originator_id=aggregate_id, originator_version=1, topic="tradex.Account.Opened",
        state=json.dumps(v1_state).encode())])
    account = make_pg_ledger().repository.get(aggregate_id)
    assert isinstance(account, Account)
    assert account.preferences == {}
    assert account.profile == {"name": "Legacy Larry"}
    # new events of the upcast aggregate are written in the current version
    ledger.execute(c.UpdateProfile("p1", 4242, {"name": "Larry"}))
    assert make_pg_ledger().account(4242).profile == {"name": "Larry"}


def test_a_version_1_market_batch_with_rows_as_json_lists_is_upcast(make_pg_ledger: Callable[..., Ledger]) -> None:
    ledger = make_pg_ledger()
    with causation(1_748_779_200_000_000_000, "market:X-Y"):
        market = Market(symbol="X-Y")
    ledger.save(market)
    rows = [[1_748_779_200_000_000_000, 7, 1001, 5, 100, 0, 0, 0, 1, 0, 0, 0, 0, 0, -(2**63)],
            [1_748_779_200_000_000_001, 7, 1001, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 2**63 - 1]]
    v1_state = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2025-06-01T12:00:00+00:00"},
        "at_ns": 1_748_779_200_000_000_000, "command_id": "batch:X-Y:1",
        "first_seq": 1, "commands": rows, "events_digest": "ab" * 32, "trades": 0,
        "opened": [], "closed": [7], "next_order_id": 8,
    }
    ledger.recorder.insert_events([StoredEvent(originator_id=market.id, originator_version=2,
                                               topic="tradex.Market.BatchMatched",
                                               state=json.dumps(v1_state).encode())])
    batch = list(make_pg_ledger().events.get(market.id))[-1]
    assert isinstance(batch, Market.BatchMatched)
    assert (batch.row_count, batch.row_width, batch.next_order_id) == (2, 15, 8)
    assert batch.row_tuples() == [tuple(row) for row in rows]
    reloaded = make_pg_ledger().repository.get(market.id)
    assert isinstance(reloaded, Market) and reloaded.last_seq == 2
