"""Shared fixture and helpers for the engine tests.

Every scenario runs against both implementations of ENGINE.md through the `impl` fixture:
"model" (tests/engine/model.py, plain Python) and "engine" (engine.replay, the Numba engine).
Expected events and books in the scenarios are written by hand from ENGINE.md.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.engine import model

Command = dict[str, Any]
Event = dict[str, Any]
Replay = Callable[[Iterable[Mapping[str, Any]]], tuple[list[Event], dict[str, Any]]]

SYMBOL = "X"


def load_engine_replay() -> ModuleType:
    """engine.replay: the implementation under test (an import error fails the tests, never skips them)."""
    return importlib.import_module("engine.replay")


@dataclass(frozen=True)
class Impl:
    name: str
    replay: Replay
    malformed: type[Exception]


@pytest.fixture(params=["model", "engine"])
def impl(request: pytest.FixtureRequest) -> Impl:
    if request.param == "model":
        return Impl("model", model.replay_commands, model.MalformedCommand)
    replay = require_engine()
    return Impl("engine", replay.replay_commands, replay.MalformedCommand)


# ---------------------------------------------------------------------------- commands
def limit(order_id: int, side: str, qty: int, price: int, *, account: int = 1, ts: int = 0, **fields: Any) -> Command:
    return new(order_id, side, qty, "limit", account=account, ts=ts, price=price, **fields)


def market(order_id: int, side: str, qty: int, *, account: int = 1, ts: int = 0, **fields: Any) -> Command:
    return new(order_id, side, qty, "market", account=account, ts=ts, **fields)


def stop_limit(
    order_id: int,
    side: str,
    qty: int,
    price: int,
    trigger_price: int,
    *,
    account: int = 1,
    ts: int = 0,
    **fields: Any,
) -> Command:
    return new(
        order_id,
        side,
        qty,
        "stop_limit",
        account=account,
        ts=ts,
        price=price,
        trigger_price=trigger_price,
        **fields,
    )


def stop_market(
    order_id: int, side: str, qty: int, trigger_price: int, *, account: int = 1, ts: int = 0, **fields: Any
) -> Command:
    return new(order_id, side, qty, "stop_market", account=account, ts=ts, trigger_price=trigger_price, **fields)


def new(
    order_id: Any, side: Any, qty: Any, order_type: Any, *, account: Any = 1, ts: int = 0, **fields: Any
) -> Command:
    symbol = fields.pop("symbol", SYMBOL)
    command: Command = {
        "symbol": symbol,
        "op": "new",
        "order_id": order_id,
        "account_id": account,
        "side": side,
        "type": order_type,
        "qty": qty,
        "ts": ts,
    }
    command.update(fields)
    return command


def cancel(order_id: Any, *, ts: int = 0, symbol: str = SYMBOL) -> Command:
    return {"symbol": symbol, "op": "cancel", "order_id": order_id, "ts": ts}


def amend(order_id: Any, *, ts: int = 0, symbol: str = SYMBOL, **fields: Any) -> Command:
    command: Command = {"symbol": symbol, "op": "amend", "order_id": order_id, "ts": ts}
    command.update(fields)  # price and/or qty
    return command


# ---------------------------------------------------------------------------- events
def _event(seq: int, kind: str, symbol: str, **fields: Any) -> Event:
    event: Event = {"seq": seq, "symbol": symbol, "type": kind}
    event.update(fields)
    return event


def accepted(seq: int, order_id: int, *, symbol: str = SYMBOL) -> Event:
    return _event(seq, "accepted", symbol, order_id=order_id)


def rejected(seq: int, order_id: Any, reason: str, *, symbol: str = SYMBOL) -> Event:
    return _event(seq, "rejected", symbol, order_id=order_id, reason=reason)


def trade(seq: int, taker: int, maker: int, price: int, qty: int, taker_side: str, *, symbol: str = SYMBOL) -> Event:
    return _event(
        seq,
        "trade",
        symbol,
        taker_order_id=taker,
        maker_order_id=maker,
        price=price,
        qty=qty,
        taker_side=taker_side,
    )


def cancelled(seq: int, order_id: int, qty: int, reason: str, *, symbol: str = SYMBOL) -> Event:
    return _event(seq, "cancelled", symbol, order_id=order_id, qty=qty, reason=reason)


def expired(seq: int, order_id: int, qty: int, *, symbol: str = SYMBOL) -> Event:
    return _event(seq, "expired", symbol, order_id=order_id, qty=qty)


def amended(seq: int, order_id: int, price: int, qty: int, *, symbol: str = SYMBOL) -> Event:
    return _event(seq, "amended", symbol, order_id=order_id, price=price, qty=qty)


def triggered(seq: int, order_id: int, *, symbol: str = SYMBOL) -> Event:
    return _event(seq, "triggered", symbol, order_id=order_id)


# ---------------------------------------------------------------------------- books
Level = tuple[int, list[tuple[int, int, int]]]


def book(bids: list[Level] | None = None, asks: list[Level] | None = None) -> dict[str, Any]:
    """One book in the ENGINE.md form from (price, [(order_id, visible, hidden), ...]) levels."""

    def side(levels: list[Level] | None) -> list[Any]:
        return [[price, [list(order) for order in orders]] for price, orders in levels or []]

    return {"bids": side(bids), "asks": side(asks)}


def books(**per_symbol: dict[str, Any]) -> dict[str, Any]:
    return {symbol: per_symbol[symbol] for symbol in sorted(per_symbol)}


# ---------------------------------------------------------------------------- checks
def assert_plain_json(value: Any, where: str = "$") -> None:
    """Only JSON-native Python values: dict with str keys, list, str, int (not bool, not numpy), None."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str, f"{where}: key {key!r} is {type(key).__name__}"
            assert_plain_json(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_plain_json(item, f"{where}[{index}]")
    else:
        assert value is None or type(value) in (int, str), f"{where}: {value!r} is {type(value).__name__}"


def assert_replay(
    impl: Impl, commands: list[Command], expected_events: list[Event], expected_books: dict[str, Any]
) -> None:
    """Given the commands, when replayed, then exactly these events (key order included) and books."""
    events, final_books = impl.replay(commands)
    assert events == expected_events
    assert [list(event) for event in events] == [list(event) for event in expected_events], "key order"
    assert final_books == expected_books
    assert list(final_books) == list(expected_books), "symbols sorted"
    assert_plain_json(events)
    assert_plain_json(final_books)


def dumps(value: Any) -> str:
    """The compact JSON form dumps_event/dumps_books use."""
    return json.dumps(value, separators=(",", ":"))


# ---------------------------------------------------------------------------- subprocesses
REPO_ROOT = Path(__file__).resolve().parents[2]

# Replays each JSONL file named on the command line through engine.replay and prints, per file, the
# events (dumps_event) and the books (dumps_books), one per line, then a "--" separator line.
ENGINE_REPLAY_SCRIPT = """
import json, sys
from engine.replay import dumps_books, dumps_event, replay_commands
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as handle:
        commands = [json.loads(line) for line in handle]
    events, books = replay_commands(commands)
    for event in events:
        sys.stdout.write(dumps_event(event) + "\\n")
    sys.stdout.write(dumps_books(books) + "\\n--\\n")
"""


def model_replay_output(commands: list[Command]) -> str:
    """What ENGINE_REPLAY_SCRIPT prints for one file, computed with the model."""
    events, final_books = model.replay_commands(commands)
    return "".join(dumps(event) + "\n" for event in events) + dumps(final_books) + "\n--\n"


def write_jsonl(path: Path, commands: list[Command]) -> Path:
    path.write_text("".join(json.dumps(command) + "\n" for command in commands), encoding="utf-8")
    return path


def run_python(
    args: list[str], env_extra: dict[str, str], timeout_s: float = 600
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, **env_extra, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, timeout=timeout_s, check=False
    )


def require_engine() -> ModuleType:
    return load_engine_replay()
