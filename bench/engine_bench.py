"""``tradex bench engine``: throughput, latency, memory and JIT start-up of the TradeX matching engine,
compared with peer order books on the same workload.

What it does (docs/bench-engine.md has the details and measured results):

1. generates a seeded exchange-core-style workload (bench.engine_workload): 1,000 resting orders, then
   ``--ops`` commands: 82% price moves (amends), 9% new GTC limits, 3% IOC limits, 6% cancels;
2. encodes it with ``engine.encode_commands``, warms up the JIT, and times ``OrderBook.process`` over the
   stream in ``--batch-size`` batches, ``--runs`` times (median); per-command latency with
   ``OrderBook.process_timed`` when the engine has it; peak memory; cold and cached JIT start-up, each in
   a fresh subprocess with ``NUMBA_CACHE_DIR`` on a new temp dir;
3. runs the peers (liquibook, the textbook Python book, nautilus_trader's OrderBook fed TradeX's book
   changes) on the first ``--peer-ops`` stream commands and prints their speed as ratios to TradeX on
   the same commands;
4. checks that the matching peers and the workload's reference book produce exactly TradeX's trades,
   and that the non-matching peer ends with TradeX's book.

Exit status: 0 when every check passed, 1 when one failed (the report is printed either way), 2 on a
usage error.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.engine_peers import (
    PEERS,
    PeerResult,
    Trade,
    book_deltas_from_events,
    compare_trades,
    peer_available,
    run_liquibook,
    run_nautilus,
    run_textbook,
)
from bench.engine_workload import (
    OP_AMEND,
    OP_CANCEL,
    OP_NAMES,
    OP_NEW_GTC,
    OP_NEW_IOC,
    Workload,
    WorkloadParams,
    generate,
)

__all__ = ["add_arguments", "main", "run"]

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_OPS_PER_S = 5_000_000
WARMUP_COMMANDS = 20_000
FALLBACK_LATENCY_BATCH = 16
FALLBACK_LATENCY_COMMANDS = 100_000

AnyArray = npt.NDArray[Any]


# -- command line -----------------------------------------------------------------------------------
def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", "").replace(",", ""))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``tradex bench engine`` options to ``parser``."""
    parser.add_argument(
        "--ops",
        type=_int_at_least(1),
        default=3_000_000,
        help="stream commands for the TradeX engine (3,000,000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="workload seed (1)")
    parser.add_argument(
        "--batch-size",
        type=_int_at_least(0),
        default=100_000,
        help="commands per OrderBook.process call; 0 = the whole stream in one call (100,000)",
    )
    parser.add_argument(
        "--peer-ops",
        type=_int_at_least(1),
        default=200_000,
        help="stream commands for the peers, the first N of the same stream (200,000)",
    )
    parser.add_argument(
        "--peers",
        nargs="*",
        default=None,
        metavar="PEER",
        help=f"peers to run, from {', '.join(PEERS)} (space or comma separated; default: all installed; "
        "none given: no peers)",
    )
    parser.add_argument("--runs", type=_int_at_least(1), default=3, help="timed TradeX runs, median reported (3)")
    parser.add_argument("--peer-runs", type=_int_at_least(1), default=3, help="timed runs per peer (3)")
    parser.add_argument("--prefill", type=_int_at_least(0), default=1_000, help="resting orders before the stream")
    parser.add_argument("--accounts", type=_int_at_least(1), default=300, help="accounts in the workload (300)")
    parser.add_argument(
        "--no-compile-probe",
        action="store_true",
        help="skip the cold/cached JIT start-up measurement (two fresh subprocesses)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress messages on stderr")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``tradex bench engine`` and ``python -m bench.engine_bench``."""
    parser = argparse.ArgumentParser(
        prog="tradex bench engine",
        description="Benchmark the TradeX matching engine against peer order books on an exchange-core-style workload.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args)


# -- helpers ----------------------------------------------------------------------------------------
class _Progress:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:7.1f}s] {message}", file=sys.stderr, flush=True)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    """CPU model, cores and the versions that matter."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy": np.__version__,
        "numba": _version("numba"),
    }


