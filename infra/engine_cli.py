"""`tradex engine ...`: the matching engine's command line (wired into infra/cli.py by the lead).

    tradex engine replay INPUT.jsonl --events EVENTS.jsonl [--books BOOKS.json]

Exit codes: 0 success; 2 malformed input (`line N: message` on stderr, no output file written);
1 the replay could not complete (unreadable input, a book capacity bound hit).
"""

from __future__ import annotations

import argparse
import sys

from engine.errors import CapacityExceeded
from engine.replay import MalformedLine, replay_file


def add_engine_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    engine_parser = subparsers.add_parser("engine", help="matching engine tools")
    engine_commands = engine_parser.add_subparsers(dest="engine_command", metavar="ENGINE_COMMAND", required=True)
    replay = engine_commands.add_parser(
        "replay",
        help="replay ENGINE.md commands (JSON Lines) through one book per symbol",
        description="Replay ENGINE.md commands, one JSON object per line, through one order book per "
        "symbol; write the events as JSON Lines and optionally the final books as JSON.",
    )
    replay.add_argument("input", metavar="INPUT.jsonl", help="commands, one JSON object per line")
    replay.add_argument("--events", required=True, metavar="EVENTS.jsonl", help="where to write the events")
    replay.add_argument("--books", metavar="BOOKS.json", help="where to write the final books")
    replay.set_defaults(func=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    try:
        summary = replay_file(args.input, args.events, args.books)
    except MalformedLine as error:
        print(f"line {error.line}: {error.message}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"engine replay: {error}", file=sys.stderr)
        return 1
    except CapacityExceeded as error:
        print(f"engine replay: {error}", file=sys.stderr)
        return 1
    print(
        f"engine replay: {summary.commands} commands, {summary.events} events, {summary.trades} trades, "
        f"{summary.symbols} symbols, {summary.elapsed_s:.3f} s",
        file=sys.stderr,
    )
    return 0
