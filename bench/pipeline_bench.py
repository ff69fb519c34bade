"""`tradex bench pipeline`: the write side end to end, Sequencer -> Venue -> PostgreSQL, with fsync ON.

    tradex bench pipeline [--orders 200000] [--accounts 1000] [--seed 1] [--max-batch 2000]
                          [--rate 5000] [--rate-seconds 10] [--naive-orders 3000] [--json] [--quiet]

It starts its own PostgreSQL (infra.embedded_postgres, fsync and synchronous_commit ON, checked with SHOW
and printed) in a temporary directory, and gives each phase a fresh database on it, set up the same way
(untimed): the venue's assets and instruments through `Ledger.execute`, then `--accounts` accounts opened,
verified and funded with every asset, in large venue batches. The order flow is pre-generated before any
timing from `--seed` (bench/pipeline_workload.py: the venue mix, and how the generator predicts order ids);
each phase sends a prefix of the same flow, so the prediction holds in every phase. Three phases:

1. throughput: `Sequencer(venue, max_batch=--max-batch)`; the first `--orders` commands are submitted as
   fast as the queue accepts them (on `Overloaded`, sleep 0.5 ms and retry). Wall time runs from the first
   submit to the last future resolved; orders/s = order commands / wall time; events/s = growth of the
   log (`recorder.max_notification_id()`) / wall time.
2. latency at a fixed offered load (open loop): a feeder thread submits command i at t0 + i/rate (it sleeps
   until then and never waits for acks). Each future's done callback records `perf_counter_ns()` in the
   thread that resolves it, right after the commit; latency = that time minus the INTENDED send time, so a
   stalled feeder or a full queue is charged to the latency (no coordinated omission). If the venue cannot
   keep up with the offered rate the queue grows and so does the latency: that is the result, not an error.
3. naive: `Sequencer(venue, max_batch=1)`, every command its own engine call and its own event-store
   transaction, over the first `--naive-orders` commands, measured like phase 1; the report gives the ratio
   of phase 1's orders/s to this one's.

Each phase also reports the sequencer's batches and mean batch size, and every command's outcome by kind:
ok (with the order's status), rejected by the engine (with its reason) or refused at admission (with its
error code). Checks: fsync and synchronous_commit are on; every ack is ok or carries an error code;
every new order got the id the generator predicted; every asset sums to zero over all wallets (read back
from the log after the phase). Observed, not checked: the venue's trades against the generator's textbook
book model (equal when the venue matches like the reference book).

Prints a report (or one JSON object with --json) and exits 0 (1 if a phase failed or a check did not
hold); the temporary directory is removed and the server stopped either way. The machine's load average
is printed with the results: on a shared 2-core machine a busy neighbour halves every number here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.event_store_bench import create_database
from bench.pipeline_workload import (
    KINDS,
    Workload,
    generate,
    start_bench_venue,
    venue_specs,
)
from commands import ledger_commands as c
from commands.ledger import Ledger
from commands.order_commands import PlaceOrder
from commands.sequencer import Overloaded, Sequencer
from commands.venue import Outcome, Venue
from domain.ids import market_id
from domain.market import Market
from infra.balances_report import balance_rows, check_invariants
from infra.bootstrap import postgres_env
from infra.clock import WallClock
from infra.embedded_postgres import PgConnectionInfo, temporary_server
from infra.progress import Progress
from infra.table import render_table

FIRST_ACCOUNT = 10_001
BACKOFF_S = 0.0005
STALL_S = 300.0  # no ack for this long: the phase is declared stuck
PERCENTILES = (("p50", 0.50), ("p99", 0.99), ("p99_9", 0.999))
SHOWN_SETTINGS = ("fsync", "synchronous_commit", "wal_sync_method", "full_page_writes", "shared_buffers",
                  "server_version")
CONFIG_KEYS = ("orders", "accounts", "seed", "max_batch", "rate", "rate_seconds", "naive_orders")


# ---- results --------------------------------------------------------------------------------------
@dataclass
class Latency:
    offered_per_s: float
    sent_per_s: float  # what the feeder achieved, first to last submit
    acked_per_s: float  # commands / (last ack - intended time of the first)
    mean_ms: float
    p50_ms: float
    p99_ms: float
    p99_9_ms: float
    max_ms: float


@dataclass
class Phase:
    name: str
    max_batch: int
    commands: int
    orders: int  # order commands (PlaceOrder, CancelOrder, AmendOrder): here every command
    events: int
    wall_s: float
    orders_per_s: float
    events_per_s: float
    events_per_order: float
    batches: int
    mean_batch: float
    largest_batch: int
    # the sequencer's own per-batch times added up (stats.busy_ns); with a pipelined sequencer, whose batches
    # overlap (one being prepared while the previous one commits), the sum can exceed the wall time
    batch_time_s: float
    backoffs: int  # submits refused with Overloaded (queue full), then retried
    setup_s: float
    outcomes: dict[str, dict[str, int]]  # kind -> "ok:<status>" | "rejected:<reason>" | "refused:<code>" -> n
    failures: list[str]  # futures that raised (the venue halted): should be empty
    id_mismatches: int  # new orders whose id differs from the generator's prediction
    venue_trades: int
    model_trades: int
    balances_zero_sum: bool
    load_before: list[float]
    load_after: list[float]
    latency: Latency | None = None


@dataclass
class Report:
    machine: dict[str, Any]
    server: dict[str, str]
    config: dict[str, Any]
    workload: dict[str, Any]
    phases: dict[str, Phase] = field(default_factory=dict)
    batched_vs_naive: float | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    observations: dict[str, bool] = field(default_factory=dict)


# ---- acks -----------------------------------------------------------------------------------------
class Acks:
    """When each command's future resolved: written by done callbacks, in the sequencer's thread that
    resolves the futures after the batch's commit."""

    def __init__(self, count: int) -> None:
        self.done_ns = [0] * count
        self.futures: list[Future[Outcome] | None] = [None] * count
        self.resolved = 0
        self.backoffs = 0  # submits refused with Overloaded (then retried)
        self._lock = threading.Lock()
        self.all_done = threading.Event()
        if count == 0:
            self.all_done.set()

    def submit(self, index: int, sequencer: Sequencer, command: c.Command) -> None:
        """Submit command `index` and watch its future, backing off while the sequencer's queue is full."""
        while True:
            try:
                future = sequencer.submit(command)
                break
            except Overloaded:
                self.backoffs += 1
                time.sleep(BACKOFF_S)
        self.futures[index] = future
        future.add_done_callback(partial(self._done, index))

    def _done(self, index: int, _future: Future[Outcome]) -> None:
        self.done_ns[index] = time.perf_counter_ns()
        with self._lock:
            self.resolved += 1
            if self.resolved == len(self.done_ns):
                self.all_done.set()

    def wait(self, progress: Progress) -> None:
        last_resolved, last_change = -1, time.monotonic()
        while not self.all_done.wait(0.25):
            progress.update(self.resolved)
            if self.resolved != last_resolved:
                last_resolved, last_change = self.resolved, time.monotonic()
            elif time.monotonic() - last_change > STALL_S:
                raise RuntimeError(f"no ack for {STALL_S:.0f} s ({self.resolved}/{len(self.done_ns)} resolved)")
        progress.done()


