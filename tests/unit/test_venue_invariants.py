"""The write side under a long randomized run: the invariants hold after every batch."""

from __future__ import annotations

import pytest

from commands import ledger_commands as c
from commands.ledger import Ledger
from commands.venue import Venue
from infra.simulation import MarketSimulation, SimulatedMarket
from tests.conftest import FakeClock
from tests.ledger_fixtures import seed_reference_data
from tests.venue_checks import check_venue_invariants

ACCOUNTS = [2001, 2002, 2003, 2004, 2005]


def venue_with_accounts(clock: FakeClock) -> Venue:
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)
    seed_reference_data(ledger)
    for account in ACCOUNTS:
        ledger.execute(c.OpenAccount(f"open-{account}", account, {"name": f"trader {account}"}))
        ledger.execute(c.VerifyKyc(f"kyc-{account}", account, "reviewer"))
    venue = Venue(ledger)
    venue.start()
    return venue


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_invariants_hold_after_every_batch(seed: int) -> None:
    clock = FakeClock(step_ns=1_000_000)
    venue = venue_with_accounts(clock)
    spec = venue.ledger.instrument("BTC-USDT").spec
    simulation = MarketSimulation([SimulatedMarket(spec, 6_000_000)], ACCOUNTS, seed=seed, exotic_share=0.3)
    funding = list(simulation.funding(quote_amount=10**13, base_amount=10**10))
    assert all(outcome.ok for outcome in venue.process(funding))
    trades = refused = 0
    for _ in range(60):
        batch = simulation.next_batch(simulation.rng.randint(1, 25), clock.now_ns)
        outcomes = venue.process(batch)
        for command, outcome in zip(batch, outcomes, strict=True):
            simulation.acknowledge(command, outcome.result)
            refused += outcome.error is not None
        check_venue_invariants(venue)
    trades = sum(runtime.market.trades for runtime in venue.markets.values())
    assert trades > 50, "the simulated market trades"
    assert refused < 200
