"""`tradex bench engine` at tiny sizes: it must run, and every trade-equality check must pass."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest


def test_engine_bench_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("liquibook", reason="install the bench extra: pip install -e '.[bench]'")
    pytest.importorskip("sortedcontainers", reason="install the bench extra: pip install -e '.[bench]'")
    from bench.engine_bench import main

    peers = ["liquibook", "textbook"]
    if importlib.util.find_spec("nautilus_trader") is not None:
        peers.append("nautilus")
    argv = ["--ops", "20000", "--peer-ops", "5000", "--runs", "1", "--peer-runs", "1", "--batch-size", "4000"]
    argv += ["--no-compile-probe", "--json", "--quiet", "--peers", *peers]

    rc = main(argv)
    report: dict[str, Any] = json.loads(capsys.readouterr().out)

    checks = report["checks"]
    assert checks["tradex_vs_reference_book_full_stream"]["passed"], checks
    assert checks["liquibook_trades"]["passed"], checks
    assert checks["textbook_trades"]["passed"], checks
    assert checks["textbook_book"]["passed"], checks
    if "nautilus" in peers:
        assert checks["nautilus_book"]["passed"], checks
    assert report["all_checks_passed"] is True
    assert rc == 0
    tradex = report["tradex"]
    assert tradex["commands"] == 20000
    assert tradex["trades"] > 0
    assert tradex["ops_per_s"] > 0
    assert report["workload"]["mix"]["move"] > 0
