"""Event store write throughput: the stock eventsourcing path against the fast one, on PostgreSQL.

    python -m bench.event_store_bench [--sizes 100,1000,5000] [--runs 3]

Starts its own PostgreSQL (infra.embedded_postgres, fsync and synchronous_commit ON) in a temporary
directory, and for each configuration gives a Ledger its own fresh database:

- stock: infra.chained_recorder.HashChainedRecorder (INSERT ... unnest of a composite array) and
  eventsourcing's Mapper with JSONTranscoder;
- fast: infra.fast_recorder.FastHashChainedRecorder (binary COPY) and infra.fast_mapper.FastMapper
  (orjson).

A batch of N events has the shape of the matching engine's output, per order: Order placed, accepted
and filled (one Fill) and the owner's Wallet EntriesPosted with three entries (quote, base, fee), so
four events per order. For each batch size it measures, median of `--runs` runs after one warm-up:

- create: building the aggregates' events in one causation scope (domain code, the same for both);
- save: one `Ledger.save(*aggregates)` of the whole batch, one transaction;
- and the split of the save at the largest size: collecting pending events, mapping them to stored
  events, inserting them (the rest of `save` is eventsourcing building Recording objects).

Prints a table and exits 0; the temporary directory is removed and the server stopped either way.
The machine's load average is printed with the results: on a shared 2-core machine another busy
process halves every number here.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate
from psycopg import sql

from commands.ledger import Ledger
from domain.clock import causation
from domain.order import Fill, Order, OrderTerms
from domain.wallet import Entry, Wallet
from infra.bootstrap import postgres_env
from infra.embedded_postgres import EmbeddedPostgres, PgConnectionInfo

EVENTS_PER_ORDER = 4
WALLETS = 200
START_NS = 1_767_225_600_000_000_000

CONFIGS: dict[str, dict[str, str]] = {
    "stock": {},
    "fast": {
        "APPLICATION_RECORDER_TOPIC": "infra.fast_recorder:FastHashChainedRecorder",
        "MAPPER_TOPIC": "infra.fast_mapper:FastMapper",
    },
}


@dataclass
class Sample:
    create_us: list[float] = field(default_factory=list)  # per event
    save_us: list[float] = field(default_factory=list)  # per event
    save_cpu_us: list[float] = field(default_factory=list)  # this process's CPU time, per event


@dataclass
class Split:
    collect_us: float
    map_us: float
    insert_us: float


class Workload:
    """Builds batches of order and wallet events; wallets stay in memory (one writer), as in the engine."""

    def __init__(self, ledger: Ledger) -> None:
        self.order_ids = itertools.count(1)
        self.batches = itertools.count(1)
        with causation(START_NS, "bench-setup"):
            self.wallets = [Wallet.open(account) for account in range(1, WALLETS + 1)]
            for wallet in self.wallets:
                wallet.post((Entry(f"seed-{wallet.account_id}", "USDT", 10**15, -1, "deposit"),
                             Entry(f"seed-{wallet.account_id}-btc", "BTC", 10**15, -1, "deposit")))
        ledger.save(*self.wallets)

    def batch(self, events: int) -> list[Aggregate]:
        batch_number = next(self.batches)
        orders: list[Aggregate] = []
        touched: dict[int, Wallet] = {}
        with causation(START_NS + batch_number * 1_000_000, f"bench-batch-{batch_number}"):
            for _ in range(max(1, events // EVENTS_PER_ORDER)):
                order_id = next(self.order_ids)
                wallet = self.wallets[order_id % WALLETS]
                side = "buy" if order_id % 2 else "sell"
                order = Order.place(OrderTerms("BTC-USDT", order_id, wallet.account_id, side, "limit", 10, 100))
                order.accept()
                order.record_fills((Fill(f"T{order_id}", 100, 10, 1, "taker"),))
                sign = 1 if side == "buy" else -1
                wallet.post((Entry(f"T{order_id}-quote", "USDT", -sign * 1_000, 7, "trade"),
                             Entry(f"T{order_id}-base", "BTC", sign * 10, 7, "trade"),
                             Entry(f"T{order_id}-fee", "USDT", -1, -2, "fee")))
                orders.append(order)
                touched[wallet.account_id] = wallet
        return [*orders, *touched.values()]


def pending_count(aggregates: Sequence[Aggregate]) -> int:
    return sum(len(aggregate.pending_events) for aggregate in aggregates)


Results = dict[str, tuple[dict[int, Sample], Split]]


def run(infos: dict[str, PgConnectionInfo], sizes: Sequence[int], runs: int) -> Results:
    """Time every configuration, alternating between them run by run.

    On a shared machine the load changes from second to second; alternating makes the paths see the same
    conditions, so their ratio stays meaningful even when the absolute numbers do not.
    """
    ledgers = {name: Ledger(env={**postgres_env(info), **CONFIGS[name]}, clock=lambda: START_NS)
               for name, info in infos.items()}
    try:
        workloads = {name: Workload(ledger) for name, ledger in ledgers.items()}
        samples: dict[str, dict[int, Sample]] = {name: {} for name in ledgers}
        for size in sizes:
            for name, ledger in ledgers.items():
                ledger.save(*workloads[name].batch(size))  # warm-up: prepared statements, caches, first pages
                samples[name][size] = Sample()
            for _ in range(runs):
                for name, ledger in ledgers.items():
                    time_one_save(ledger, workloads[name], size, samples[name][size])
        splits = {name: measure_split(ledger, workloads[name], max(sizes), runs) for name, ledger in ledgers.items()}
        return {name: (samples[name], splits[name]) for name in ledgers}
    finally:
        for ledger in ledgers.values():
            ledger.close()


def time_one_save(ledger: Ledger, workload: Workload, size: int, sample: Sample) -> None:
    gc.collect()
    began = time.perf_counter()
    aggregates = workload.batch(size)
    created = time.perf_counter()
    events = pending_count(aggregates)
    cpu_began = time.process_time()
    ledger.save(*aggregates)
    saved = time.perf_counter()
    sample.create_us.append(1e6 * (created - began) / events)
    sample.save_us.append(1e6 * (saved - created) / events)
    sample.save_cpu_us.append(1e6 * (time.process_time() - cpu_began) / events)


def measure_split(ledger: Ledger, workload: Workload, size: int, runs: int) -> Split:
    """Where a save's time goes: the steps of Application.save, timed one by one."""
    collect, mapping, insert = [], [], []
    for _ in range(max(runs, 3)):
        gc.collect()
        aggregates = workload.batch(size)
        began = time.perf_counter()
        processing = ProcessingEvent[Any]()
        processing.collect_events(*aggregates)
        collected = time.perf_counter()
        stored = [ledger.mapper.to_stored_event(event) for event in processing.events]
        mapped = time.perf_counter()
        ledger.recorder.insert_events(stored)
        inserted = time.perf_counter()
        events = len(stored)
        collect.append(1e6 * (collected - began) / events)
        mapping.append(1e6 * (mapped - collected) / events)
        insert.append(1e6 * (inserted - mapped) / events)
    return Split(statistics.median(collect), statistics.median(mapping), statistics.median(insert))


