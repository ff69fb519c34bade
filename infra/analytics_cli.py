"""`tradex analytics NAME [options] [--format table|csv|json]`: the risk queries over ClickHouse.

NAME is one of `projections.analytics.QUERIES` (exposure, pnl, vwap-volume, top-accounts-by-volume,
top-accounts-by-open-interest, fees-collected, order-to-trade-ratio). Each option is passed on only to
the queries that take it: --account, --symbol, --asset, --interval (1m, 5m, 1h, 1d or a width in ns),
--start-ns, --end-ns, --limit, --fee-account. Values are printed exactly: integers in minor units,
ticks and lots, ratios as decimals (in JSON, ratios are strings so that no float ever appears).

The queries read the live generation of the ClickHouse projection (`tradex projections run` fills it).
"""

from __future__ import annotations

import argparse
import csv
import inspect
import io
import json
import sys
from decimal import Decimal
from typing import Any

from infra.read_model_settings import load_read_model_settings
from infra.settings import load_settings
from infra.table import render_table
from projections.analytics import QUERIES, Row
from projections.clickhouse_projector import NAME as CLICKHOUSE
from projections.market_data import Interval

OPTIONS = ("account", "symbol", "asset", "interval", "start_ns", "end_ns", "limit", "fee_account")


def interval_of(text: str) -> Interval | int:
    for interval in Interval:
        if interval.value == text:
            return interval
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not 1m, 5m, 1h, 1d or a width in ns") from None


def query_arguments(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """The options given that this query takes (an option it does not take is an error, not ignored)."""
    function = QUERIES[name]
    accepted = set(inspect.signature(function).parameters) - {"client"}
    given = {option: getattr(args, option) for option in OPTIONS if getattr(args, option) is not None}
    refused = sorted(set(given) - accepted)
    if refused:
        takes = ", ".join(_flag(option) for option in sorted(accepted)) or "no option"
        raise SystemExit(f"tradex analytics {name} does not take {', '.join(map(_flag, refused))} (it takes {takes})")
    return given


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def render(rows: list[Row], fmt: str) -> str:
    columns = list(rows[0]) if rows else []
    if fmt == "json":
        return json.dumps([{key: _json_value(value) for key, value in row.items()} for row in rows], indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_text(row[column]) for column in columns] for row in rows])
        return out.getvalue().rstrip("\n")
    if not rows:
        return "(no rows)"
    numeric = [all(isinstance(row[c], int | Decimal) or row[c] is None for row in rows) for c in columns]
    first_numeric = next((i for i, flag in enumerate(numeric) if flag and all(numeric[i:])), None)
    return render_table(columns, [[_text(row[column]) for column in columns] for row in rows], first_numeric)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool | int | str) or value is None:
        return value
    return str(value)


def cmd_analytics(args: argparse.Namespace) -> int:
    kwargs = query_arguments(args.name, args)
    settings = load_settings()
    read = load_read_model_settings(settings)
    client = read.clickhouse()
    try:
        generation = read.registry.live_generation(client, CLICKHOUSE)
        if generation is None:
            print("no ClickHouse projection yet: run `tradex projections run` first", file=sys.stderr)
            return 1
        read.registry.use(client, generation)
        rows = QUERIES[args.name](client, **kwargs)
    finally:
        client.close()
    print(render(rows, args.format))
    return 0


def add_analytics_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("analytics", help="risk queries over ClickHouse (exposure, pnl, vwap, ...)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(QUERIES), metavar="NAME", help=", ".join(sorted(QUERIES)))
    parser.add_argument("--account", type=int)
    parser.add_argument("--symbol")
    parser.add_argument("--asset")
    parser.add_argument("--interval", type=interval_of, help="1m, 5m, 1h, 1d, or a width in ns")
    parser.add_argument("--start-ns", dest="start_ns", type=int)
    parser.add_argument("--end-ns", dest="end_ns", type=int)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--fee-account", dest="fee_account", type=int)
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.set_defaults(func=cmd_analytics)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tradex")
    add_analytics_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
