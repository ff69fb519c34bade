"""Replaying ENGINE.md command objects through one book per symbol, and the JSON file helpers."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.book import BookConfig, OrderBook
from engine.codes import EV_DECREMENTED, EV_TRADE
from engine.encoding import CommandRow, decode_events_with_symbols, encode_command, rows_to_array
from engine.errors import MalformedCommand

__all__ = [
    "MalformedCommand",
    "MalformedLine",
    "ReplaySummary",
    "dumps_books",
    "dumps_event",
    "read_commands_jsonl",
    "replay_commands",
    "replay_file",
]


def _symbol(command: Any, index: int) -> str:
    if not isinstance(command, Mapping):
        raise MalformedCommand(index, "command is not a JSON object")
    symbol = command.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise MalformedCommand(index, "symbol must be a non-empty string")
    return symbol


def replay_books(
    commands: Iterable[Mapping[str, Any]], config: BookConfig | None = None
) -> tuple[dict[str, OrderBook], np.ndarray, list[str]]:
    """Run the commands through one book per symbol. Returns (books by symbol, all ENGINE.md events in
    input order as EVENT_DTYPE, the symbol of each event)."""
    rows_by_symbol: dict[str, list[CommandRow]] = {}
    for index, command in enumerate(commands):
        symbol = _symbol(command, index)
        rows_by_symbol.setdefault(symbol, []).append(encode_command(command, index, index + 1))
    symbols = sorted(rows_by_symbol)
    books: dict[str, OrderBook] = {}
    chunks: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    for number, symbol in enumerate(symbols):
        book = OrderBook(config)
        # Books are independent, so each symbol's commands go through in one batch; the events are
        # merged back into input order below (a command's events are contiguous and share its seq).
        events = book.process(rows_to_array(rows_by_symbol[symbol]))
        events = events[events["type"] != EV_DECREMENTED]  # a fast-path extension, not ENGINE.md
        books[symbol] = book
        chunks.append(events)
        owners.append(np.full(len(events), number, dtype=np.int64))
    if not chunks:
        from engine.dtypes import EVENT_DTYPE

        return books, np.zeros(0, dtype=EVENT_DTYPE), []
    merged = np.concatenate(chunks)
    owner = np.concatenate(owners)
    order = np.argsort(merged["seq"], kind="stable")
    return books, merged[order], [symbols[i] for i in owner[order].tolist()]


def replay_commands(
    commands: Iterable[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run ENGINE.md command objects, in order, through one book per symbol.

    Returns (events, books): events as ENGINE.md dicts in input order; books as
    {symbol: {"bids": [...], "asks": [...]}} for every symbol that received a command, sorted.
    Raises MalformedCommand for input that cannot become a command at all.
    """
    books, events, symbols = replay_books(commands)
    return decode_events_with_symbols(events, symbols), {symbol: books[symbol].levels() for symbol in books}


def dumps_event(event: Mapping[str, Any]) -> str:
    """One JSON line, compact, keys in the given order, no trailing newline."""
    return json.dumps(event, separators=(",", ":"))


def dumps_books(books: Mapping[str, Any]) -> str:
    """The books JSON, compact, keys in the given order."""
    return json.dumps(books, separators=(",", ":"))


# --- files -----------------------------------------------------------------------------------


class MalformedLine(ValueError):
    """A line of a JSON Lines command file that cannot become a command (1-based line number)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_commands_jsonl(path: str | Path) -> tuple[list[Any], list[int]]:
    """Parse a JSON Lines file. Returns (command objects, their 1-based line numbers); blank lines are
    skipped. Raises MalformedLine for a line that is not valid JSON."""
    commands: list[Any] = []
    lines: list[int] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                commands.append(json.loads(line, parse_constant=_reject_constant))
            except ValueError as error:  # JSONDecodeError, NaN/Infinity, too many digits
                raise MalformedLine(number, f"invalid JSON: {error}") from None
            lines.append(number)
    return commands, lines


def _write_atomically(path: Path, chunks: Iterable[str]) -> Path:
    """Write to a temporary file next to `path`; the caller renames it once everything succeeded."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, renamed by the caller
        "w", encoding="utf-8", dir=path.parent or Path("."), prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            for chunk in chunks:
                handle.write(chunk)
    except BaseException:
        os.unlink(handle.name)
        raise
    return Path(handle.name)


@dataclass(frozen=True)
class ReplaySummary:
    commands: int
    events: int
    trades: int
    symbols: int
    elapsed_s: float


def replay_file(input_path: str | Path, events_path: str | Path, books_path: str | Path | None = None) -> ReplaySummary:
    """engine replay: commands JSONL -> events JSONL (+ books JSON). Writes nothing unless the
    whole input is well formed and replays; raises MalformedLine on bad input."""
    started = time.perf_counter()
    commands, lines = read_commands_jsonl(input_path)
    try:
        books, events, symbols = replay_books(commands)
    except MalformedCommand as error:
        raise MalformedLine(lines[error.index], error.message) from None
    dicts = decode_events_with_symbols(events, symbols)
    outputs: list[tuple[Path, Path]] = []
    try:
        target = Path(events_path)
        outputs.append((_write_atomically(target, (dumps_event(e) + "\n" for e in dicts)), target))
        if books_path is not None:
            target = Path(books_path)
            levels = {symbol: books[symbol].levels() for symbol in books}
            outputs.append((_write_atomically(target, [dumps_books(levels) + "\n"]), target))
    except BaseException:
        for temporary, _ in outputs:
            os.unlink(temporary)
        raise
    for temporary, target in outputs:
        os.replace(temporary, target)
    trades = int(np.count_nonzero(events["type"] == EV_TRADE))
    return ReplaySummary(len(commands), len(events), trades, len(books), time.perf_counter() - started)