# ---- the server and a phase's database ------------------------------------------------------------
def embedded_server() -> AbstractContextManager[PgConnectionInfo]:
    """A private PostgreSQL with fsync on, in a temporary directory removed afterwards."""
    return temporary_server("tradex-pipeline-bench-")


def server_settings(info: PgConnectionInfo) -> dict[str, str]:
    """The server settings that decide what a commit costs (and its version)."""
    with psycopg.connect(info.conninfo()) as connection:
        return {name: show(connection, name) for name in SHOWN_SETTINGS}


def show(connection: psycopg.Connection[Any], name: str) -> str:
    row = connection.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
    return str(row[0]) if row is not None else ""


@contextmanager
def phase_venue(server: PgConnectionInfo, name: str, accounts: list[int]) -> Iterator[tuple[Ledger, Venue, float]]:
    """A fresh database with the bench venue's reference data and funded accounts; yields ledger, venue,
    and how long the setup took (it is not part of any measurement)."""
    began = time.perf_counter()
    ledger = Ledger(env=postgres_env(create_database(server, f"pipeline_{name}")), clock=WallClock())
    try:
        venue = start_bench_venue(ledger, accounts)
        yield ledger, venue, time.perf_counter() - began
    finally:
        ledger.close()


# ---- the phases -----------------------------------------------------------------------------------
@dataclass
class Run:
    acks: Acks
    began_ns: int  # the first submit (saturated) or the first intended send time (open loop)
    latency: Latency | None = None


