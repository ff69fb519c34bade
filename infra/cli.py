"""The `tradex` command line."""

from __future__ import annotations

import argparse
import sys

from infra.analytics_cli import add_analytics_parser
from infra.engine_cli import add_engine_parser
from infra.projections_cli import add_projections_parser
from infra.run_command import add_run_parser
from infra.simulate_command import add_simulate_parser
from infra.token_cli import add_token_parser


def _add_bench_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks (they print numbers; none is a test)")
    targets = bench.add_subparsers(dest="bench_target", metavar="TARGET")
    engine = targets.add_parser("engine", help="the matching engine against peer order books")

    def run_engine(args: argparse.Namespace) -> int:
        from bench import engine_bench  # imported on use: it loads the peer libraries

        return engine_bench.run(args)

    from bench.engine_bench import add_arguments

    add_arguments(engine)
    engine.set_defaults(func=run_engine)
    store = targets.add_parser("event-store", help="event store saves: stock vs fast recorder and mapper")
    from bench import event_store_bench

    event_store_bench.add_arguments(store)

    def run_store(args: argparse.Namespace) -> int:
        return event_store_bench.run_checked(event_store_bench.check_args(args, store))

    store.set_defaults(func=run_store)
    pipeline = targets.add_parser("pipeline", help="the write side end to end on PostgreSQL (fsync on): "
                                  "orders/s, ack latency at a fixed rate, batched vs one save per order")
    from bench import pipeline_bench

    pipeline_bench.add_arguments(pipeline)
    pipeline.set_defaults(func=pipeline_bench.run)
    api = targets.add_parser("api", help="the HTTP API over loopback: placements and queries, req/s and p50/p99")
    from bench import api_bench

    api_bench.add_arguments(api)
    api.set_defaults(func=api_bench.run)
    projections = targets.add_parser("projections", help="read models catching up a 1M-event log: events/s "
                                     "into PostgreSQL and ClickHouse, rebuild time")
    from bench import projections_bench

    projections_bench.add_arguments(projections)
    projections.set_defaults(func=projections_bench.run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradex", description="TradeX: an event-sourced trading ledger")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_run_parser(subparsers)
    add_simulate_parser(subparsers)
    add_engine_parser(subparsers)
    add_token_parser(subparsers)
    add_projections_parser(subparsers)
    add_analytics_parser(subparsers)
    _add_bench_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
