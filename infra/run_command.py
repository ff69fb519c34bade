"""`tradex run`: the whole venue on its embedded default (or configured store).

1. Start the event store, load the seed's reference data, play its scripted session (idempotent: every
   step has a fixed command id), print the books and prove them (zero-sum, hash chain).
2. Unless `--seconds 0`: start the venue's write side (books rebuilt from the log), the projectors, and
   the HTTP/WebSocket API on 127.0.0.1:8000 (TRADEX_API_HOST/PORT); with `--simulate`, a synthetic
   market trades at once. It serves until Ctrl-C / SIGTERM, or for `--seconds N`, then stops everything
   in order and prints a summary.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from commands.ledger import Ledger
from domain.errors import LedgerError
from domain.values import SYSTEM_ACCOUNTS
from infra.balances_report import balance_rows, check_invariants
from infra.bootstrap import open_ledger
from infra.chained_recorder import HashChainedRecorder, verify_chain
from infra.seed import SeedError, load_seed, reference_commands, session_steps
from infra.settings import SettingsError, load_settings
from infra.table import render_table


def add_run_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("run", help="run the ledger on its embedded default (or configured store)")
    parser.add_argument("--data-dir", help="where the embedded PostgreSQL keeps its data (default ./var)")
    parser.add_argument("--seed", help="seed file (TOML); default: the demo seed")
    parser.add_argument("--simulate", action="store_true", help="add a synthetic market (live data at once)")
    parser.add_argument("--rate", type=float, default=200.0, help="commands/s of --simulate (default 200)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="serve this long, then stop (default: until Ctrl-C; 0: the report only)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    try:
        settings = load_settings()
        if args.data_dir:
            settings = replace(settings, data_dir=Path(args.data_dir))
        seed = load_seed(args.seed or settings.seed_file)
        references = list(reference_commands(seed))
        steps = list(session_steps(seed))
    except (SettingsError, SeedError, OSError) as error:
        print(f"tradex run: {error}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    with open_ledger(settings) as (ledger, store):
        where = f"embedded PostgreSQL in {settings.embedded_pg_dir}" if store.embedded else "configured PostgreSQL"
        print(f"event store: {where} at {store.info.host}:{store.info.port}/{store.info.dbname}"
              + (f" (started in {store.startup_seconds:.2f} s)" if store.embedded else ""), file=out)
        for command in references:
            ledger.execute(command)
        _print_reference_data(ledger, out)
        failures = _play_session(ledger, steps, out)
        rows = balance_rows(ledger)
        _print_balances(ledger, rows, out)
        report = check_invariants(rows)
        sums = ", ".join(f"{asset} {total}" for asset, total in report.sums.items())
        print(f"\nzero-sum check: per asset, the sum of all balances is {sums}", file=out)
        for violation in report.violations:
            print(f"  VIOLATION: {violation}", file=out)
        print(f"invariants {'hold' if report.holds else 'BROKEN'}: every asset sums to zero, held <= total, "
              f"available >= 0 for every client account", file=out)
        chain_ok = True
        if isinstance(ledger.recorder, HashChainedRecorder):
            chain = verify_chain(ledger.recorder)
            chain_ok = chain.intact
            print(f"hash chain: {chain.events_checked} events verified, "
                  + ("intact" if chain.intact else f"BROKEN at notification {chain.first_broken_notification_id}")
                  + f", head {chain.head_hash.hex()[:16]}", file=out)
        print(f"log head: notification {ledger.recorder.max_notification_id()}; "
              f"done in {time.perf_counter() - began:.2f} s", file=out)
        healthy = report.holds and chain_ok and not failures
        if not healthy or getattr(args, "seconds", None) == 0:
            return 0 if healthy else 1
        from infra.venue_service import serve

        return serve(ledger, store, settings, simulate=bool(getattr(args, "simulate", False)),
                     rate=float(getattr(args, "rate", 200.0)), seconds=getattr(args, "seconds", None), out=out)


def _print_reference_data(ledger: Ledger, out: TextIO) -> None:
    rows = []
    for instrument in ledger.instruments():
        spec = instrument.spec
        rows.append([spec.symbol, instrument.status, str(spec.ticks_to_price(1)), str(spec.lots_to_qty(1)),
                     f"{spec.min_qty_lots}..{spec.max_qty_lots}",
                     f"{spec.ticks_to_price(spec.min_price_ticks)}..{spec.ticks_to_price(spec.max_price_ticks)}",
                     f"{spec.maker_fee_ppm}/{spec.taker_fee_ppm}"])
    print("\ninstruments", file=out)
    print(render_table(["symbol", "status", "tick", "lot", "qty lots", "price band", "fees ppm m/t"], rows),
          file=out)
    accounts = [[str(a.account_id), str(a.profile.get("name", "")), a.kyc, "yes" if a.frozen else "no",
                 "yes" if a.may_trade else "no"] for a in ledger.accounts()]
    print("\naccounts", file=out)
    print(render_table(["account", "name", "kyc", "frozen", "may trade"], accounts), file=out)


def _play_session(ledger: Ledger, steps: list, out: TextIO) -> int:  # type: ignore[type-arg]
    print("\nscripted session", file=out)
    failures = 0
    for step in steps:
        command = step.command
        try:
            result = ledger.execute(command)
            outcome = f"{'already applied' if result.duplicate else 'applied'} at log position {result.log_position}"
            if step.expect:
                failures += 1
                outcome += f" (UNEXPECTED: should have been refused with {step.expect})"
        except LedgerError as error:
            outcome = f"refused {error.code}: {error.message}"
            if error.code != step.expect:
                failures += 1
                outcome += " (UNEXPECTED)"
        print(f"  {command.command_id:<22} {outcome}", file=out)
    return failures


def _print_balances(ledger: Ledger, rows: list, out: TextIO) -> None:  # type: ignore[type-arg]
    scales = {}
    table = []
    for row in rows:
        if row.asset not in scales:
            scales[row.asset] = ledger.asset(row.asset).scale
        scale = scales[row.asset]
        name = SYSTEM_ACCOUNTS.get(row.account_id, str(row.account_id))
        amounts = [f"{Decimal(v).scaleb(-scale):f}" for v in (row.total, row.held, row.available)]
        table.append([name, row.asset, *amounts])
    print("\nbalances", file=out)
    print(render_table(["account", "asset", "total", "held", "available"], table, right_align_from=2), file=out)