Runner = Callable[[Sequencer, Sequence[c.Command], Progress], Run]


def run_saturated(sequencer: Sequencer, commands: Sequence[c.Command], progress: Progress) -> Run:
    """Submit everything as fast as the queue takes it."""
    acks = Acks(len(commands))
    began_ns = time.perf_counter_ns()
    for index, command in enumerate(commands):
        acks.submit(index, sequencer, command)
    acks.wait(progress)
    return Run(acks, began_ns)


FEED_TICK_NS = 1_000_000


def run_open_loop(rate: float, sequencer: Sequencer, commands: Sequence[c.Command], progress: Progress) -> Run:
    """Submit command i at t0 + i/rate from a feeder thread that never waits for acks."""
    acks = Acks(len(commands))
    t0_ns = time.perf_counter_ns() + 20_000_000
    intended = [t0_ns + round(index * 1e9 / rate) for index in range(len(commands))]
    last_sent_ns = [t0_ns]
    feeder_error: list[BaseException] = []

    def feed() -> None:
        # Wakes at most every FEED_TICK_NS and submits every command that is due by then: like a network
        # front end handing over what arrived since it last ran. Latency still counts from each command's
        # own intended time, so this only saves the writer a wake-up (and a GIL handover) per command.
        try:
            index = 0
            while index < len(commands):
                now_ns = time.perf_counter_ns()
                if intended[index] > now_ns:
                    time.sleep(max(intended[index] - now_ns, FEED_TICK_NS) / 1e9)
                    now_ns = time.perf_counter_ns()
                while index < len(commands) and intended[index] <= now_ns:
                    acks.submit(index, sequencer, commands[index])
                    index += 1
            last_sent_ns[0] = time.perf_counter_ns()
        except BaseException as error:  # handed to the main thread below
            feeder_error.append(error)
            acks.all_done.set()

    feeder = threading.Thread(target=feed, name="pipeline-bench-feeder", daemon=True)
    feeder.start()
    acks.wait(progress)
    feeder.join()
    if feeder_error:
        raise RuntimeError(f"the feeder stopped: {feeder_error[0]!r}") from feeder_error[0]
    return Run(acks, t0_ns, latency_summary(acks, intended, last_sent_ns[0], rate))


def percentile(sorted_values: Sequence[int], fraction: float) -> int:
    """Nearest-rank percentile of an ascending sequence."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary(acks: Acks, intended: list[int], last_sent_ns: int, rate: float) -> Latency:
    """Ack latency from each command's intended send time (so feeder stalls count against the venue)."""
    latencies = sorted(done - want for done, want in zip(acks.done_ns, intended, strict=True))
    count, to_ms = len(latencies), 1e-6
    values = {name: percentile(latencies, q) * to_ms for name, q in PERCENTILES}
    return Latency(offered_per_s=rate, sent_per_s=max(count - 1, 1) / (max(last_sent_ns - intended[0], 1) / 1e9),
                   acked_per_s=count / (max(max(acks.done_ns) - intended[0], 1) / 1e9),
                   mean_ms=sum(latencies) / count * to_ms, p50_ms=values["p50"], p99_ms=values["p99"],
                   p99_9_ms=values["p99_9"], max_ms=latencies[-1] * to_ms)