def create_database(server: PgConnectionInfo, name: str) -> PgConnectionInfo:
    with psycopg.connect(server.conninfo("postgres"), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return PgConnectionInfo(server.host, server.port, name, server.user, server.password)


def server_settings(info: PgConnectionInfo) -> str:
    with psycopg.connect(info.conninfo()) as connection:
        rows = connection.execute("SELECT name, setting FROM pg_settings WHERE name IN "
                                  "('fsync', 'synchronous_commit', 'server_version', 'wal_sync_method')").fetchall()
    return ", ".join(f"{name}={setting}" for name, setting in rows)


def report(results: Results, sizes: Sequence[int], runs: int) -> str:
    lines = [f"{'batch (events)':>14} {'path':>6} {'create us/ev':>12} {'save us/ev':>10} {'(client cpu)':>12} "
             f"{'save ev/s':>10} {'end-to-end ev/s':>15} {'orders/s':>9}"]
    for size in sizes:
        for name, (samples, _) in results.items():
            create = statistics.median(samples[size].create_us)
            save = statistics.median(samples[size].save_us)
            save_cpu = statistics.median(samples[size].save_cpu_us)
            total_per_second = 1e6 / (create + save)
            lines.append(f"{size:>14,} {name:>6} {create:>12.1f} {save:>10.1f} {save_cpu:>12.1f} "
                         f"{1e6 / save:>10,.0f} {total_per_second:>15,.0f} "
                         f"{total_per_second / EVENTS_PER_ORDER:>9,.0f}")
    lines.append("")
    lines.append(f"split of a {max(sizes):,}-event save (us/event, median of {max(runs, 3)}):")
    lines.append(f"{'path':>6} {'collect':>8} {'map':>8} {'insert':>8}")
    for name, (_, split) in results.items():
        lines.append(f"{name:>6} {split.collect_us:>8.1f} {split.map_us:>8.1f} {split.insert_us:>8.1f}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="100,1000,5000", help="batch sizes in events, comma separated")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per size (the median is reported)")
    parser.add_argument("--paths", default="stock,fast", help="which configurations to run")


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse the list options in place; a bad value exits through `parser.error` (status 2)."""
    try:
        args.sizes = [int(size) for size in str(args.sizes).split(",")]
    except ValueError:
        parser.error("--sizes takes integers, e.g. 100,1000,5000")
    args.paths = str(args.paths).split(",")
    if any(size < EVENTS_PER_ORDER for size in args.sizes) or args.runs < 1:
        parser.error(f"sizes must be at least {EVENTS_PER_ORDER} and runs at least 1")
    if unknown := [path for path in args.paths if path not in CONFIGS]:
        parser.error(f"unknown path(s) {unknown}; choose from {sorted(CONFIGS)}")
    return args


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.event_store_bench", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return check_args(parser.parse_args(argv), parser)


def main(argv: list[str] | None = None) -> int:
    return run_checked(parse_args(argv))


def run_checked(args: argparse.Namespace) -> int:
    base = Path(tempfile.mkdtemp(prefix="tradex-event-store-bench-"))
    base.chmod(0o711)  # the server may run as the `postgres` user, which must reach its data directory
    server = EmbeddedPostgres(base / "pgdata", fsync=True)
    try:
        info = server.start()
        print(f"python {platform.python_version()}, {os.cpu_count()} cores, {server_settings(info)}")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        results = run({name: create_database(info, f"bench_{name}") for name in args.paths}, args.sizes, args.runs)
        print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(report(results, args.sizes, args.runs))
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
