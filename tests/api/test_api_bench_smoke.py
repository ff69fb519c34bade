"""`tradex bench api` at a tiny size (the httpx load generator, so it needs no wrk), so it cannot rot."""

from __future__ import annotations

import json

import pytest

from bench import api_bench

pytestmark = pytest.mark.integration


def test_api_bench_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code = api_bench.main(["--seconds", "1", "--warmup", "0", "--connections", "4", "--accounts", "4",
                           "--tool", "httpx", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert [phase["phase"] for phase in report["phases"]] == ["place", "balances", "orders"]
    assert all(phase["requests"] > 0 and phase["non_2xx"] == 0 for phase in report["phases"])