# ---- what a phase's acks say ----------------------------------------------------------------------
def classify(outcome: Outcome) -> str:
    """ok:<order status>, rejected:<engine reason> or refused:<admission error code>."""
    if outcome.error is not None:
        return f"refused:{outcome.error.code}"
    result = outcome.result or {}
    if result.get("status") == "rejected":
        return f"rejected:{result.get('reason')}"
    return f"ok:{result.get('status')}"


@dataclass
class Tally:
    outcomes: dict[str, Counter[str]]
    failures: list[str]  # futures that raised: the venue halted
    id_mismatches: int  # new orders whose id is not the generator's prediction


def tally(workload: Workload, acks: Acks) -> Tally:
    found = Tally({kind: Counter() for kind in KINDS}, [], 0)
    for index, future in enumerate(acks.futures):
        if future is None:
            found.failures.append(f"{workload.commands[index].command_id}: never submitted")
            continue
        error = future.exception()
        if error is not None:
            found.failures.append(f"{workload.commands[index].command_id}: {error!r}")
            continue
        outcome = future.result()
        found.outcomes[workload.kinds[index]][classify(outcome)] += 1
        if isinstance(workload.commands[index], PlaceOrder) and outcome.ok and outcome.result is not None:
            found.id_mismatches += outcome.result.get("order_id") != workload.order_ids[index]
    return found


def venue_trades(ledger: Ledger) -> int:
    """Trades recorded by every market, read back from the log."""
    total = 0
    for instrument in ledger.instruments():
        market: object = ledger.repository.get(market_id(instrument.symbol))
        total += market.trades if isinstance(market, Market) else 0
    return total


def load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def measure_phase(server: PgConnectionInfo, name: str, workload: Workload, count: int, max_batch: int,
                  runner: Runner, quiet: bool) -> Phase:
    """Set up a fresh database, send the first `count` commands with `runner`, and summarise."""
    with phase_venue(server, name, workload.accounts) as (ledger, venue, setup_s):
        load_before = load()
        events_before = ledger.recorder.max_notification_id() or 0
        with Sequencer(venue, max_batch=max_batch) as sequencer:
            run = runner(sequencer, workload.commands[:count], Progress(f"{name:<10}", count, enabled=not quiet))
        events = (ledger.recorder.max_notification_id() or 0) - events_before
        load_after = load()
        found = tally(workload, run.acks)
        balances_hold = check_invariants(balance_rows(ledger)).holds
        trades = venue_trades(ledger)
    stats = sequencer.stats
    wall_s = max(max(run.acks.done_ns, default=run.began_ns) - run.began_ns, 1) / 1e9
    return Phase(name=name, max_batch=max_batch, commands=count, orders=count, events=events, wall_s=wall_s,
                 orders_per_s=count / wall_s, events_per_s=events / wall_s, events_per_order=events / max(count, 1),
                 batches=stats.batches, mean_batch=stats.commands / max(stats.batches, 1),
                 largest_batch=stats.largest_batch, batch_time_s=stats.busy_ns / 1e9,
                 backoffs=run.acks.backoffs, setup_s=setup_s,
                 outcomes={kind: dict(sorted(counts.items())) for kind, counts in found.outcomes.items()},
                 failures=found.failures[:20], id_mismatches=found.id_mismatches, venue_trades=trades,
                 model_trades=workload.trades_after(count), balances_zero_sum=balances_hold,
                 load_before=load_before, load_after=load_after, latency=run.latency)


# ---- the report -----------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                    if line.startswith("model name")), "")
    return {"python": platform.python_version(), "cores": os.cpu_count(), "cpu": cpu,
            "kernel": platform.release(), "temp_dir_on": data_disk(), "load_at_start": load()}


