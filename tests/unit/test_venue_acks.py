"""What a command's acknowledgement says: its own effect, whichever batch it shares."""

from __future__ import annotations

from commands import ledger_commands as c
from commands.order_commands import PlaceOrder
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
