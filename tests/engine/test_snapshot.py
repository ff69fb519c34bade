"""Fast path: OrderBook.process on encoded batches, snapshot/restore mid-stream, levels/depth/top."""

from __future__ import annotations

import pickle
from types import ModuleType
from typing import Any

import pytest

from tests.engine import model
from tests.engine.conftest import Command, require_engine
from tests.engine.streams import random_stream

SYMBOL = "A"


@pytest.fixture(scope="module")
def engine() -> ModuleType:
    require_engine()
    import engine as engine_package

    return engine_package


def one_book_stream(seed: int, size: int) -> list[Command]:
    """A single-book stream (the fast path has one book per OrderBook)."""
    return [command for command in random_stream(seed, size) if command["symbol"] == SYMBOL]


def run_whole(engine: ModuleType, commands: list[Command]) -> tuple[list[dict[str, Any]], Any]:
    book = engine.OrderBook()
    events = engine.decode_events(book.process(engine.encode_commands(commands)), SYMBOL)
    return events, book


@pytest.mark.parametrize("seed", [3, 11, 29])
@pytest.mark.parametrize("split", [0.0, 0.3, 0.5, 0.97])
def test_snapshot_and_restore_between_two_halves_changes_nothing(engine: ModuleType, seed: int, split: float) -> None:
    commands = one_book_stream(seed, 900)
    encoded = engine.encode_commands(commands)
    cut = int(len(commands) * split)

    whole_events, whole_book = run_whole(engine, commands)

    first = engine.OrderBook()
    first_events = engine.decode_events(first.process(encoded[:cut]), SYMBOL)
    snapshot = pickle.loads(pickle.dumps(first.snapshot()))  # picklable, and a real copy
    restored = engine.OrderBook.restore(snapshot)
    second_events = engine.decode_events(restored.process(encoded[cut:]), SYMBOL)

    assert first_events + second_events == whole_events
    assert restored.levels() == whole_book.levels()
    assert restored.last_trade_price == whole_book.last_trade_price

    model_events, model_books = model.replay_commands(commands)
    assert whole_events == model_events
    assert whole_book.levels() == model_books[SYMBOL]
    assert any(event["type"] == "trade" for event in whole_events)


def test_snapshot_is_independent_of_the_book_it_came_from(engine: ModuleType) -> None:
    commands = one_book_stream(5, 900)
    encoded = engine.encode_commands(commands)
    cut = len(commands) // 2
    original = engine.OrderBook()
    original.process(encoded[:cut])
    snapshot = original.snapshot()

    # The original keeps going; the snapshot must not follow it.
    original_rest = engine.decode_events(original.process(encoded[cut:]), SYMBOL)
    restored_once = engine.OrderBook.restore(snapshot)
    restored_rest = engine.decode_events(restored_once.process(encoded[cut:]), SYMBOL)
    # Restoring the same snapshot again starts from the same state too.
    restored_twice = engine.OrderBook.restore(snapshot)
    restored_again = engine.decode_events(restored_twice.process(encoded[cut:]), SYMBOL)

    assert restored_rest == original_rest
    assert restored_again == original_rest
    assert restored_once.levels() == original.levels() == restored_twice.levels()


def test_levels_depth_top_and_last_trade_price_agree_with_the_model(engine: ModuleType) -> None:
    commands = one_book_stream(17, 900)
    _, book = run_whole(engine, commands)
    model_events, model_books = model.replay_commands(commands)
    levels = model_books[SYMBOL]
    assert book.levels() == levels

    def summary(side: list[Any]) -> list[tuple[int, int, int]]:
        return [(price, sum(order[1] for order in orders), len(orders)) for price, orders in side]

    bids, asks = book.depth(3)
    assert [tuple(level) for level in bids] == summary(levels["bids"])[:3]
    assert [tuple(level) for level in asks] == summary(levels["asks"])[:3]
    best_bid = summary(levels["bids"])[0] if levels["bids"] else (0, 0, 0)
    best_ask = summary(levels["asks"])[0] if levels["asks"] else (0, 0, 0)
    assert tuple(book.top()) == (best_bid[0], best_bid[1], best_ask[0], best_ask[1])
    trades = [event["price"] for event in model_events if event["type"] == "trade"]
    assert book.last_trade_price == (trades[-1] if trades else 0)


def test_fresh_book_is_empty(engine: ModuleType) -> None:
    book = engine.OrderBook()
    assert book.levels() == {"bids": [], "asks": []}
    assert tuple(book.top()) == (0, 0, 0, 0)
    assert book.last_trade_price == 0