def data_disk() -> str:
    """The mount holding the temporary directory (the cost of an fsync depends on it)."""
    target, best, described = str(Path(tempfile.gettempdir()).resolve()), "", ""
    mounts = Path("/proc/mounts")
    for line in mounts.read_text().splitlines() if mounts.exists() else []:
        device, mount, kind, *_ = line.split()
        if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
            best, described = mount, f"{mount} ({kind} on {device})"
    return described


def acks_ok_or_coded(phase: Phase) -> bool:
    """No future raised, and every ack that is not ok names its reason or error code."""
    keys = [key for counts in phase.outcomes.values() for key in counts]
    return not phase.failures and all(key.startswith("ok:") or key.split(":", 1)[1] not in ("", "None")
                                      for key in keys)


def evaluate(report: Report) -> None:
    """Fill in the checks (must hold) and observations (reported) from the phases."""
    phases = report.phases.values()
    report.checks = {
        "fsync_on": report.server.get("fsync") == "on",
        "synchronous_commit_on": report.server.get("synchronous_commit") == "on",
        "every_ack_ok_or_coded": all(acks_ok_or_coded(phase) for phase in phases),
        "order_ids_as_predicted": all(phase.id_mismatches == 0 for phase in phases),
        "balances_sum_to_zero": all(phase.balances_zero_sum for phase in phases),
    }
    report.observations = {f"{phase.name}_trades_as_modelled": phase.venue_trades == phase.model_trades
                           for phase in phases}
    throughput, naive = report.phases.get("throughput"), report.phases.get("naive")
    if throughput is not None and naive is not None:
        report.batched_vs_naive = throughput.orders_per_s / naive.orders_per_s


def render(report: Report) -> str:
    machine_info, server = report.machine, report.server
    lines = [f"python {machine_info['python']}, {machine_info['cores']} cores ({machine_info['cpu']}), "
             f"temp dir on {machine_info['temp_dir_on']}",
             f"PostgreSQL {server['server_version']}: fsync={server['fsync']}, "
             f"synchronous_commit={server['synchronous_commit']}, wal_sync_method={server['wal_sync_method']}",
             f"workload: {report.workload['commands']:,} commands, seed {report.config['seed']}, "
             f"{report.config['accounts']:,} accounts, markets {', '.join(report.workload['markets'])}",
             "", render_phases(report), ""]
    latency_phase = report.phases.get("latency")
    if latency_phase is not None and latency_phase.latency is not None:
        lat = latency_phase.latency
        lines.append(f"ack latency at {lat.offered_per_s:,.0f} orders/s offered (open loop, from the intended send "
                     f"time): p50 {lat.p50_ms:.1f} ms, p99 {lat.p99_ms:.1f} ms, p99.9 {lat.p99_9_ms:.1f} ms, "
                     f"max {lat.max_ms:.1f} ms, mean {lat.mean_ms:.1f} ms; sent {lat.sent_per_s:,.0f}/s, "
                     f"acked {lat.acked_per_s:,.0f}/s, mean batch {latency_phase.mean_batch:,.1f}")
        if lat.acked_per_s < 0.95 * lat.offered_per_s:
            lines.append("  (the venue acked fewer orders/s than offered: the queue grew for the whole phase, so "
                         "these latencies measure that backlog; try a --rate below the throughput phase's)")
    if report.batched_vs_naive is not None:
        lines.append(f"batched / naive (max_batch 1): {report.batched_vs_naive:,.1f}x")
    lines += ["", "outcomes by kind (ok:<status>, rejected:<engine reason>, refused:<admission code>):",
              render_outcomes(report), ""]
    lines += [f"{'ok  ' if passed else 'FAIL'} {name}" for name, passed in report.checks.items()]
    lines += [f"{'yes ' if seen else 'no  '} {name}" for name, seen in report.observations.items()]
    return "\n".join(lines)


