"""`tradex bench projections`: how fast the read models catch up with a pre-filled log of a million events.

    tradex bench projections [--events 1000000] [--accounts 1000] [--seed 1] [--fill-batch 5000]
                             [--batch 50000] [--processes 1] [--log-dir DIR] [--no-clickhouse] [--no-rebuild]
                             [--json] [--quiet]

1. **Fill** (timed on its own, not part of the result): a private PostgreSQL (fsync on) in a temporary
   directory, or in `--log-dir` to keep the log for the next run (a log already holding `--events` is
   reused as is). The venue's reference data and `--accounts` funded accounts, then the order flow of
   `tradex bench pipeline` (bench/pipeline_workload.py: passive quotes, cancels, amends, ioc and market
   orders over four markets) through `Venue.process` in batches of `--fill-batch`, until the log holds
   at least `--events` events.
2. **PostgreSQL catch-up**: the five PostgreSQL projections (instruments, orders, balances, positions,
   market data) from position 0 to the head, in windows of `--batch` log ids (infra/projector_runner.py),
   in one process or split over `--processes` (infra/parallel_runner.py).
3. **ClickHouse catch-up**: the ClickHouse projection into an embedded chdb in a temporary directory.
4. **Rebuild**: each projection rebuilt from zero into a new generation and switched over
   (`tradex projections rebuild NAME`), one after the other, as an operator would.

Throughput is log events per second: the head's notification id over the wall time (each projection
reads only its topics; the log events it skips count, as they would for any catch-up). The report also
gives the events actually handed to projectors, the CPU seconds of this process and of the PostgreSQL
server, and the load average: the machine is shared. Checks (exit status 1 if one fails): the balances
sum to zero per asset, and the trades, order events and postings counts agree between the log,
PostgreSQL and ClickHouse.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.pipeline_workload import (
    WorkloadGenerator,
    start_bench_venue,
)
from commands.ledger import Ledger
from infra.bootstrap import postgres_env
from infra.clock import WallClock
from infra.embedded_postgres import EmbeddedPostgres, PgConnectionInfo
from infra.parallel_runner import catch_up_in_processes
from infra.progress import Progress
from infra.projector_runner import (
    DEFAULT_BATCH,
    DEFAULT_CLICKHOUSE_BATCH,
    ClickHouseRunner,
    LogReader,
    PgRunner,
    RunStats,
)
from projections.catalog import PG_PROJECTORS, pg_projectors
from projections.clickhouse_registry import ClickHouseRegistry
from projections.clickhouse_store import clickhouse_client
from projections.pg_tracking import ReadStore

PREFIX = "rm"


@dataclass
class Phase:
    name: str
    events: int  # log positions covered
    applied: int  # events handed to projectors
    seconds: float
    events_per_s: float
    python_cpu_s: float
    postgres_cpu_s: float
    load_before: list[float]
    load_after: list[float]


@dataclass
class Fill:
    reused: bool
    events: int
    orders: int
    seconds: float
    events_per_s: float
    refused: int


@dataclass
class Report:
    config: dict[str, Any]
    machine: dict[str, Any]
    fill: Fill
    phases: list[Phase] = field(default_factory=list)
    rebuilds: dict[str, float] = field(default_factory=dict)  # projection -> seconds
    checks: dict[str, bool] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=1_000_000, help="fill the log up to this many events")
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fill-batch", type=int, default=5_000, help="commands per venue batch while filling")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="log ids per projection window")
    parser.add_argument("--processes", type=int, default=1,
                        help="PostgreSQL projections caught up in this many processes (infra/parallel_runner.py)")
    parser.add_argument("--log-dir", default="", help="keep (and reuse) the filled log's PostgreSQL here")
    parser.add_argument("--no-clickhouse", action="store_true")
    parser.add_argument("--clickhouse-batch", type=int, default=DEFAULT_CLICKHOUSE_BATCH,
                        help="log ids per ClickHouse window")
    parser.add_argument("--clickhouse-path", choices=("sql", "python", "both"), default="sql",
                        help="project into ClickHouse in SQL (the default), in Python, or both one after the other")
    parser.add_argument("--no-rebuild", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


# ---- measuring ---------------------------------------------------------------------------------------


def load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def own_cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the projector processes)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime


def server_cpu(data_dir: Path) -> float:
    """CPU seconds used so far by the PostgreSQL server, from /proc: the postmaster, its live backends, and
    (the postmaster's cutime/cstime) the backends that have exited."""
    pid_file = data_dir / "postmaster.pid"
    try:
        master = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == master:
            ticks += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        elif int(fields[1]) == master:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, Any]:
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                    if line.startswith("model name")), "")
    return {"python": platform.python_version(), "cores": os.cpu_count(), "cpu": cpu, "load_at_start": load()}


