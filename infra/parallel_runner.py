"""Catching the PostgreSQL projections up in several processes.

The projectors are CPU-bound in Python, and one process runs Python on one core at a time (its threads
only overlap while they wait for PostgreSQL). Each projection is independent (its own tables, its own
tracking position, its own transactions), so groups of them can run in separate processes, each with
its own log reader and `PgRunner`; nothing about exactly-once changes. `plan_groups` balances the
groups by each projector's measured cost per event (docs/read-models.md).
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from commands.ledger import Ledger
from infra.clock import WallClock
from infra.projector_runner import LogReader, PgRunner, RunStats
from projections.catalog import pg_projectors
from projections.pg_tracking import ReadStore

# Relative CPU cost of each projector over the same log (measured on the bench workload, 50k-id windows).
WEIGHTS: Final = {"orders": 5.0, "balances": 2.5, "market_data": 1.2, "positions": 0.6, "instruments": 0.05}


def plan_groups(names: Sequence[str], processes: int) -> list[list[str]]:
    """Split projections into at most `processes` groups of similar cost (heaviest first, to the lightest)."""
    groups: list[list[str]] = [[] for _ in range(max(1, min(processes, len(names))))]
    costs = [0.0] * len(groups)
    for name in sorted(names, key=lambda n: -WEIGHTS.get(n, 1.0)):
        lightest = costs.index(min(costs))
        groups[lightest].append(name)
        costs[lightest] += WEIGHTS.get(name, 1.0)
    return [group for group in groups if group]


@dataclass(frozen=True)
class Job:
    env: dict[str, str]  # the ledger's eventsourcing environment (for its recorder and mapper)
    conninfo: str
    names: tuple[str, ...]
    prefix: str
    batch_size: int
    until: int


def _child(job: Job, index: int, positions: Any, results: Any) -> None:
    """One process: its projections from their positions up to `job.until`."""
    ledger = Ledger(env=job.env, clock=WallClock())
    reader = LogReader(ledger, job.conninfo)
    try:
        with PgRunner(reader, job.conninfo, pg_projectors(list(job.names)), ReadStore(job.prefix),
                      job.batch_size) as runner:
            runner.setup()

            def progress(position: int) -> None:
                positions[index] = position

            results.put((index, runner.catch_up(job.until, progress), ""))
    except BaseException as error:
        results.put((index, None, f"{type(error).__name__}: {error}"))
    finally:
        reader.close()
        ledger.close()


def catch_up_in_processes(env: dict[str, str], conninfo: str, names: Sequence[str], prefix: str, batch_size: int,
                          until: int, processes: int, progress: Callable[[int], None] | None = None) -> RunStats:
    """Catch the named projections up to `until` in `processes` processes; the stats of the whole run."""
    groups = plan_groups(names, processes)
    context = multiprocessing.get_context("spawn")
    positions = context.Array("q", [0] * len(groups))
    results: Any = context.Queue()
    children = [context.Process(target=_child, name=f"projectors-{index}", daemon=True,
                                args=(Job(env, conninfo, tuple(group), prefix, batch_size, until), index, positions,
                                      results))
                for index, group in enumerate(groups)]
    began = time.perf_counter()
    for child in children:
        child.start()
    done: dict[int, RunStats] = {}
    failures: list[str] = []
    try:
        while len(done) + len(failures) < len(children):
            finished = not any(child.is_alive() for child in children)
            try:  # a result may still be in the pipe when its process has ended: wait a little longer then
                index, stats, error = results.get(timeout=5.0 if finished else 0.25)
            except queue.Empty:
                if finished:
                    failures.append("a projector process died without reporting")
                    break
            else:
                if error:
                    failures.append(f"{', '.join(groups[index])}: {error}")
                else:
                    done[index] = stats
            if progress is not None:
                progress(min(positions[:]))
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.terminate()
    if failures:
        raise RuntimeError("projector processes failed: " + "; ".join(failures))
    return RunStats(events=max((s.events for s in done.values()), default=0),
                    applied=sum(s.applied for s in done.values()),
                    windows=sum(s.windows for s in done.values()), seconds=time.perf_counter() - began)