def render_phases(report: Report) -> str:
    headers = ["phase", "max batch", "orders", "wall s", "batch s", "orders/s", "events", "events/s", "ev/order",
               "batches", "mean batch", "setup s", "load before", "load after"]
    rows = [[p.name, f"{p.max_batch:,}", f"{p.orders:,}", f"{p.wall_s:.1f}", f"{p.batch_time_s:.1f}",
             f"{p.orders_per_s:,.0f}", f"{p.events:,}", f"{p.events_per_s:,.0f}", f"{p.events_per_order:.2f}",
             f"{p.batches:,}", f"{p.mean_batch:,.1f}", f"{p.setup_s:.1f}", " ".join(f"{x:.2f}" for x in p.load_before),
             " ".join(f"{x:.2f}" for x in p.load_after)] for p in report.phases.values()]
    return render_table(headers, rows, right_align_from=1)


def render_outcomes(report: Report) -> str:
    names = list(report.phases)
    rows = []
    for kind in KINDS:
        keys = sorted({key for phase in report.phases.values() for key in phase.outcomes.get(kind, {})})
        for key in keys:
            rows.append([kind, key, *(f"{report.phases[name].outcomes.get(kind, {}).get(key, 0):,}"
                                      for name in names)])
    return render_table(["kind", "outcome", *names], rows, right_align_from=2)


def to_json(report: Report) -> str:
    return json.dumps(asdict(report), indent=2)


# ---- the command ----------------------------------------------------------------------------------
def _at_least(minimum: float, kind: Callable[[str], float] = int) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `tradex bench pipeline` options to `parser`."""
    parser.add_argument("--orders", type=_at_least(1), default=200_000,
                        help="order commands of the throughput phase (200,000)")
    parser.add_argument("--accounts", type=_at_least(1), default=1_000, help="funded trading accounts (1,000)")
    parser.add_argument("--seed", type=int, default=1, help="workload seed (1)")
    parser.add_argument("--max-batch", type=_at_least(1), default=2_000, help="the sequencer's max_batch (2,000)")
    parser.add_argument("--rate", type=_at_least(1, float), default=5_000.0,
                        help="offered load of the latency phase, orders/s (5,000)")
    parser.add_argument("--rate-seconds", type=_at_least(0, float), default=10.0,
                        help="length of the latency phase in seconds; 0 skips it (10)")
    parser.add_argument("--naive-orders", type=_at_least(0), default=3_000,
                        help="order commands of the naive max_batch=1 phase; 0 skips it (3,000)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run_phases(report: Report, server: PgConnectionInfo, workload: Workload, args: argparse.Namespace,
               rate_orders: int) -> None:
    plan: list[tuple[str, int, int, Runner]] = [("throughput", int(args.orders), int(args.max_batch), run_saturated)]
    if rate_orders:
        plan.append(("latency", rate_orders, int(args.max_batch), partial(run_open_loop, float(args.rate))))
    if args.naive_orders:
        plan.append(("naive", int(args.naive_orders), 1, run_saturated))
    for name, count, max_batch, runner in plan:
        report.phases[name] = measure_phase(server, name, workload, count, max_batch, runner, args.quiet)


def run(args: argparse.Namespace) -> int:
    """Generate the workload, run the phases on a private server, print the report."""
    rate_orders = math.ceil(args.rate * args.rate_seconds)
    total = max(int(args.orders), rate_orders, int(args.naive_orders))
    accounts = list(range(FIRST_ACCOUNT, FIRST_ACCOUNT + int(args.accounts)))
    began = time.perf_counter()
    workload = generate(accounts, total, args.seed)
    config = {key: getattr(args, key) for key in CONFIG_KEYS}
    workload_info = {"commands": total, "generate_s": round(time.perf_counter() - began, 2),
                     "markets": [spec.symbol for spec in venue_specs()], "mix": workload.mix(),
                     "model_trades": workload.trades_after(total)}
    with embedded_server() as server:
        report = Report(machine(), server_settings(server), config, workload_info)
        try:
            run_phases(report, server, workload, args, rate_orders)
        finally:
            report.machine["load_at_end"] = load()
    evaluate(report)
    print(to_json(report) if args.json else render(report))
    return 0 if all(report.checks.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline_bench", description=(__doc__ or "").split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
