"""`tradex projections ...`: run the projectors, show where they are, rebuild one, wait for a position.

    tradex projections status [--json]
    tradex projections run [--only NAME ...] [--no-clickhouse] [--follow] [--batch N] [--processes N] [--quiet]
    tradex projections rebuild NAME [--batch N] [--keep-old] [--quiet]
    tradex projections wait POSITION [--only NAME ...] [--timeout SECONDS]

The event store comes from the usual settings (infra/settings.py: embedded PostgreSQL by default), the
read models' places from infra/read_model_settings.py. The embedded ClickHouse (chdb) can be opened by
one process at a time: `status` reports it as busy while `run --follow` holds it.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from commands.ledger import Ledger
from infra.bootstrap import open_store, postgres_env
from infra.clock import WallClock
from infra.parallel_runner import catch_up_in_processes
from infra.progress import Progress
from infra.projector_runner import ClickHouseRunner, LogReader, PgRunner
from infra.read_model_settings import ReadModelSettings, load_read_model_settings
from infra.settings import Settings, load_settings
from infra.table import render_table
from projections import clickhouse_store
from projections.catalog import ALL_NAMES, PG_PROJECTORS, pg_projectors
from projections.clickhouse_projector import NAME as CLICKHOUSE
from projections.pg_tracking import ProjectionTimeout


@dataclass
class Context:
    settings: Settings
    read: ReadModelSettings
    conninfo: str
    ledger_env: dict[str, str]
    ledger: Ledger
    reader: LogReader


@contextmanager
def opened(settings: Settings | None = None) -> Iterator[Context]:
    """The event store (started if embedded), a ledger for its mapper, and a log reader."""
    settings = settings or load_settings()
    read = load_read_model_settings(settings)
    with ExitStack() as stack:
        store = stack.enter_context(open_store(settings))
        env = postgres_env(store.info, settings.postgres.schema)
        ledger = Ledger(env=env, clock=WallClock())
        stack.callback(ledger.close)
        conninfo = store.info.conninfo()
        reader = LogReader(ledger, conninfo)
        stack.callback(reader.close)
        yield Context(settings, read, conninfo, env, ledger, reader)


def progress_bar(label: str, start: int, head: int, quiet: bool) -> tuple[Progress, Any]:
    bar = Progress(label, max(head - start, 1), enabled=not quiet)
    return bar, (lambda position: bar.update(max(position - start, 0)))


# ---- status ----------------------------------------------------------------------------------------


def status_rows(ctx: Context) -> list[dict[str, Any]]:
    """Each projection's generation, position, lag in events and in exchange time behind the head."""
    head = ctx.reader.head()
    head_ns = ctx.reader.at_ns(head)
    rows: list[dict[str, Any]] = []
    with psycopg.connect(ctx.conninfo) as conn, conn.cursor() as cur:
        positions = ctx.read.store.positions(cur)
    for name in PG_PROJECTORS:
        generation, position = positions.get(name, (None, None))
        rows.append(_row(ctx, name, "postgres", generation, position, head, head_ns))
    try:
        client = ctx.read.clickhouse()
    except Exception as error:  # chdb: another process holds the directory
        rows.append({"name": CLICKHOUSE, "target": "clickhouse", "generation": None, "position": None,
                     "lag_events": None, "lag_seconds": None, "head": head,
                     "note": f"not readable now: {type(error).__name__}: {str(error).splitlines()[0][:80]}"})
        return rows
    try:
        generation = ctx.read.registry.live_generation(client, CLICKHOUSE)
        position = None
        if generation is not None:
            ctx.read.registry.use(client, generation)
            position = clickhouse_store.tracked_position(client, CLICKHOUSE)
        rows.append(_row(ctx, CLICKHOUSE, "clickhouse", generation, position, head, head_ns))
    finally:
        client.close()
    return rows


def _row(ctx: Context, name: str, target: str, generation: int | None, position: int | None, head: int,
         head_ns: int | None) -> dict[str, Any]:
    lag_seconds = None
    if position is not None and head_ns is not None:
        at_ns = ctx.reader.at_ns(position)
        lag_seconds = round((head_ns - at_ns) / 1e9, 3) if at_ns is not None else None
    return {"name": name, "target": target, "generation": generation, "position": position,
            "lag_events": None if position is None else head - position, "lag_seconds": lag_seconds, "head": head,
            "note": "" if position is not None else "not created: run `tradex projections run`"}


def cmd_status(args: argparse.Namespace) -> int:
    with opened() as ctx:
        rows = status_rows(ctx)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    headers = ["projection", "target", "generation", "position", "head", "lag (events)", "lag (s)", "note"]
    print(render_table(headers, [[str(r["name"]), str(r["target"]), _text(r["generation"]), _text(r["position"]),
                                  str(r["head"]), _text(r["lag_events"]), _text(r["lag_seconds"]), str(r["note"])]
                                 for r in rows], right_align_from=2))
    return 0


def _text(value: Any) -> str:
    return "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


