"""The venue's projectors in a process of their own, following the log.

`ProjectorProcess` spawns a child that opens its own reader of the log, the PostgreSQL read models and
ClickHouse (only this process opens the embedded chdb directory), catches them up, reports that, and then
follows the log until told to stop; on stop it catches up one last time, so the read models end at the
log's head. Its Python runs on its own interpreter: the projectors' decoding and folding never delay the
writer's batches.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.synchronize
import os
import signal
import time
from contextlib import ExitStack
from dataclasses import dataclass

from commands.ledger import Ledger
from infra.clock import WallClock
from infra.projector_runner import ClickHouseRunner, LogReader, PgRunner
from infra.read_model_settings import load_read_model_settings
from infra.settings import Settings
from projections.catalog import PG_PROJECTORS, pg_projectors

IDLE_POLL_S = 0.2
PROJECTOR_NICENESS = 10


@dataclass(frozen=True)
class ProjectorSpec:
    ledger_env: dict[str, str]  # the event store's eventsourcing environment (read only here)
    conninfo: str  # the database of the read models (the event store's)
    settings: Settings


def _follow(spec: ProjectorSpec, stop: multiprocessing.synchronize.Event,
            report: multiprocessing.connection.Connection) -> None:
    """The child: catch up, report, follow until `stop`, catch up once more, report how it ended."""
    # Ctrl-C reaches the whole process group; the venue decides when the projectors stop (after the
    # write side, so the read models end at the log's head).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Read models may lag a burst and catch up after it; the write path and the API may not: on a busy
    # machine the scheduler gives this process the cores last.
    os.nice(PROJECTOR_NICENESS)
    try:
        with ExitStack() as stack:
            ledger = Ledger(env={**spec.ledger_env, "CREATE_TABLE": "n"}, clock=WallClock())
            stack.callback(ledger.close)
            read = load_read_model_settings(spec.settings)
            reader = LogReader(ledger, spec.conninfo)
            stack.callback(reader.close)
            pg = stack.enter_context(PgRunner(reader, spec.conninfo, pg_projectors(list(PG_PROJECTORS)), read.store,
                                              read.batch_size))
            pg.setup()
            client = read.clickhouse()
            stack.callback(client.close)
            clickhouse = ClickHouseRunner(reader, client, read.registry, read.clickhouse_batch_size)
            clickhouse.setup()
            began = time.perf_counter()
            head = reader.head()
            pg.catch_up()
            clickhouse.catch_up()
            report.send(("caught_up", head, time.perf_counter() - began))
            while not stop.is_set():
                windows = pg.catch_up().windows + clickhouse.catch_up().windows
                if windows == 0:
                    stop.wait(IDLE_POLL_S)
            pg.catch_up()
            clickhouse.catch_up()
            report.send(("stopped", reader.head(), 0.0))
    except BaseException as error:  # reported to the venue, which keeps serving from the read models as they are
        report.send(("error", 0, f"{type(error).__name__}: {error}"))


class ProjectorProcess:
    """The projectors' child process: `start()` returns once they caught up with the log."""

    def __init__(self, spec: ProjectorSpec) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._report, child_end = context.Pipe(duplex=False)
        self._process = context.Process(target=_follow, args=(spec, self._stop, child_end),
                                        name="tradex-projectors", daemon=True)
        self.error: str | None = None
        self.position = 0
        self.catch_up_s = 0.0

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def start(self, timeout_s: float = 600.0) -> ProjectorProcess:
        self._process.start()
        kind, position, value = self._receive(timeout_s)
        if kind != "caught_up":
            self.stop()
            raise RuntimeError(f"the projectors did not start: {value}")
        self.position, self.catch_up_s = int(position), float(str(value))
        return self

    def stop(self, timeout_s: float = 120.0) -> None:
        """Stop following, after one last catch-up; kill the child only if it does not end in time."""
        if self._process.is_alive():
            self._stop.set()
            kind, position, value = self._receive(timeout_s)
            if kind == "error":
                self.error = str(value)
            elif kind == "stopped":
                self.position = int(position)
            self._process.join(timeout_s)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
        self._report.close()

    def _receive(self, timeout_s: float) -> tuple[str, int, object]:
        if not self._report.poll(timeout_s):
            return "error", 0, f"no report within {timeout_s:g} s"
        try:
            kind, position, value = self._report.recv()
        except EOFError:  # it ended without reporting
            self._process.join(5)
            return "error", 0, f"the projector process exited with code {self._process.exitcode}"
        if kind == "error":
            self.error = str(value)
        return str(kind), int(position), value
