"""The venue on a real PostgreSQL: restart rebuilds and checks the books; resent commands take effect once."""

from __future__ import annotations

import json
from collections.abc import Callable

import psycopg
import pytest

from commands import ledger_commands as c
from commands.ledger import Ledger
from commands.order_commands import CancelOrder, PlaceOrder
from commands.venue import Venue, VenueStartError
from domain.market import pack_rows, unpack_rows
from infra.embedded_postgres import PgConnectionInfo
from tests.ledger_fixtures import ALICE, BOB, seed_reference_data
from tests.venue_checks import check_venue_invariants

pytestmark = pytest.mark.integration


def trading_session(venue: Venue) -> None:
    outcomes = venue.process([
        c.Deposit("fund-alice", ALICE, "USDT", 10**12),
        c.Deposit("fund-bob", BOB, "BTC", 10**9),
    ])
    assert all(o.ok for o in outcomes)
    outcomes = venue.process([
        PlaceOrder("ask-1", BOB, "BTC-USDT", "sell", "limit", "0.5", price="60000.00"),
        PlaceOrder("ask-2", BOB, "BTC-USDT", "sell", "limit", "0.5", price="60010.00"),
        PlaceOrder("bid-1", ALICE, "BTC-USDT", "buy", "limit", "0.7", price="60020.00"),
        PlaceOrder("bid-2", ALICE, "BTC-USDT", "buy", "limit", "0.1", price="59000.00"),
    ])
    # each placement is answered with its state right after the engine handled it
    assert [o.result["status"] for o in outcomes if o.result] == ["accepted", "accepted", "filled", "accepted"]


def test_restart_replays_the_log_and_reproduces_the_books(make_pg_ledger: Callable[..., Ledger]) -> None:
    first_ledger = make_pg_ledger()
    seed_reference_data(first_ledger)
    first = Venue(first_ledger)
    first.start()
    trading_session(first)
    check_venue_invariants(first)
    levels_before = first.markets["BTC-USDT"].book.levels()

    restarted = Venue(make_pg_ledger())
    replayed = restarted.start()
    assert replayed["BTC-USDT"] == 4
    assert restarted.markets["BTC-USDT"].book.levels() == levels_before
    assert set(restarted.live) == set(first.live) == {("BTC-USDT", 2), ("BTC-USDT", 4)}
    # the rebuilt venue keeps trading where the first one stopped
    outcome, = restarted.process([CancelOrder("cancel-bid-2", ALICE, "BTC-USDT", 4)])
    assert outcome.ok and outcome.result is not None and outcome.result["status"] == "cancelled"
    check_venue_invariants(restarted)


def test_commands_resent_after_a_restart_take_effect_once(make_pg_ledger: Callable[..., Ledger]) -> None:
    ledger = make_pg_ledger()
    seed_reference_data(ledger)
    venue = Venue(ledger)
    venue.start()
    trading_session(venue)
    restarted = Venue(make_pg_ledger())
    restarted.start()
    head = restarted.ledger.recorder.max_notification_id()
    again = restarted.process([
        c.Deposit("fund-alice", ALICE, "USDT", 10**12),
        PlaceOrder("bid-1", ALICE, "BTC-USDT", "buy", "limit", "0.7", price="60020.00"),
    ])
    assert all(o.duplicate for o in again)
    assert again[1].result is not None and again[1].result["order_id"] == 3
    assert restarted.ledger.recorder.max_notification_id() == head
    conflict, = restarted.process([PlaceOrder("bid-1", ALICE, "BTC-USDT", "buy", "limit", "0.8", price="60020.00")])
    assert conflict.error is not None and conflict.error.code == "command_conflict"


def test_a_log_that_does_not_replay_to_its_recorded_events_stops_the_start(
        make_pg_ledger: Callable[..., Ledger], pg: PgConnectionInfo) -> None:
    ledger = make_pg_ledger()
    seed_reference_data(ledger)
    venue = Venue(ledger)
    venue.start()
    trading_session(venue)
    # Alter one recorded engine command: the second ask's price.
    with psycopg.connect(pg.conninfo()) as connection:
        rows = connection.execute("SELECT notification_id, state FROM ledger_events "
                                  "WHERE topic = 'tradex.Market.BatchMatched'").fetchall()
        notification_id, state = rows[-1]
        document = json.loads(bytes(state))
        rows = unpack_rows(document["rows"], document["row_width"])
        rows[1] = (*rows[1][:4], rows[1][4] + 1, *rows[1][5:])
        document["rows"] = pack_rows(rows)
        connection.execute("UPDATE ledger_events SET state = %s WHERE notification_id = %s",
                           (json.dumps(document).encode(), notification_id))
    with pytest.raises(VenueStartError, match=r"BTC-USDT: replaying engine commands 1\.\.4 gives different events"):
        Venue(make_pg_ledger()).start()


