"""`tradex engine replay INPUT.jsonl --events EVENTS.jsonl --books BOOKS.json` (python -m infra.cli)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.conftest import run_python

INPUT = """\
{"symbol":"X","op":"new","order_id":1,"account_id":1,"side":"sell","type":"limit","qty":5,"price":100,"ts":1}
{"symbol":"X","op":"new","order_id":2,"account_id":2,"side":"buy","type":"limit","qty":3,"price":101,"ts":2}
{"symbol":"A","op":"new","order_id":1,"account_id":2,"side":"buy","type":"limit","qty":1,"price":50,"ts":3}
{"symbol":"X","op":"cancel","order_id":9,"ts":4}
{"symbol":"X","op":"new","order_id":3,"account_id":3,"side":"buy","type":"market","qty":4,"ts":5}
"""

EXPECTED_EVENTS = """\
{"seq":1,"symbol":"X","type":"accepted","order_id":1}
{"seq":2,"symbol":"X","type":"accepted","order_id":2}
{"seq":2,"symbol":"X","type":"trade","taker_order_id":2,"maker_order_id":1,"price":100,"qty":3,"taker_side":"buy"}
{"seq":3,"symbol":"A","type":"accepted","order_id":1}
{"seq":4,"symbol":"X","type":"rejected","order_id":9,"reason":"unknown_order"}
{"seq":5,"symbol":"X","type":"accepted","order_id":3}
{"seq":5,"symbol":"X","type":"trade","taker_order_id":3,"maker_order_id":1,"price":100,"qty":2,"taker_side":"buy"}
{"seq":5,"symbol":"X","type":"cancelled","order_id":3,"qty":2,"reason":"no_liquidity"}
"""

EXPECTED_BOOKS = '{"A":{"bids":[[50,[[1,1,0]]]],"asks":[]},"X":{"bids":[],"asks":[]}}'


def replay_cli(*args: str) -> tuple[int, str]:
    result = run_python(["-m", "infra.cli", "engine", "replay", *args], {}, timeout_s=300)
    return result.returncode, result.stderr.decode("utf-8", "replace")


@pytest.mark.slow
def test_replay_writes_the_events_and_books_files(tmp_path: Path) -> None:
    source = tmp_path / "input.jsonl"
    source.write_text(INPUT, encoding="utf-8")
    events_path, books_path = tmp_path / "events.jsonl", tmp_path / "books.json"

    code, stderr = replay_cli(str(source), "--events", str(events_path), "--books", str(books_path))

    assert code == 0, stderr
    assert events_path.read_text(encoding="utf-8") == EXPECTED_EVENTS
    assert books_path.read_text(encoding="utf-8").rstrip("\n") == EXPECTED_BOOKS


@pytest.mark.slow
@pytest.mark.parametrize(
    "bad_line",
    [
        '{"symbol":"X","op":"new","order_id":',  # not JSON
        '["symbol","X"]',  # JSON, but not an object
    ],
)
def test_malformed_line_fails_naming_the_line_and_writes_nothing(tmp_path: Path, bad_line: str) -> None:
    lines = INPUT.splitlines()
    source = tmp_path / "input.jsonl"
    source.write_text("\n".join([*lines[:2], bad_line, *lines[2:]]) + "\n", encoding="utf-8")
    events_path, books_path = tmp_path / "events.jsonl", tmp_path / "books.json"

    code, stderr = replay_cli(str(source), "--events", str(events_path), "--books", str(books_path))

    assert code != 0
    assert "line 3" in stderr
    assert not events_path.exists()
    assert not books_path.exists()