# ---- run -------------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    names = args.only or list(ALL_NAMES)
    unknown = [name for name in names if name not in ALL_NAMES]
    if unknown:
        print(f"unknown projection(s) {unknown}; known: {', '.join(ALL_NAMES)}", file=sys.stderr)
        return 2
    with opened() as ctx, ExitStack() as stack:
        batch = args.batch or ctx.read.batch_size
        pg_names = [name for name in names if name in PG_PROJECTORS]
        pg = stack.enter_context(PgRunner(ctx.reader, ctx.conninfo, pg_projectors(pg_names), ctx.read.store, batch))
        pg.setup()
        if args.processes > 1 and pg.tracked:  # the backlog in parallel processes, then on in this one
            head = ctx.reader.head()
            bar, update = progress_bar("postgres  ", min(t.position for t in pg.tracked), head, args.quiet)
            stats = catch_up_in_processes(ctx.ledger_env, ctx.conninfo, pg_names, ctx.read.store.prefix, batch, head,
                                          args.processes, update)
            bar.done()
            _report("postgres", stats, args.quiet)
            pg.setup()
        ch: ClickHouseRunner | None = None
        if CLICKHOUSE in names and not args.no_clickhouse:
            client = ctx.read.clickhouse()
            stack.callback(client.close)
            ch = ClickHouseRunner(ctx.reader, client, ctx.read.registry, args.batch or ctx.read.clickhouse_batch_size)
            ch.setup()
        stop = threading.Event()
        while True:
            head = ctx.reader.head()
            if pg.tracked:
                bar, update = progress_bar("postgres  ", min(t.position for t in pg.tracked), head, args.quiet)
                stats = pg.catch_up(head, update)
                bar.done()
                _report("postgres", stats, args.quiet)
            if ch is not None:
                bar, update = progress_bar("clickhouse", ch.position, head, args.quiet)
                stats = ch.catch_up(head, update)
                bar.done()
                _report("clickhouse", stats, args.quiet)
            if not args.follow:
                return 0
            try:
                stop.wait(args.idle)
            except KeyboardInterrupt:
                return 0


def _report(target: str, stats: Any, quiet: bool) -> None:
    if not quiet:
        rate = stats.events / stats.seconds if stats.seconds else 0.0
        print(f"{target}: {stats.events:,} log positions in {stats.seconds:.2f} s ({rate:,.0f}/s), "
              f"{stats.applied:,} events applied")


# ---- rebuild ---------------------------------------------------------------------------------------


def cmd_rebuild(args: argparse.Namespace) -> int:
    if args.name not in ALL_NAMES:
        print(f"unknown projection {args.name!r}; known: {', '.join(ALL_NAMES)}", file=sys.stderr)
        return 2
    with opened() as ctx:
        batch = args.batch or ctx.read.batch_size
        head = ctx.reader.head()
        bar, update = progress_bar(f"rebuild {args.name}", 0, head, args.quiet)
        if args.name == CLICKHOUSE:
            client = ctx.read.clickhouse()
            try:
                runner = ClickHouseRunner(ctx.reader, client, ctx.read.registry,
                                          args.batch or ctx.read.clickhouse_batch_size)
                generation = runner.rebuild(update, keep_old=args.keep_old)
                position = runner.position
            finally:
                client.close()
        else:
            with PgRunner(ctx.reader, ctx.conninfo, [], ctx.read.store, batch) as pg:
                tracked = pg.rebuild(PG_PROJECTORS[args.name](), update, keep_old=args.keep_old)
                generation, position = tracked.generation, tracked.position
        bar.done()
    print(f"{args.name}: generation {generation} is live at log position {position:,}")
    return 0


# ---- wait ------------------------------------------------------------------------------------------


def cmd_wait(args: argparse.Namespace) -> int:
    names = args.only or list(PG_PROJECTORS)
    with opened() as ctx:
        try:
            reached = ctx.read.store.wait_for_position(ctx.conninfo, names, args.position, args.timeout)
        except ProjectionTimeout as error:
            print(str(error), file=sys.stderr)
            return 1
    print(", ".join(f"{name} at {position:,}" for name, position in sorted(reached.items())))
    return 0


def add_projections_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("projections", help="read models: run, status, rebuild, wait")
    commands = parser.add_subparsers(dest="projections_command", metavar="COMMAND", required=True)
    status = commands.add_parser("status", help="each projection's position and lag behind the head of the log")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    run = commands.add_parser("run", help="catch the projections up with the log (and keep following with --follow)")
    run.add_argument("--only", nargs="+", metavar="NAME", help=f"of {', '.join(ALL_NAMES)}")
    run.add_argument("--no-clickhouse", action="store_true")
    run.add_argument("--follow", action="store_true", help="keep running; poll the log when idle")
    run.add_argument("--idle", type=float, default=0.2, help="seconds between polls when following")
    run.add_argument("--batch", type=int, default=0, help="log ids per window (default TRADEX_PROJECTION_BATCH, "
                     "ClickHouse TRADEX_CLICKHOUSE_BATCH)")
    run.add_argument("--processes", type=int, default=1,
                     help="catch the PostgreSQL backlog up in this many processes (infra/parallel_runner.py)")
    run.add_argument("--quiet", action="store_true")
    run.set_defaults(func=cmd_run)
    rebuild = commands.add_parser("rebuild", help="rebuild one projection from zero into new tables, then switch")
    rebuild.add_argument("name", metavar="NAME", help=f"one of {', '.join(ALL_NAMES)}")
    rebuild.add_argument("--batch", type=int, default=0)
    rebuild.add_argument("--keep-old", action="store_true", help="keep the previous generation's tables")
    rebuild.add_argument("--quiet", action="store_true")
    rebuild.set_defaults(func=cmd_rebuild)
    wait = commands.add_parser("wait", help="wait until the PostgreSQL read models reached a log position")
    wait.add_argument("position", type=int)
    wait.add_argument("--only", nargs="+", metavar="NAME")
    wait.add_argument("--timeout", type=float, default=5.0)
    wait.set_defaults(func=cmd_wait)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tradex")
    add_projections_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