def _rss_kib() -> tuple[int | None, int | None]:
    """(VmRSS, VmHWM) of this process in KiB from /proc/self/status, None where unavailable."""
    rss = hwm = None
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _source_digest(package_dir: Path) -> str:
    """sha256 over the package's .py files (names and contents, sorted): which engine was measured."""
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        digest.update(str(path.relative_to(package_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _book_array_bytes(book: Any) -> int | None:
    """Bytes of the numpy arrays an OrderBook exposes as ``.arrays`` (a NamedTuple), if it does."""
    arrays = getattr(book, "arrays", None)
    if arrays is None:
        return None
    values = arrays._asdict().values() if hasattr(arrays, "_asdict") else arrays
    try:
        return sum(int(a.nbytes) for a in values if isinstance(a, np.ndarray))
    except TypeError:
        return None


def _batches(arr: AnyArray, size: int) -> list[AnyArray]:
    if size <= 0 or size >= len(arr):
        return [arr] if len(arr) else []
    return [arr[i : i + size] for i in range(0, len(arr), size)]


def _percentiles(ns: npt.NDArray[np.int64]) -> dict[str, float]:
    if ns.size == 0:
        return {}
    p50, p90, p99, p999 = np.percentile(ns, [50, 90, 99, 99.9])
    return {
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "p99.9": float(p999),
        "max": float(ns.max()),
        "mean": float(ns.mean()),
    }


def _trades_of(events: AnyArray, ev_trade: int) -> AnyArray:
    """Trade rows of an event array as an (n, 5) int64 array: seq, taker, maker, price, qty."""
    t = events[events["type"] == ev_trade]
    out = np.empty((len(t), 5), dtype=np.int64)
    out[:, 0] = t["seq"]
    out[:, 1] = t["order_id"]
    out[:, 2] = t["maker_order_id"]
    out[:, 3] = t["price"]
    out[:, 4] = t["qty"]
    return out


def _as_trade_list(rows: AnyArray) -> list[Trade]:
    return [(a, b, c, d) for a, b, c, d in rows[:, 1:].tolist()]


def _compare_trade_arrays(expected: AnyArray, got: AnyArray) -> dict[str, Any]:
    """Exact comparison of (taker, maker, price, qty) rows; first difference reported."""
    n = min(len(expected), len(got))
    diff = np.nonzero(np.any(expected[:n, 1:] != got[:n, 1:], axis=1))[0]
    first: int | None = int(diff[0]) if diff.size else (n if len(expected) != len(got) else None)
    result: dict[str, Any] = {
        "passed": first is None,
        "expected_trades": len(expected),
        "got_trades": len(got),
    }
    if first is not None:
        result["first_mismatch_index"] = first
        result["expected_at_mismatch"] = expected[first].tolist() if first < len(expected) else None
        result["got_at_mismatch"] = got[first].tolist() if first < len(got) else None
    return result


def _normalize_levels(levels: dict[str, Any]) -> dict[str, list[Any]]:
    return {
        side: [[int(price), [[int(x) for x in o] for o in orders]] for price, orders in levels[side]]
        for side in ("bids", "asks")
    }


def _compare_books(expected: dict[str, Any], got: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"passed": expected == got}
    for side in ("bids", "asks"):
        result[f"{side}_levels"] = [len(expected[side]), len(got[side])]
        if expected[side] != got[side]:
            idx = next(
                (i for i, (a, b) in enumerate(zip(expected[side], got[side], strict=False)) if a != b),
                min(len(expected[side]), len(got[side])),
            )
            result[f"{side}_first_difference"] = {
                "level": idx,
                "expected": expected[side][idx] if idx < len(expected[side]) else None,
                "got": got[side][idx] if idx < len(got[side]) else None,
            }
    return result


# -- the TradeX engine ------------------------------------------------------------------------------
def compile_probe(progress: Callable[[str], None]) -> dict[str, Any]:
    """Cold and cached JIT start-up, each in a fresh interpreter (bench.engine_compile_probe)."""
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tradex-numba-cache-") as cache_dir:
        env = dict(os.environ)
        env["NUMBA_CACHE_DIR"] = cache_dir
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        for label in ("cold", "cached"):
            progress(f"compile probe ({label}, fresh subprocess, NUMBA_CACHE_DIR={cache_dir})")
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "bench.engine_compile_probe"],
                cwd=REPO_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=1800,
                check=False,
            )
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                result[label] = {"error": proc.stderr.strip()[-2000:], "wall_s": wall}
                continue
            data = json.loads(proc.stdout.strip().splitlines()[-1])
            data["wall_s"] = wall
            result[label] = data
    return result


def _book_config(engine: Any, w: Workload) -> Any:
    """The engine's default BookConfig (its defaults must fit the benchmark workload)."""
    return engine.BookConfig()


def measure_tradex(
    w: Workload,
    batch_size: int,
    runs: int,
    peer_rows: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Throughput, latency, memory and the events the checks need; see the module docstring."""
    import engine

    ev_trade = int(engine.EV_TRADE)
    progress(f"encoding {len(w):,} commands with engine.encode_commands")
    t0 = time.perf_counter()
    commands = w.encode(
        engine.encode_commands,
        progress=lambda n: progress(f"  encoded {n:,}/{len(w):,}") if n % 1_000_000 == 0 else None,
    )
    encode_s = time.perf_counter() - t0
    prefill_arr = commands[: w.prefill]
    stream_arr = commands[w.prefill :]
    batches = _batches(stream_arr, batch_size)
    config = _book_config(engine, w)

    # warm-up (JIT compile or cache load of process, in this process)
    progress("warm-up: first OrderBook.process call (JIT compile or cache load)")
    t0 = time.perf_counter()
    book = engine.OrderBook(config)
    book.process(prefill_arr)
    book.process(stream_arr[:WARMUP_COMMANDS])
    warmup_s = time.perf_counter() - t0
    del book

    # timed runs over the whole stream
    run_seconds: list[float] = []
    trades_per_run: list[int] = []
    events_per_run: list[int] = []
    trade_rows: list[AnyArray] = []
    prefix_events: list[AnyArray] = []
    for r in range(runs):
        book = engine.OrderBook(config)
        first_events = book.process(prefill_arr)
        if r == 0:
            prefix_events.append(first_events)
            trade_rows.append(_trades_of(first_events, ev_trade))
        gc.collect()
        elapsed_ns = 0
        n_trades = 0
        n_events = 0
        for batch in batches:
            t = time.perf_counter_ns()
            events = book.process(batch)
            elapsed_ns += time.perf_counter_ns() - t
            n_events += len(events)
            trades = _trades_of(events, ev_trade)
            n_trades += len(trades)
            if r == 0:
                trade_rows.append(trades)
                if len(events) and int(events["seq"][0]) <= peer_rows:
                    prefix_events.append(events[events["seq"] <= peer_rows])
        seconds = elapsed_ns / 1e9
        run_seconds.append(seconds)
        trades_per_run.append(n_trades)
        events_per_run.append(n_events)
        progress(f"TradeX run {r + 1}/{runs}: {len(stream_arr) / seconds / 1e6:.2f} M ops/s, {n_trades:,} trades")
        del book
    ops_runs = [len(stream_arr) / s for s in run_seconds]

    # the peers' prefix: same batching, same number of runs; its final book for the book checks
    prefix_stream = stream_arr[: peer_rows - w.prefill]
    prefix_seconds: list[float] = []
    prefix_levels: dict[str, Any] = {}
    for _ in range(runs):
        book = engine.OrderBook(config)
        book.process(prefill_arr)
        gc.collect()
        elapsed_ns = 0
        for batch in _batches(prefix_stream, batch_size):
            t = time.perf_counter_ns()
            book.process(batch)
            elapsed_ns += time.perf_counter_ns() - t
        prefix_seconds.append(elapsed_ns / 1e9)
        prefix_levels = book.levels()
        del book

    # per-command latency inside the engine
    latency: dict[str, Any]
    if hasattr(engine.OrderBook, "process_timed"):
        progress("latency: OrderBook.process_timed over the stream")
        warm = engine.OrderBook(config)
        warm.process_timed(prefill_arr)
        warm.process_timed(stream_arr[:WARMUP_COMMANDS])
        del warm
        book = engine.OrderBook(config)
        book.process_timed(prefill_arr)
        parts: list[npt.NDArray[np.int64]] = []
        for batch in batches:
            _events, ns = book.process_timed(batch)
            parts.append(np.asarray(ns, dtype=np.int64))
        del book
        all_ns = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        kinds = w.op[w.prefill :]
        latency = {
            "method": "OrderBook.process_timed: per-command ns measured inside the compiled loop",
            "commands": int(all_ns.size),
            "ns": _percentiles(all_ns),
            "ns_by_command": {
                OP_NAMES[k]: _percentiles(all_ns[kinds == k]) for k in (OP_AMEND, OP_NEW_GTC, OP_NEW_IOC, OP_CANCEL)
            },
        }
    else:
        n_lat = min(len(stream_arr), FALLBACK_LATENCY_COMMANDS)
        progress(f"latency: no process_timed; timing batches of {FALLBACK_LATENCY_BATCH} commands from Python")
        book = engine.OrderBook(config)
        book.process(prefill_arr)
        per_op: list[float] = []
        for batch in _batches(stream_arr[:n_lat], FALLBACK_LATENCY_BATCH):
            t = time.perf_counter_ns()
            book.process(batch)
            per_op.append((time.perf_counter_ns() - t) / len(batch))
        del book
        latency = {
            "method": "no OrderBook.process_timed: wall time of process() on batches of "
            f"{FALLBACK_LATENCY_BATCH} "
            "commands divided by the batch size (includes Python call overhead; an upper bound)",
            "commands": n_lat,
            "ns": _percentiles(np.asarray(per_op, dtype=np.float64).astype(np.int64)),
        }

    # memory: Python-heap peak (tracemalloc) and the RSS peak during one pass
    progress("memory: one untimed pass under tracemalloc")
    gc.collect()
    rss_before, _ = _rss_kib()
    hwm_reset = _reset_peak_rss()
    tracemalloc.start()
    book = engine.OrderBook(config)
    book.process(prefill_arr)
    for batch in batches:
        book.process(batch)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    _, hwm_after = _rss_kib()
    final_levels: dict[str, Any] = book.levels()
    resting = sum(len(level[1]) for side in ("bids", "asks") for level in final_levels[side])
    book_bytes = _book_array_bytes(book)
    del book
    memory: dict[str, Any] = {
        "tracemalloc_peak_bytes": traced_peak,
        "rss_before_kib": rss_before,
        "rss_peak_during_pass_kib": hwm_after if hwm_reset else None,
        "rss_growth_during_pass_kib": (hwm_after - rss_before)
        if (hwm_reset and hwm_after is not None and rss_before is not None)
        else None,
        "process_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "resting_orders_at_end": resting,
        "book_array_bytes_at_end": book_bytes,
    }

    all_trades = np.concatenate(trade_rows) if trade_rows else np.zeros((0, 5), dtype=np.int64)
    prefix_trades = int(np.count_nonzero(all_trades[:, 0] <= peer_rows))
    return {
        "engine_module": getattr(engine, "__file__", "?"),
        "engine_source_sha256": _source_digest(Path(engine.__file__).parent),
        "config": repr(config),
        "commands": len(stream_arr),
        "batch_size": batch_size if 0 < batch_size < len(stream_arr) else len(stream_arr),
        "batches": len(batches),
        "encode_s": encode_s,
        "warmup_s": warmup_s,
        "run_seconds": run_seconds,
        "ops_per_s_runs": ops_runs,
        "ops_per_s": float(np.median(ops_runs)),
        "trades": trades_per_run[0],
        "trades_per_run": trades_per_run,
        "events": events_per_run[0],
        "latency": latency,
        "memory": memory,
        "prefix": {
            "commands": len(prefix_stream),
            "run_seconds": prefix_seconds,
            "ops_per_s": len(prefix_stream) / float(np.median(prefix_seconds)) if len(prefix_stream) else 0.0,
            "trades": prefix_trades,
        },
        # not part of the JSON report:
        "_all_trades": all_trades,
        "_prefix_events": np.concatenate(prefix_events) if prefix_events else None,
        "_prefix_levels": prefix_levels,
        "_codes": {
            "accepted": int(engine.EV_ACCEPTED),
            "amended": int(engine.EV_AMENDED),
            "trade": ev_trade,
            "cancelled": int(engine.EV_CANCELLED),
            "expired": int(engine.EV_EXPIRED),
        },
    }


# -- peers ------------------------------------------------------------------------------------------
def _select_peers(requested: list[str] | None) -> list[str]:
    if requested is None:
        return list(PEERS)
    names: list[str] = []
    for item in requested:
        for name in item.split(","):
            name = name.strip()
            if not name:
                continue
            if name not in PEERS:
                raise SystemExit(f"tradex bench engine: unknown peer {name!r} (choose from {', '.join(PEERS)})")
            if name not in names:
                names.append(name)
    return names


def run_peers(
    w: Workload,
    tradex: dict[str, Any],
    names: list[str],
    peer_rows: int,
    runs: int,
    progress: Callable[[str], None],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the peers; returns (peer reports, checks)."""
    reports: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    expected_rows = tradex["_all_trades"]
    expected_rows = expected_rows[expected_rows[:, 0] <= peer_rows]
    expected = _as_trade_list(expected_rows)
    tradex_prefix_ops = float(tradex["prefix"]["ops_per_s"])
    tradex_levels = _normalize_levels(tradex["_prefix_levels"])
    for name in names:
        ok, version = peer_available(name)
        if not ok:
            reports[name] = {"skipped": f"not installed ({version})"}
            progress(f"peer {name}: skipped, not installed")
            continue
        progress(f"peer {name}: {peer_rows - w.prefill:,} commands x {runs} runs")
        result: PeerResult
        if name == "textbook":
            result = run_textbook(w, peer_rows, runs)
            checks["textbook_trades"] = compare_trades(expected, result.trades)
            checks["textbook_book"] = _compare_books(tradex_levels, _normalize_levels(result.extra.pop("final_levels")))
        elif name == "liquibook":
            result = run_liquibook(w, peer_rows, runs)
            checks["liquibook_trades"] = compare_trades(expected, result.trades)
            if result.extra.get("rejects"):
                checks["liquibook_trades"]["passed"] = False
                checks["liquibook_trades"]["rejects"] = result.extra["rejects"]
        else:
            events = tradex["_prefix_events"]
            deltas = book_deltas_from_events(w, peer_rows, events, tradex["_codes"])
            result = run_nautilus(w, peer_rows, runs, deltas)
            got = result.extra.pop("final_levels")
            want = {
                side: [
                    [p, [o[0] for o in orders], sum(o[1] + o[2] for o in orders)] for p, orders in tradex_levels[side]
                ]
                for side in ("bids", "asks")
            }
            checks["nautilus_book"] = _compare_books(want, got)
        report: dict[str, Any] = {
            "version": result.version,
            "commands": result.commands,
            "run_seconds": result.seconds,
            "ops_per_s": result.ops_per_s,
            "ratio_to_tradex": result.ops_per_s / tradex_prefix_ops if tradex_prefix_ops else None,
            "tradex_speedup": tradex_prefix_ops / result.ops_per_s if result.ops_per_s else None,
            "notes": result.notes,
        }
        if result.unit_name != "commands":
            report["units"] = result.unit_name
            report["units_timed"] = result.units
            report["units_per_s"] = result.units_per_s
        if result.trades is not None:
            report["trades"] = len(result.trades)
            report["trades_ratio_to_tradex"] = len(result.trades) / len(expected) if expected else None
        report.update({k: v for k, v in result.extra.items() if k not in report})
        reports[name] = report
        progress(f"peer {name}: {result.ops_per_s / 1e6:.3f} M ops/s")
    return reports, checks


# -- report -----------------------------------------------------------------------------------------
def _fmt_rate(x: float | None) -> str:
    if x is None or x != x:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M/s"
    return f"{x / 1e3:.0f} k/s"


def _fmt_ns(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 1_000_000:
        return f"{x / 1e6:.2f} ms"
    return f"{x / 1000:.2f} µs" if x >= 1000 else f"{x:.0f} ns"


def render_text(report: dict[str, Any]) -> str:
    """The human-readable report."""
    lines: list[str] = []
    m = report["machine"]
    wl = report["workload"]
    s = report["settings"]
    t = report["tradex"]
    lines.append("TradeX matching-engine benchmark")
    lines.append("=" * 32)
    lines.append(
        f"machine : {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['platform']}\n"
        f"          {m['python']}, numpy {m['numpy']}, numba {m['numba']}"
    )
    mix = wl["mix"]
    ops = max(1, s["ops"])
    mix_text = ", ".join(f"{k} {100.0 * v / ops:.1f}%" for k, v in mix.items())
    ro = wl["resting_orders"]
    lines.append(
        f"workload: seed {s['seed']}, {wl['prefill']:,} prefill orders + {s['ops']:,} commands ({mix_text}); "
        f"{wl['params']['accounts']} accounts\n"
        f"          resting orders {ro['min']:,}..{ro['max']:,} (mean {ro['mean']:,}), "
        f"{wl['price_levels_at_end']} price levels at end, {wl['trading_commands_pct']}% of commands trade, "
        f"{wl['reference_trades']:,} trades, mid {wl['mid_price_range'][0]}..{wl['mid_price_range'][1]}"
    )
    lines.append("")
    lines.append(
        f"TradeX engine ({t['batches']} batches of {t['batch_size']:,}, {len(t['run_seconds'])} runs; "
        f"engine/*.py sha256 {t['engine_source_sha256']})"
    )
    runs_text = ", ".join(f"{x / 1e6:.2f}" for x in t["ops_per_s_runs"])
    bar = "meets" if t["ops_per_s"] >= TARGET_OPS_PER_S else "BELOW"
    lines.append(
        f"  throughput : {t['ops_per_s'] / 1e6:.2f} M ops/s median (runs: {runs_text} M) - {bar} the "
        f"{TARGET_OPS_PER_S / 1e6:.0f} M ops/s bar; {t['trades']:,} trades, {t['events']:,} events"
    )
    lat = t["latency"]
    ns = lat["ns"]
    if ns:
        lines.append(
            f"  latency    : p50 {_fmt_ns(ns['p50'])}, p99 {_fmt_ns(ns['p99'])}, "
            f"p99.9 {_fmt_ns(ns['p99.9'])}, "
            f"max {_fmt_ns(ns['max'])}, mean {_fmt_ns(ns['mean'])} per command"
        )
        for kind, kns in lat.get("ns_by_command", {}).items():
            if kns:
                lines.append(
                    f"    {kind:<9}: p50 {_fmt_ns(kns['p50'])}, p99 {_fmt_ns(kns['p99'])}, "
                    f"p99.9 {_fmt_ns(kns['p99.9'])}, mean {_fmt_ns(kns['mean'])}"
                )
        lines.append(f"               ({lat['method']})")
    comp = t.get("compile")
    if comp:
        parts = []
        for label in ("cold", "cached"):
            c = comp.get(label, {})
            if "error" in c:
                parts.append(f"{label}: ERROR")
            elif c:
                timed = c.get("first_process_timed_s")
                extra = f" + process_timed {timed:.2f} s" if timed is not None else ""
                rss = c.get("peak_rss_kib")
                rss_text = f", peak RSS {rss / 1024:.0f} MiB" if rss else ""
                parts.append(
                    f"{label} {c['total_s']:.2f} s (import {c['import_s']:.2f} s + first process "
                    f"{c['first_process_s']:.2f} s{extra}; {c['cache_files']} cache files{rss_text})"
                )
        lines.append("  JIT start  : " + "; ".join(parts))
    lines.append(f"  warm-up    : {t['warmup_s']:.2f} s in this process (first process calls)")
    mem = t["memory"]
    book_bytes = mem.get("book_array_bytes_at_end")
    book_text = f"book arrays {book_bytes / 2**20:.2f} MiB at end, " if book_bytes is not None else ""
    lines.append(
        f"  memory     : tracemalloc peak {mem['tracemalloc_peak_bytes'] / 2**20:.1f} MiB during one pass "
        f"(book + event buffers), {book_text}process max RSS {mem['process_maxrss_kib'] / 1024:.0f} MiB "
        "(includes the workload)"
    )
    lines.append("")
    peers = report["peers"]
    prefix = t["prefix"]
    lines.append(f"Peers on the first {prefix['commands']:,} stream commands (median of {s['peer_runs']} runs)")
    header = f"  {'engine':<11} {'version':<44} {'ops/s':>10} {'TradeX is':>11} {'trades':>8} {'trades/TX':>9}"
    lines.append(header)
    lines.append("  " + "-" * (len(header) - 2))
    tx_trades = prefix["trades"]
    lines.append(
        f"  {'tradex':<11} {'TradeX engine (Numba)':<44} {_fmt_rate(prefix['ops_per_s']):>10} {'1.0x':>11} "
        f"{tx_trades:>8,} {'1.00':>9}"
    )
    for name, p in peers.items():
        if "skipped" in p:
            lines.append(f"  {name:<11} {p['skipped']}")
            continue
        speedup = p.get("tradex_speedup")
        trades = p.get("trades")
        tr = p.get("trades_ratio_to_tradex")
        lines.append(
            f"  {name:<11} {p['version'][:44]:<44} {_fmt_rate(p['ops_per_s']):>10} "
            f"{(f'{speedup:.1f}x' if speedup else '-'):>11} "
            f"{(f'{trades:,}' if trades is not None else '-'):>8} "
            f"{(f'{tr:.2f}' if tr is not None else '-'):>9}"
        )
        if "units_per_s" in p:
            lines.append(f"  {'':<11} ({p['units_timed']:,} {p['units']} applied: {_fmt_rate(p['units_per_s'])})")
        for note in p.get("notes", []):
            lines.append(f"  {'':<11} note: {note}")
    lines.append("  (ops/s = stream commands per second; 'TradeX is' = TradeX ops/s / peer ops/s on the same commands)")
    lines.append("")
    lines.append("Checks")
    for name, c in report["checks"].items():
        status = "PASS" if c.get("passed") else "FAIL"
        detail = {k: v for k, v in c.items() if k != "passed"}
        lines.append(f"  {status}  {name}: {json.dumps(detail, separators=(', ', ': '))}")
    lines.append(f"all checks passed: {report['all_checks_passed']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark for parsed ``args``; returns the exit status."""
    progress = _Progress(args.quiet or False)
    names = _select_peers(args.peers)
    ok, why = peer_available("textbook")
    if not ok:  # the workload generator runs the textbook book
        print(
            f"tradex bench engine: sortedcontainers is missing ({why}); install the bench extra: "
            "pip install -e '.[bench]'",
            file=sys.stderr,
        )
        return 2
    params = WorkloadParams(ops=args.ops, seed=args.seed, prefill=args.prefill, accounts=args.accounts)
    peer_rows = params.prefill + min(args.peer_ops, args.ops)

    progress(f"generating workload: seed {params.seed}, {params.prefill:,} prefill + {params.ops:,} commands")
    t0 = time.perf_counter()
    w = generate(params, progress=lambda done, total: progress(f"  workload {done:,}/{total:,}"))
    gen_s = time.perf_counter() - t0

    tradex = measure_tradex(w, args.batch_size, args.runs, peer_rows, progress)
    if not args.no_compile_probe:
        tradex["compile"] = compile_probe(progress)

    checks: dict[str, Any] = {}
    checks["tradex_vs_reference_book_full_stream"] = _compare_trade_arrays(w.ref_trades, tradex["_all_trades"])
    checks["tradex_trades_same_every_run"] = {
        "passed": len(set(tradex["trades_per_run"])) == 1,
        "trades_per_run": tradex["trades_per_run"],
    }
    peer_reports, peer_checks = run_peers(w, tradex, names, peer_rows, args.peer_runs, progress)
    checks.update(peer_checks)
    all_passed = all(c.get("passed", False) for c in checks.values())

    workload_info = w.describe()
    workload_info["generation_s"] = gen_s
    report: dict[str, Any] = {
        "machine": machine_info(),
        "settings": {
            "ops": args.ops,
            "seed": args.seed,
            "batch_size": args.batch_size,
            "peer_ops": peer_rows - params.prefill,
            "runs": args.runs,
            "peer_runs": args.peer_runs,
            "peers": names,
        },
        "workload": workload_info,
        "tradex": {k: v for k, v in tradex.items() if not k.startswith("_")},
        "peers": peer_reports,
        "checks": checks,
        "all_checks_passed": all_passed,
        "meets_target_ops_per_s": tradex["ops_per_s"] >= TARGET_OPS_PER_S,
        "target_ops_per_s": TARGET_OPS_PER_S,
    }
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(render_text(report))
    return 0 if all_passed else 1


if __name__ == "__main__":
    sys.exit(main())
