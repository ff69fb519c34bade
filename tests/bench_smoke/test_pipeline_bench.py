"""`tradex bench pipeline` at tiny sizes: it must run on its own PostgreSQL, and its report must be true to
what it measured (every order counted, acks ok or coded, fsync on, ids as the generator predicted)."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from bench.pipeline_bench import main
from bench.pipeline_workload import KINDS, generate

ORDERS, ACCOUNTS, RATE, RATE_SECONDS, NAIVE = 2_000, 50, 500, 1, 200


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return run_bench()


def run_bench() -> dict[str, Any]:
    """One tiny run of every phase, shared by the tests of this module (the server start dominates)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["--orders", str(ORDERS), "--accounts", str(ACCOUNTS), "--rate", str(RATE), "--rate-seconds",
                   str(RATE_SECONDS), "--naive-orders", str(NAIVE), "--seed", "3", "--json", "--quiet"])
    result: dict[str, Any] = json.loads(out.getvalue())
    result["rc"] = rc
    return result


def test_runs_with_fsync_on_and_every_check_holding(report: dict[str, Any]) -> None:
    assert report["rc"] == 0
    assert report["server"]["fsync"] == "on"
    assert report["server"]["synchronous_commit"] == "on"
    assert report["checks"] == {"fsync_on": True, "synchronous_commit_on": True, "every_ack_ok_or_coded": True,
                                "order_ids_as_predicted": True, "balances_sum_to_zero": True}


def test_every_submitted_order_is_counted_once(report: dict[str, Any]) -> None:
    phases = report["phases"]
    assert list(phases) == ["throughput", "latency", "naive"]
    for name, expected in (("throughput", ORDERS), ("latency", RATE * RATE_SECONDS), ("naive", NAIVE)):
        phase = phases[name]
        acked = sum(sum(counts.values()) for counts in phase["outcomes"].values())
        assert phase["orders"] == phase["commands"] == expected == acked, name
        assert phase["failures"] == []
        assert phase["events"] > phase["orders"] > 0  # every order stores at least its command's events
        assert phase["orders_per_s"] == pytest.approx(phase["orders"] / phase["wall_s"])
        assert phase["events_per_s"] == pytest.approx(phase["events"] / phase["wall_s"])
        assert phase["batches"] >= 1 and phase["mean_batch"] <= phase["max_batch"]


def test_acks_are_ok_or_name_their_reason(report: dict[str, Any]) -> None:
    for phase in report["phases"].values():
        assert set(phase["outcomes"]) == set(KINDS)
        for counts in phase["outcomes"].values():
            for key in counts:
                state, _, detail = key.partition(":")
                assert state in ("ok", "rejected", "refused") and detail not in ("", "None"), key


def test_naive_phase_saves_once_per_command_and_batching_wins(report: dict[str, Any]) -> None:
    naive, throughput = report["phases"]["naive"], report["phases"]["throughput"]
    assert naive["max_batch"] == 1 and naive["batches"] == NAIVE and naive["largest_batch"] == 1
    assert naive["events_per_order"] > throughput["events_per_order"]  # batches share wallet and market events
    assert report["batched_vs_naive"] == pytest.approx(throughput["orders_per_s"] / naive["orders_per_s"])


def test_latency_is_measured_from_the_intended_send_time(report: dict[str, Any]) -> None:
    latency = report["phases"]["latency"]["latency"]
    assert latency["offered_per_s"] == RATE
    assert 0 < latency["p50_ms"] <= latency["p99_ms"] <= latency["p99_9_ms"] <= latency["max_ms"]
    assert latency["sent_per_s"] == pytest.approx(RATE, rel=0.2)  # the feeder keeps (about) the schedule


def test_workload_mix_and_determinism(report: dict[str, Any]) -> None:
    total = report["workload"]["commands"]
    assert total == ORDERS
    mix = report["workload"]["mix"]
    assert sum(mix.values()) == total
    assert 0.45 < mix["passive"] / total < 0.65 and 0.2 < mix["cancel"] / total < 0.4
    assert mix["ioc"] > 0 and mix["market"] > 0 and mix["amend_price"] > 0 and mix["amend_qty"] > 0
    accounts = list(range(10_001, 10_001 + ACCOUNTS))
    first, again = generate(accounts, 500, seed=3), generate(accounts, 500, seed=3)
    assert first.commands == again.commands and first.order_ids == again.order_ids
    assert generate(accounts, 500, seed=4).commands != first.commands
