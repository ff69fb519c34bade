"""gtd orders of an idle market expire on time: the sequencer sweeps them when no command comes."""

from __future__ import annotations

import time
from collections.abc import Callable

from commands import ledger_commands as c
from commands.ledger import Ledger
from commands.order_commands import PlaceOrder
from commands.sequencer import Sequencer
from commands.venue import Venue
from domain.ids import order_uuid
from tests.conftest import FakeClock
from tests.ledger_fixtures import ALICE, seed_reference_data
from tests.venue_checks import check_venue_invariants


def test_an_idle_market_expires_its_due_gtd_orders_and_a_restart_replays_the_sweep(
        make_pg_ledger: Callable[..., Ledger], clock: FakeClock) -> None:
    ledger = make_pg_ledger()
    seed_reference_data(ledger)
    venue = Venue(ledger)
    venue.start()
    assert venue.process([c.Deposit("fund", ALICE, "USDT", 10**12)])[0].ok
    expire_at = clock.now_ns + 50_000_000  # 50 ms of the venue's clock
    with Sequencer(venue, expiry_check_s=0.01) as sequencer:
        placed = sequencer.execute(PlaceOrder("gtd-1", ALICE, "BTC-USDT", "buy", "limit", "0.1", price="50000.00",
                                              tif="gtd", expire_at_ns=expire_at))
        kept = sequencer.execute(PlaceOrder("gtc-1", ALICE, "BTC-USDT", "buy", "limit", "0.1", price="49000.00"))
        assert placed.result is not None and placed.result["status"] == "accepted"
        held = ledger.wallet(ALICE).balance("USDT").held
        time.sleep(0.05)
        assert ledger.order(order_uuid("BTC-USDT", 1)).status == "accepted"  # not due yet: nothing swept
        clock.now_ns = expire_at  # the venue's time passes the expiry; no client command comes
        deadline = time.monotonic() + 10
        while ledger.order(order_uuid("BTC-USDT", 1)).status != "expired":
            assert time.monotonic() < deadline, "the due gtd order was not swept"
            time.sleep(0.02)
    assert kept.result is not None and ledger.order(order_uuid("BTC-USDT", 2)).status == "accepted"
    assert ledger.wallet(ALICE).balance("USDT").held < held  # the expired order's hold is released
    check_venue_invariants(venue)
    restarted = Venue(make_pg_ledger())
    restarted.start()  # the sweep's engine row replays to the recorded digest
    assert set(restarted.live) == {("BTC-USDT", 2)}
