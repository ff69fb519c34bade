"""`tradex simulate`: drive the venue's write side with a seeded synthetic market and summarise it."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from commands.ledger import Ledger
from commands.order_commands import PlaceOrder
from commands.sequencer import Sequencer
from commands.venue import Venue
from domain.errors import LedgerError
from infra.balances_report import balance_rows, check_invariants
from infra.bootstrap import open_ledger
from infra.progress import Progress
from infra.seed import SeedError, load_seed, reference_commands
from infra.settings import SettingsError, load_settings
from infra.simulated_flow import market_simulation, open_simulated_accounts


def add_simulate_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("simulate", help="drive the venue with a seeded synthetic market")
    parser.add_argument("--commands", type=int, default=20_000, help="commands to send (default 20000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--accounts", type=int, default=20, help="simulated traders (default 20)")
    parser.add_argument("--wave", type=int, default=500, help="commands in flight at once (default 500)")
    parser.add_argument("--data-dir", help="data directory of the embedded store")
    parser.add_argument("--ack-log", help="append 'command_id log_position outcome' per acknowledged command, "
                        "fsynced after each wave (used by the crash tests)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=simulate)


def _setup(ledger: Ledger, account_ids: list[int], seed_path: str) -> None:
    for command in reference_commands(load_seed(seed_path)):
        ledger.execute(command)
    open_simulated_accounts(ledger, tuple(account_ids))


def simulate(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    try:
        settings = load_settings()
        if args.data_dir:
            settings = replace(settings, data_dir=Path(args.data_dir))
    except SettingsError as error:
        print(f"tradex simulate: {error}", file=sys.stderr)
        return 2
    if args.commands < 0 or args.accounts < 1 or args.wave < 1:
        print("tradex simulate: --commands >= 0, --accounts >= 1 and --wave >= 1", file=sys.stderr)
        return 2
    accounts = [5_000 + n for n in range(1, args.accounts + 1)]
    ack_log = open(args.ack_log, "a") if args.ack_log else None  # noqa: SIM115 - closed below
    began = time.perf_counter()
    try:
        with open_ledger(settings) as (ledger, store):
            try:
                _setup(ledger, accounts, settings.seed_file)
            except (SeedError, LedgerError) as error:
                print(f"tradex simulate: seed: {error}", file=sys.stderr)
                return 2
            venue = Venue(ledger)
            replayed = venue.start()
            print(f"venue started on {'embedded' if store.embedded else 'configured'} PostgreSQL; replayed "
                  + ", ".join(f"{symbol} {count} engine commands" for symbol, count in replayed.items()), file=out)
            simulation = market_simulation(ledger, tuple(accounts), seed=args.seed)
            counts: Counter[str] = Counter()
            with Sequencer(venue) as sequencer:
                funding = list(simulation.funding(quote_amount=10**15, base_amount=10**12))
                for future in sequencer.submit_many(funding):
                    future.result(60)
                progress = Progress("simulate", args.commands, enabled=not args.quiet)
                sent = 0
                while sent < args.commands:
                    wave = simulation.next_batch(min(args.wave, args.commands - sent), ledger.clock())
                    outcomes = [f.result(120) for f in sequencer.submit_many(wave)]
                    for command, outcome in zip(wave, outcomes, strict=True):
                        simulation.acknowledge(command, outcome.result)
                        kind = type(command).__name__
                        counts[f"{kind} {'ok' if outcome.ok else 'refused'}"] += 1
                    if ack_log is not None:
                        for outcome in outcomes:
                            state = "ok" if outcome.ok else f"refused:{outcome.error.code if outcome.error else ''}"
                            ack_log.write(f"{outcome.command_id} {outcome.log_position} {state}\n")
                        ack_log.flush()
                        os.fsync(ack_log.fileno())
                    sent += len(wave)
                    progress.update(sent)
                progress.done()
                stats = sequencer.stats
            elapsed = time.perf_counter() - began
            _summary(venue, counts, stats.batches, stats.commands, elapsed, out)
            report = check_invariants(balance_rows(ledger))
            print("balances check: " + ("every asset sums to zero, no negative available" if report.holds
                                        else "BROKEN: " + "; ".join(report.violations)), file=out)
            return 0 if report.holds else 1
    finally:
        if ack_log is not None:
            ack_log.close()


def _summary(venue: Venue, counts: Counter[str], batches: int, commands: int, elapsed: float,
             out: TextIO) -> None:
    orders = sum(v for k, v in counts.items() if k.startswith(PlaceOrder.__name__))
    print(f"\n{commands} commands in {batches} batches (mean {commands / max(batches, 1):.0f} per batch), "
          f"{elapsed:.1f} s wall, {commands / max(elapsed, 1e-9):.0f} commands/s overall", file=out)
    for key in sorted(counts):
        print(f"  {key:<24} {counts[key]}", file=out)
    print(f"orders placed: {orders}", file=out)
    for symbol, runtime in sorted(venue.markets.items()):
        spec = runtime.spec
        print(f"{symbol}: {runtime.market.trades} trades, last engine seq {runtime.market.last_seq}, "
              f"{len(runtime.market.live)} open orders; tick {spec.ticks_to_price(1)}", file=out)
