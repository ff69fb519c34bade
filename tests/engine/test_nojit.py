"""The engine's compiled functions also run as plain Python (NUMBA_DISABLE_JIT=1), with the same results."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.conftest import (
    ENGINE_REPLAY_SCRIPT,
    Command,
    amend,
    cancel,
    limit,
    market,
    model_replay_output,
    require_engine,
    run_python,
    stop_limit,
    stop_market,
    write_jsonl,
)
from tests.engine.streams import random_stream

# A few hand-picked scenarios touching each mechanism once (the same shapes as the scenario tests).
SCENARIOS: dict[str, list[Command]] = {
    "iceberg_refresh": [
        limit(1, "sell", 10, 100, account=1, display_qty=3),
        limit(2, "sell", 5, 100, account=2),
        limit(3, "buy", 8, 100, account=3),
    ],
    "stp_modes": [
        limit(1, "sell", 2, 100, account=1),
        limit(2, "sell", 5, 100, account=2),
        limit(3, "buy", 5, 100, account=1, stp="decrement"),
        limit(4, "sell", 3, 101, account=1),
        limit(5, "buy", 9, 101, account=1, stp="cancel_maker"),
        limit(6, "sell", 1, 99, account=1, stp="cancel_both"),
    ],
    "fok_and_ioc": [
        limit(1, "sell", 10, 100, account=1, display_qty=2),
        limit(2, "buy", 9, 100, account=2, tif="fok"),
        limit(3, "buy", 5, 100, account=2, tif="fok"),
        limit(4, "buy", 5, 100, account=2, tif="ioc"),
    ],
    "stop_cascade": [
        limit(1, "sell", 1, 100, account=1),
        limit(2, "sell", 1, 101, account=1),
        limit(3, "sell", 5, 102, account=1),
        limit(4, "buy", 5, 99, account=1),
        stop_market(11, "buy", 1, 100, account=5),
        stop_market(12, "sell", 1, 100, account=6),
        stop_market(13, "buy", 1, 101, account=7),
        stop_limit(14, "buy", 2, 90, 101, account=7, tif="gtd", expire_at=50),
        limit(8, "buy", 1, 100, account=8, ts=10),
        cancel(99, ts=50),
    ],
    "amend_and_expiry": [
        limit(1, "sell", 5, 101, ts=0, tif="gtd", expire_at=10),
        limit(2, "buy", 5, 99, ts=0, post_only=True),
        amend(1, price=102, ts=1),
        amend(2, qty=3, ts=2),
        amend(2, price=102, ts=3),
        market(3, "buy", 4, ts=4),
        cancel(99, ts=10),
    ],
}


@pytest.mark.slow
def test_engine_runs_uncompiled_with_the_same_results(tmp_path: Path) -> None:
    require_engine()
    streams = {**SCENARIOS, "random_1": random_stream(1, 300), "random_2": random_stream(2, 300)}
    paths = [str(write_jsonl(tmp_path / f"{name}.jsonl", commands)) for name, commands in streams.items()]
    script = "import numba\nassert numba.config.DISABLE_JIT, 'JIT still on'\n" + ENGINE_REPLAY_SCRIPT
    result = run_python(["-c", script, *paths], {"NUMBA_DISABLE_JIT": "1"})
    assert result.returncode == 0, result.stderr.decode()
    expected = "".join(model_replay_output(commands) for commands in streams.values())
    assert result.stdout.decode("utf-8") == expected
