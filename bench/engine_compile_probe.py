"""Measure the TradeX engine's JIT start-up in a fresh process (run by bench.engine_bench).

``python -m bench.engine_compile_probe`` imports ``engine``, builds an OrderBook and runs a small
workload (every command kind the benchmark uses) through ``OrderBook.process`` and, if the engine has it,
``OrderBook.process_timed``; it prints one JSON object with the seconds each first call took. Whether that
is a cold compile or a cache load depends on ``NUMBA_CACHE_DIR``, which the caller sets: an empty temp
dir for the cold run, the same dir again for the cached run.
"""

from __future__ import annotations

import json
import os
import sys
import time


def _peak_rss_kib() -> int | None:
    """VmHWM of this process (ru_maxrss is not used: Linux carries it over from the parent across exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main() -> int:
    t_start = time.perf_counter()
    import engine  # the timed import: eager compilation or cache loading may happen here

    t_import = time.perf_counter()
    from bench.engine_workload import WorkloadParams, generate

    w = generate(WorkloadParams(ops=2_000, prefill=200, seed=7), progress=None)
    commands = w.encode(engine.encode_commands)
    t_ready = time.perf_counter()
    book = engine.OrderBook(engine.BookConfig())
    book.process(commands)
    t_process = time.perf_counter()
    timed_s: float | None = None
    if hasattr(book, "process_timed"):
        t0 = time.perf_counter()
        engine.OrderBook(engine.BookConfig()).process_timed(commands)
        timed_s = time.perf_counter() - t0
    cache_dir = os.environ.get("NUMBA_CACHE_DIR", "")
    cache_files = sum(len(files) for _, _, files in os.walk(cache_dir)) if cache_dir else 0
    print(
        json.dumps(
            {
                "import_s": t_import - t_start,
                "first_process_s": t_process - t_ready,
                "first_process_timed_s": timed_s,
                "total_s": (t_import - t_start) + (t_process - t_ready) + (timed_s or 0.0),
                "cache_files": cache_files,
                "peak_rss_kib": _peak_rss_kib(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