def many_batches(venue: Venue, batches: int) -> None:
    """Batches of resting quotes and cancels that leave some orders open: engine commands to replay."""
    for n in range(batches):
        ask = 60_100 + n
        outcomes = venue.process([
            PlaceOrder(f"q-ask-{n}", BOB, "BTC-USDT", "sell", "limit", "0.01", price=f"{ask}.00"),
            PlaceOrder(f"q-bid-{n}", ALICE, "BTC-USDT", "buy", "limit", "0.01", price=f"{58_000 - n}.00"),
            PlaceOrder(f"q-take-{n}", ALICE, "BTC-USDT", "buy", "limit", "0.005", price=f"{ask}.00", tif="ioc"),
        ])
        assert all(o.ok for o in outcomes)
        if n % 3 == 0:
            cancel, = venue.process([CancelOrder(f"q-cancel-{n}", ALICE, "BTC-USDT",
                                                 outcomes[1].result["order_id"])])  # type: ignore[index]
            assert cancel.ok


def test_restart_starts_from_the_newest_engine_checkpoint_and_replays_only_the_tail(
        make_pg_ledger: Callable[..., Ledger], pg: PgConnectionInfo) -> None:
    ledger = make_pg_ledger()
    seed_reference_data(ledger)
    venue = Venue(ledger, checkpoint_every=10)
    venue.start()
    trading_session(venue)
    many_batches(venue, 12)
    market = venue.markets["BTC-USDT"].market
    with psycopg.connect(pg.conninfo()) as connection:
        checkpoints = connection.execute("SELECT last_seq, market_version FROM ledger_events_engine_checkpoints "
                                         "ORDER BY last_seq").fetchall()
    assert len(checkpoints) >= 3 and checkpoints[-1][0] < market.last_seq
    newest_seq = checkpoints[-1][0]

    from_checkpoint = Venue(make_pg_ledger())
    replayed = from_checkpoint.start()
    assert replayed["BTC-USDT"] == market.last_seq - newest_seq  # only the tail after the checkpoint
    with psycopg.connect(pg.conninfo()) as connection:
        connection.execute("DELETE FROM ledger_events_engine_checkpoints")
    from_scratch = Venue(make_pg_ledger())
    assert from_scratch.start()["BTC-USDT"] == market.last_seq
    for rebuilt in (from_checkpoint, from_scratch):
        book = rebuilt.markets["BTC-USDT"].book
        assert book.levels() == venue.markets["BTC-USDT"].book.levels()
        assert book.live_orders == venue.markets["BTC-USDT"].book.live_orders
        assert set(rebuilt.live) == set(venue.live)
    # the venue restored from the checkpoint keeps trading
    outcome, = from_checkpoint.process([PlaceOrder("after", ALICE, "BTC-USDT", "buy", "limit", "0.02",
                                                   price="60200.00")])
    assert outcome.ok and outcome.result is not None and outcome.result["status"] == "filled"
    check_venue_invariants(from_checkpoint)


def test_a_tampered_batch_after_the_checkpoint_is_still_refused(make_pg_ledger: Callable[..., Ledger],
                                                                 pg: PgConnectionInfo) -> None:
    ledger = make_pg_ledger()
    seed_reference_data(ledger)
    venue = Venue(ledger, checkpoint_every=10)
    venue.start()
    trading_session(venue)
    many_batches(venue, 6)
    with psycopg.connect(pg.conninfo()) as connection:
        newest_seq, = connection.execute("SELECT max(last_seq) FROM ledger_events_engine_checkpoints").fetchone()
        notification_id, state = connection.execute(
            "SELECT notification_id, state FROM ledger_events WHERE topic = 'tradex.Market.BatchMatched' "
            "ORDER BY notification_id DESC LIMIT 1").fetchone()
        document = json.loads(bytes(state))
        assert document["first_seq"] > newest_seq
        rows = unpack_rows(document["rows"], document["row_width"])
        rows[2] = (*rows[2][:3], rows[2][3] + 1, *rows[2][4:])  # the ioc taker: one more lot to fill
        document["rows"] = pack_rows(rows)
        connection.execute("UPDATE ledger_events SET state = %s WHERE notification_id = %s",
                           (json.dumps(document).encode(), notification_id))
    with pytest.raises(VenueStartError, match="gives different events than the log recorded"):
        Venue(make_pg_ledger()).start()


def test_the_venue_snapshots_aggregates_from_their_state_and_loading_from_the_snapshot_agrees(
        make_pg_ledger: Callable[..., Ledger], pg: PgConnectionInfo) -> None:
    ledger = make_pg_ledger()
    seed_reference_data(ledger)
    venue = Venue(ledger)
    venue.start()
    assert venue.process([c.Deposit("fund", ALICE, "USDT", 10**12)])[0].ok
    for n in range(105):  # one hold per batch: the wallet passes version 100
        outcome, = venue.process([PlaceOrder(f"s-{n}", ALICE, "BTC-USDT", "buy", "limit", "0.001",
                                             price=f"{50_000 + n}.00")])
        assert outcome.ok
    wallet = ledger.wallet(ALICE)
    assert wallet.version > 100
    with psycopg.connect(pg.conninfo()) as connection:
        versions = [row[0] for row in connection.execute(
            "SELECT originator_version FROM ledger_snapshots WHERE originator_id = %s", (wallet.id,))]
    assert versions == [100]
    fresh = make_pg_ledger().wallet(ALICE)  # loaded from the snapshot plus the later events
    assert fresh.version == wallet.version
    assert fresh.balances() == wallet.balances() and fresh.holds == wallet.holds
