"""What a command's acknowledgement says: its own effect, whichever batch it shares."""

from __future__ import annotations

from commands import ledger_commands as c
from commands.order_commands import CancelOrder, PlaceOrder
from commands.venue import Venue
from tests.conftest import FakeClock
from tests.ledger_fixtures import ALICE, BOB
from tests.unit.test_venue_invariants import venue_with_accounts


def orders() -> list[c.Command]:
    return [
        PlaceOrder("ask", BOB, "BTC-USDT", "sell", "limit", "0.5", price="60000.00"),
        PlaceOrder("bid", ALICE, "BTC-USDT", "buy", "limit", "0.2", price="60000.00"),
    ]


def funded_venue() -> Venue:
    venue = venue_with_accounts(FakeClock())
    assert all(o.ok for o in venue.process([c.Deposit("f1", ALICE, "USDT", 10**12),
                                            c.Deposit("f2", BOB, "BTC", 10**9)]))
    return venue


def test_a_placement_is_answered_with_its_state_right_after_the_engine_handled_it() -> None:
    together = funded_venue().process(orders())
    venue = funded_venue()
    apart = [venue.process([command])[0] for command in orders()]
    for outcomes in (together, apart):  # the same answers however the batches split
        ask, bid = (outcome.result for outcome in outcomes)
        assert ask is not None and bid is not None
        assert (ask["status"], ask["filled_qty_lots"], ask["leaves_qty_lots"]) == ("accepted", 0, 5_000)
        assert (bid["status"], bid["filled_qty_lots"], bid["leaves_qty_lots"]) == ("filled", 2_000, 0)


def test_tick_or_lot_size_changes_only_on_an_empty_book() -> None:
    venue = funded_venue()
    placed, = venue.process([PlaceOrder("rest", BOB, "BTC-USDT", "sell", "limit", "0.5", price="60000.00")])
    assert placed.ok
    head = venue.ledger.recorder.max_notification_id()
    refused, = venue.process([c.ChangeInstrument("tick", "BTC-USDT", {"tick_size": 100_000})])
    assert refused.error is not None and refused.error.code == "instrument_has_open_orders"
    assert venue.ledger.recorder.max_notification_id() == head  # nothing stored
    fees, = venue.process([c.ChangeInstrument("fees", "BTC-USDT", {"maker_fee_ppm": 500})])
    assert fees.ok  # other fields may change with orders open
    cancelled, = venue.process([CancelOrder("cancel", BOB, "BTC-USDT", placed.result["order_id"])])  # type: ignore[index]
    assert cancelled.ok
    changed, = venue.process([c.ChangeInstrument("tick-2", "BTC-USDT", {"tick_size": 100_000})])
    assert changed.ok and venue.ledger.instrument("BTC-USDT").spec.tick_size == 100_000