@contextmanager
def server(log_dir: str) -> Iterator[tuple[PgConnectionInfo, Path]]:
    """A private PostgreSQL (fsync on): in `log_dir` (kept) or a temporary directory (removed)."""
    base = Path(log_dir).resolve() if log_dir else Path(tempfile.mkdtemp(prefix="tradex-projections-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o755)  # as root the server runs as `postgres`, which must enter its data directory
    postgres = EmbeddedPostgres(base / "pgdata", fsync=True)
    try:
        yield postgres.start(), base / "pgdata"
    finally:
        try:
            postgres.stop()
        finally:
            if not log_dir:
                shutil.rmtree(base, ignore_errors=True)


def measured(name: str, pg_dir: Path, run: Any) -> Phase:
    load_before, cpu_before, server_before = load(), own_cpu(), server_cpu(pg_dir)
    stats: RunStats = run()
    return Phase(name, stats.events, stats.applied, stats.seconds, stats.events / max(stats.seconds, 1e-9),
                 own_cpu() - cpu_before, server_cpu(pg_dir) - server_before, load_before, load())


# ---- the phases --------------------------------------------------------------------------------------


def fill_log(ledger: Ledger, args: argparse.Namespace) -> Fill:
    """Write the workload through the venue until the log holds `--events` events (or reuse it)."""
    head = ledger.recorder.max_notification_id() or 0
    if head >= args.events:
        return Fill(True, head, 0, 0.0, 0.0, 0)
    if head:
        raise SystemExit(f"the log in {args.log_dir} holds {head} events, fewer than --events {args.events}: "
                         "use a new --log-dir")
    accounts = list(range(100_001, 100_001 + args.accounts))
    venue = start_bench_venue(ledger, accounts)
    generator = WorkloadGenerator(accounts, args.seed)
    progress = Progress("fill      ", args.events, enabled=not args.quiet)
    began, orders, refused = time.perf_counter(), 0, 0
    head = ledger.recorder.max_notification_id() or 0
    while head < args.events:
        commands = [generator.next_command()[0] for _ in range(args.fill_batch)]
        refused += sum(not outcome.ok for outcome in venue.process(commands))
        orders += len(commands)
        head = ledger.recorder.max_notification_id() or 0
        progress.update(head)
    progress.done()
    seconds = time.perf_counter() - began
    return Fill(False, head, orders, seconds, head / seconds, refused)


def drop_read_models(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        schemas = [name for name, in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = %s OR nspname LIKE %s", (PREFIX, f"{PREFIX}\\_%"))]
        for schema in schemas:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def bar(label: str, total: int, quiet: bool) -> tuple[Progress, Any]:
    progress = Progress(label, total, enabled=not quiet)
    return progress, progress.update


def run_bench(args: argparse.Namespace) -> Report:
    with ExitStack() as stack:
        info, pg_dir = stack.enter_context(server(args.log_dir))
        ledger = Ledger(env=postgres_env(info), clock=WallClock())
        stack.callback(ledger.close)
        report = Report({key: getattr(args, key) for key in ("events", "accounts", "seed", "fill_batch", "batch",
                                                             "processes", "clickhouse_batch")},
                        machine(), fill_log(ledger, args))
        conninfo = info.conninfo()
        drop_read_models(conninfo)
        reader = LogReader(ledger, conninfo)
        stack.callback(reader.close)
        head = reader.head()
        store = ReadStore(PREFIX)
        with PgRunner(reader, conninfo, pg_projectors(), store, args.batch) as pg:
            pg.setup()
            progress, update = bar("postgres  ", head, args.quiet)
            if args.processes > 1:
                report.phases.append(measured("postgres", pg_dir, lambda: catch_up_in_processes(
                    postgres_env(info), conninfo, list(PG_PROJECTORS), PREFIX, args.batch, head, args.processes,
                    update)))
                pg.setup()  # read the positions the processes reached
            else:
                report.phases.append(measured("postgres", pg_dir, lambda: pg.catch_up(head, update)))
            progress.done()
            if not args.no_rebuild:
                for name in PG_PROJECTORS:
                    progress, update = bar(f"rebuild {name:<11}", head, args.quiet)
                    began = time.perf_counter()
                    pg.rebuild(PG_PROJECTORS[name](), update)
                    report.rebuilds[name] = time.perf_counter() - began
                    progress.done()
        ch_counts: dict[str, int] = {}
        if not args.no_clickhouse:
            paths = {"sql": [True], "python": [False], "both": [True, False]}[args.clickhouse_path]
            for sql in paths:
                ch_counts = clickhouse_phase(stack, report, reader, pg_dir, head, args, sql)
        check(report, conninfo, ledger, ch_counts)
    return report


def clickhouse_phase(stack: ExitStack, report: Report, reader: LogReader, pg_dir: Path, head: int,
                     args: argparse.Namespace, sql: bool) -> dict[str, int]:
    """Catch up (and rebuild) a fresh embedded chdb from the log; the row counts of its tables."""
    name = "clickhouse" if sql else "clickhouse-python"
    ch_dir = Path(tempfile.mkdtemp(prefix="tradex-projections-bench-ch-"))
    stack.callback(shutil.rmtree, ch_dir, True)
    client = clickhouse_client(data_dir=ch_dir)
    try:
        ch = ClickHouseRunner(reader, client, ClickHouseRegistry(), args.clickhouse_batch, sql=sql)
        ch.setup()
        progress, update = bar(f"{name:<10}", head, args.quiet)
        report.phases.append(measured(name, pg_dir, lambda: ch.catch_up(head, update)))
        progress.done()
        if not args.no_rebuild:
            progress, update = bar(f"rebuild {name}", head, args.quiet)
            began = time.perf_counter()
            ch.rebuild(update)
            report.rebuilds[name] = time.perf_counter() - began
            progress.done()
        return {table: int(client.query(f"SELECT count() FROM {table} FINAL").result_rows[0][0])
                for table in ("trades", "order_events", "postings")}
    finally:
        client.close()
        shutil.rmtree(ch_dir, True)  # chdb holds one directory per process: the next phase opens another


def check(report: Report, conninfo: str, ledger: Ledger, ch_counts: dict[str, int]) -> None:
    table = ledger.recorder.events_table_name  # type: ignore[attr-defined]
    with psycopg.connect(conninfo) as conn:
        def one(query: str) -> int:
            row = conn.execute(query).fetchone()
            return int(row[0]) if row and row[0] is not None else 0

        counts = {
            "log_events": one(f"SELECT max(notification_id) FROM {table}"),
            "log_order_events": one(f"SELECT count(*) FROM {table} WHERE topic LIKE 'tradex.Order.%'"),
            "pg_order_events": one(f"SELECT count(*) FROM {PREFIX}.order_events"),
            "pg_trades": one(f"SELECT count(*) FROM {PREFIX}.trades"),
            "pg_md_trades": one(f"SELECT count(*) FROM {PREFIX}.md_trades"),
            "pg_debit_postings": one(f"SELECT count(*) FROM {PREFIX}.postings WHERE amount < 0"),
            "pg_orders": one(f"SELECT count(*) FROM {PREFIX}.orders"),
            "pg_positions": one(f"SELECT count(*) FROM {PREFIX}.positions"),
            "assets_not_summing_to_zero": one(f"SELECT count(*) FROM (SELECT asset FROM {PREFIX}.balances "
                                              "GROUP BY asset HAVING sum(total) <> 0) AS t"),
        }
    report.counts = {**counts, **{f"ch_{name}": value for name, value in ch_counts.items()}}
    report.checks = {
        "balances_sum_to_zero": counts["assets_not_summing_to_zero"] == 0,
        "order_events_complete": counts["pg_order_events"] == counts["log_order_events"],
        "trades_agree": counts["pg_trades"] == counts["pg_md_trades"] > 0,
    }
    if ch_counts:
        report.checks["clickhouse_agrees"] = (ch_counts["trades"] == counts["pg_trades"]
                                              and ch_counts["postings"] == counts["pg_debit_postings"])


# ---- the report --------------------------------------------------------------------------------------


def print_report(report: Report) -> None:
    fill = report.fill
    print(f"machine: {report.machine['cores']} cores, {report.machine['cpu']}, Python {report.machine['python']}")
    if fill.reused:
        print(f"log: {fill.events:,} events (reused)")
    else:
        print(f"fill: {fill.events:,} events from {fill.orders:,} order commands in {fill.seconds:.1f} s "
              f"({fill.events_per_s:,.0f} events/s; {fill.refused} refused)")
    print()
    print(f"{'catch-up':<12}{'log events':>12}{'applied':>12}{'seconds':>10}{'events/s':>12}"
          f"{'py cpu s':>10}{'pg cpu s':>10}  load before -> after")
    for phase in report.phases:
        print(f"{phase.name:<12}{phase.events:>12,}{phase.applied:>12,}{phase.seconds:>10.2f}"
              f"{phase.events_per_s:>12,.0f}{phase.python_cpu_s:>10.1f}{phase.postgres_cpu_s:>10.1f}  "
              f"{phase.load_before} -> {phase.load_after}")
    if report.rebuilds:
        print()
        total = sum(report.rebuilds.values())
        parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.rebuilds.items())
        print(f"rebuild from zero (each into a new generation, then switched): {total:.1f} s ({parts})")
    print()
    print("checks: " + ", ".join(f"{name} {'ok' if ok else 'FAILED'}" for name, ok in report.checks.items()))
    print("counts: " + ", ".join(f"{name} {value:,}" for name, value in report.counts.items()))


def run(args: argparse.Namespace) -> int:
    report = run_bench(args)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print_report(report)
    return 0 if all(report.checks.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tradex bench projections", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
