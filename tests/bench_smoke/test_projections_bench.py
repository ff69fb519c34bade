"""`tradex bench projections` at tiny sizes: it fills its own log, catches every target up, rebuilds, and its
report is true to what it measured (every phase present, the cross-store checks holding)."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from bench.projections_bench import main
from projections.catalog import ALL_NAMES

pytestmark = pytest.mark.integration


def test_a_tiny_run_fills_catches_up_rebuilds_and_checks() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["--events", "3000", "--accounts", "30", "--fill-batch", "500", "--batch", "700", "--json",
                   "--quiet"])
    report = json.loads(out.getvalue())
    assert rc == 0
    assert report["fill"]["events"] >= 3000 and report["fill"]["refused"] == 0
    assert [phase["name"] for phase in report["phases"]] == ["postgres", "clickhouse"]
    for phase in report["phases"]:
        assert phase["events"] == report["fill"]["events"] and phase["events_per_s"] > 0
        assert phase["applied"] > 0
    assert list(report["rebuilds"]) == list(ALL_NAMES)
    assert report["checks"] == {"balances_sum_to_zero": True, "order_events_complete": True, "trades_agree": True,
                                "clickhouse_agrees": True}
    assert report["counts"]["pg_trades"] > 0
