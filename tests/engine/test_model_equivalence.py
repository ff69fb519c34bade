"""Property: the engine and the reference model produce identical events and books.

~300 random streams by default; HYPOTHESIS_PROFILE=long runs thousands.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine import model
from tests.engine.conftest import assert_plain_json, load_engine_replay
from tests.engine.streams import Command, command_streams

_LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
PROFILE = settings(
    max_examples=5000 if _LONG else 300,
    deadline=None,
    database=None,
    # CI runs a fixed, reproducible set of examples; HYPOTHESIS_PROFILE=long explores at random.
    derandomize=not _LONG,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def engine_replay() -> ModuleType:
    return load_engine_replay()


@PROFILE
@given(commands=command_streams())
def test_engine_and_model_agree(engine_replay: ModuleType, commands: list[Command]) -> None:
    expected_events, expected_books = model.replay_commands(commands)
    events, books = engine_replay.replay_commands(commands)
    assert events == expected_events
    assert [list(event) for event in events] == [list(event) for event in expected_events]
    assert books == expected_books
    assert list(books) == list(expected_books)


@PROFILE
@given(commands=command_streams(extreme=True))
def test_engine_and_model_agree_with_int64_extreme_values(engine_replay: ModuleType, commands: list[Command]) -> None:
    expected_events, expected_books = model.replay_commands(commands)
    events, books = engine_replay.replay_commands(commands)
    assert events == expected_events
    assert books == expected_books


@PROFILE
@given(commands=command_streams())
def test_model_books_are_well_formed(commands: list[Command]) -> None:
    """The model itself: final books are never crossed and hold only live, positive quantities."""
    events, books = model.replay_commands(commands)
    assert_plain_json(events)
    assert list(books) == sorted({command["symbol"] for command in commands})
    for symbol, sides in books.items():
        bids: list[Any] = sides["bids"]
        asks: list[Any] = sides["asks"]
        assert [level[0] for level in bids] == sorted((level[0] for level in bids), reverse=True)
        assert [level[0] for level in asks] == sorted(level[0] for level in asks)
        if bids and asks:
            assert bids[0][0] < asks[0][0], f"{symbol} is crossed"
        ids = [order[0] for level in bids + asks for order in level[1]]
        assert len(ids) == len(set(ids))
        for level in bids + asks:
            assert level[1], "no empty level"
            for _, visible, hidden in level[1]:
                assert visible > 0 and hidden >= 0
        accepted = [e["order_id"] for e in events if e["symbol"] == symbol and e["type"] == "accepted"]
        assert len(accepted) == len(set(accepted)), "an id is accepted at most once per book"
        assert set(ids) <= set(accepted)


MALFORMED: list[Any] = [
    "not an object",
    {"op": "cancel", "order_id": 1, "ts": 0},
    {"symbol": "A", "op": "cancel", "order_id": -1, "ts": 0},
    {"symbol": "A", "op": "cancel", "order_id": 1},
    {"symbol": "A", "op": "new", "order_id": 1, "account_id": "x", "ts": 0},
]


@PROFILE
@given(commands=command_streams(), data=st.data())
def test_engine_and_model_agree_on_where_input_is_malformed(
    engine_replay: ModuleType, commands: list[Command], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(commands)))
    bad = data.draw(st.sampled_from(MALFORMED))
    stream: list[Any] = [*commands[:index], bad, *commands[index:]]
    with pytest.raises(model.MalformedCommand) as expected:
        model.replay_commands(stream)
    with pytest.raises(engine_replay.MalformedCommand) as raised:
        engine_replay.replay_commands(stream)
    assert raised.value.index == expected.value.index == index
