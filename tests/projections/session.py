"""A scripted trading session through the write side, for the projection tests.

Two markets (BTC-USDT from the shared fixtures, ETH-USDT listed here), nine accounts, deposits, then a
hand-written part that makes sure every kind of event the projections handle is in the log: partial
fills, a taker sweeping two makers, an iceberg filled several times by one taker (several trades in
one fills event), a self-trade, a stop triggered by a trade, amends of price and qty, cancels, a gtd
order expiring, post-only and fok orders refused by the engine, a withdrawal, a hold released and a
settlement paid from a hold, a fee change, a halt and a resumption. Then a seeded random market
(infra/simulation.py) with the rarer order kinds, batch after batch, with time moving on by seconds
per batch and once across a day boundary (candles of every interval, several day partitions).
"""

from __future__ import annotations

from commands import ledger_commands as c
from commands.ledger import Ledger
from commands.order_commands import AmendOrder, CancelOrder, PlaceOrder
from commands.venue import Outcome, Venue
from infra.simulation import MarketSimulation, SimulatedMarket
from projections.market_data import NS_PER_DAY
from tests.conftest import FakeClock
from tests.ledger_fixtures import ALICE, BOB, CAROL, seed_reference_data

TRADERS = [2001, 2002, 2003, 2004, 2005, 2006]
BTC, ETH = "BTC-USDT", "ETH-USDT"
START_NS = 1_767_225_600_000_000_000 + 23 * 3_600 * 1_000_000_000  # 2026-01-01T23:00Z: a day boundary is near


def session_clock() -> FakeClock:
    return FakeClock(start_ns=START_NS, step_ns=9_000_000_000)  # 9 s per read: batches span minutes


def ok(outcomes: list[Outcome]) -> list[Outcome]:
    failed = [(o.command_id, o.error) for o in outcomes if not o.ok]
    assert not failed, failed
    return outcomes


def run_session(ledger: Ledger, clock: FakeClock, batches: int = 90, seed: int = 11) -> Venue:
    """Drive the whole session; returns the venue (its ledger holds the log)."""
    seed_reference_data(ledger)
    for command in (
        c.RegisterAsset("a-eth", "ETH", 8),
        c.ListInstrument("i-eth", ETH, "ETH", "USDT", 10_000, 100_000, 1, 1_000_000, 10_000, 5_000_000, 1_000, 2_000),
        *(c.OpenAccount(f"open-{a}", a, {"name": f"trader {a}"}) for a in TRADERS),
        *(c.VerifyKyc(f"kyc-{a}", a, "reviewer") for a in TRADERS),
    ):
        ledger.execute(command)
    venue = Venue(ledger)
    venue.start()
    everyone = [ALICE, BOB, *TRADERS]
    ok(venue.process([c.Deposit(f"fund-{a}-{asset}", a, asset, amount) for a in everyone
                      for asset, amount in (("USDT", 10**13), ("BTC", 10**10), ("ETH", 10**11))]))
    ok(venue.process([c.Deposit("fund-carol", CAROL, "USDT", 5 * 10**8)]))
    scripted(venue, clock)
    simulation = MarketSimulation([SimulatedMarket(ledger.instrument(BTC).spec, 6_000_000),
                                   SimulatedMarket(ledger.instrument(ETH).spec, 300_000)],
                                  TRADERS, seed=seed, exotic_share=0.3)
    for number in range(batches):
        if number == batches // 2:
            clock.now_ns += NS_PER_DAY // 3  # the session runs past midnight
        batch = simulation.next_batch(simulation.rng.randint(1, 30), clock.now_ns)
        for command, outcome in zip(batch, venue.process(batch), strict=True):
            simulation.acknowledge(command, outcome.result)
    return venue


def scripted(venue: Venue, clock: FakeClock) -> None:
    """The hand-written part: each step's expected outcome is checked, so the log is what it says."""
    ok(venue.process([
        PlaceOrder("ask-1", BOB, BTC, "sell", "limit", "0.5", price="60000.00"),
        PlaceOrder("ask-2", BOB, BTC, "sell", "limit", "0.5", price="60010.00"),
        PlaceOrder("bid-1", ALICE, BTC, "buy", "limit", "0.7", price="60020.00"),  # sweeps ask-1, part of ask-2
    ]))
    ok(venue.process([
        PlaceOrder("iceberg", ALICE, BTC, "buy", "limit", "1.0", price="59990.00", display_qty="0.2"),
        PlaceOrder("stop", BOB, BTC, "sell", "stop_market", "0.1", trigger_price="59980.00",
                   protection_price="59000.00"),
    ]))
    # one market sell meets the iceberg several times (several trades in one fills event), then the
    # trades at 59990 trigger nothing yet; a self-trade by ALICE against her own iceberg follows
    ok(venue.process([PlaceOrder("sweep", BOB, BTC, "sell", "market", "0.5", protection_price="59000.00")]))
    ok(venue.process([PlaceOrder("self", ALICE, BTC, "sell", "limit", "0.1", price="59990.00")]))
    ok(venue.process([
        PlaceOrder("low-bid", ALICE, BTC, "buy", "limit", "0.3", price="59970.00"),
        PlaceOrder("dump", BOB, BTC, "sell", "limit", "0.6", price="59970.00"),  # clears 59990, trades at 59970
    ]))
    ok(venue.process([
        PlaceOrder("rest-1", 2001, ETH, "buy", "limit", "2.0", price="2990.00"),
        PlaceOrder("rest-2", 2002, ETH, "sell", "limit", "3.0", price="3010.00"),
        PlaceOrder("gtd", 2003, ETH, "buy", "limit", "1.0", price="2980.00", tif="gtd",
                   expire_at_ns=clock.now_ns + 10_000_000_000),
        PlaceOrder("post", 2004, ETH, "buy", "limit", "1.0", price="3010.00", post_only=True),  # would cross
        PlaceOrder("fok", 2005, ETH, "buy", "limit", "9.0", price="3010.00", tif="fok"),  # not enough
    ]))
    ok(venue.process([
        AmendOrder("amend-price", 2001, ETH, 1, price="2995.00"),
        AmendOrder("amend-qty", 2002, ETH, 2, qty="2.5"),
    ]))
    ok(venue.process([
        PlaceOrder("take-eth", 2006, ETH, "sell", "limit", "1.5", price="2995.00"),
        CancelOrder("cancel-rest-2", 2002, ETH, 2),
    ]))
    ok(venue.process([
        c.Withdraw("withdraw-alice", ALICE, "USDT", 1_000_000_000),
        c.PlaceHold("hold-bob", BOB, "BTC", 50_000_000, "withdrawal:bob:1"),
    ]))
    ok(venue.process([
        c.ReleaseHold("release-bob", BOB, "withdrawal:bob:1", 20_000_000),
        c.Settle("settle-bob", BOB, ALICE, "BTC", 30_000_000, "withdrawal:bob:1"),
        c.ChangeInstrument("fees-btc", BTC, {"maker_fee_ppm": 500, "taker_fee_ppm": 1_500}),
        c.HaltInstrument("halt-eth", ETH, "maintenance"),
    ]))
    ok(venue.process([c.ResumeInstrument("resume-eth", ETH)]))  # the gtd order has expired by now
