"""A steady synthetic order flow for a running venue (`tradex run --simulate`): live data at once.

A thread that sends waves of `infra.simulation.MarketSimulation` commands to the sequencer at a target
rate, learns from the acks which orders are open (so its cancels and amends mostly hit live orders), and
keeps counts. It is a client like any other: its commands go through the same checks and the same log.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

from commands import ledger_commands as c
from commands.ledger import Ledger
from commands.sequencer import Sequencer, SequencerStopped
from domain.errors import LedgerError
from infra.simulation import MarketSimulation, SimulatedMarket

SIMULATED_ACCOUNTS = tuple(5_000 + n for n in range(1, 21))


def open_simulated_accounts(ledger: Ledger, accounts: tuple[int, ...] = SIMULATED_ACCOUNTS) -> None:
    """Open and verify the simulated traders (idempotent: the command ids are fixed)."""
    for account in accounts:
        ledger.execute(c.OpenAccount(f"sim:open:{account}", account, {"name": f"simulated trader {account}"}))
        ledger.execute(c.VerifyKyc(f"sim:kyc:{account}", account, "simulation"))


def market_simulation(ledger: Ledger, accounts: tuple[int, ...], seed: int) -> MarketSimulation:
    markets = [SimulatedMarket(i.spec, min(i.spec.min_price_ticks * 60, i.spec.max_price_ticks))
               for i in ledger.instruments() if i.status == "trading"]
    return MarketSimulation(markets, list(accounts), seed=seed)


class SimulatedFlow(threading.Thread):
    """Sends `rate` commands per second (in waves of `wave`) until `stop()`."""

    def __init__(self, sequencer: Sequencer, simulation: MarketSimulation, clock: Callable[[], int],
                 rate: float = 200.0, wave: int = 20) -> None:
        super().__init__(name="tradex-simulated-flow", daemon=True)
        self.sequencer = sequencer
        self.simulation = simulation
        self.clock = clock
        self.rate = rate
        self.wave = wave
        self.counts: Counter[str] = Counter()
        self.error: BaseException | None = None
        self._stopping = threading.Event()

    def fund(self) -> None:
        """Deposit ample funds for every simulated account (once: the deposit ids are fixed)."""
        funding = list(self.simulation.funding(quote_amount=10**15, base_amount=10**12))
        for future in self.sequencer.submit_many(funding):
            future.result(60)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self.join(timeout)

    def run(self) -> None:
        try:
            self.fund()
            period = self.wave / self.rate
            next_wave = time.monotonic()
            while not self._stopping.is_set():
                wave = self.simulation.next_batch(self.wave, self.clock())
                outcomes = [future.result(60) for future in self.sequencer.submit_many(wave)]
                for command, outcome in zip(wave, outcomes, strict=True):
                    self.simulation.acknowledge(command, outcome.result)
                    self.counts[f"{type(command).__name__} {'ok' if outcome.ok else 'refused'}"] += 1
                next_wave += period
                self._stopping.wait(max(0.0, next_wave - time.monotonic()))
        except (SequencerStopped, LedgerError) as error:  # the venue stopped under us: report, do not crash
            self.error = error
