"""The sequencer: takes commands in arrival order and feeds the venue micro-batches from one thread.

Two threads form a pipeline: the sequencing thread takes commands in arrival order and prepares each
batch (admission, matching, events: `Venue.prepare`), and the commit thread stores prepared batches in
the same order, one transaction each (`Venue.commit`), then resolves their futures. While batch N is
being written and fsynced, batch N+1 is already being prepared; at most `pipeline_depth` prepared
batches wait for their commit. If a commit fails, the venue halts: the batches behind it are failed,
never acknowledged, and a restart rebuilds the state from the log.

Batches form naturally: while one batch is being prepared, new commands queue up, and the next
batch takes all of them (up to `max_batch`). At low load a command waits at most `linger_s` for company,
so latency stays low; at high load batches grow and the cost per command falls. The queue is bounded:
when it is full, `submit` refuses at once (the caller should back off) rather than grow without limit.
A command's future resolves only after its batch's transaction has committed.

The writer allocates hundreds of thousands of short-lived objects per second (events, stored events,
engine rows) while it keeps a large, slowly growing set of long-lived ones (open orders, wallets,
positions). With the collector's default thresholds the full collections, which walk every long-lived
object, took a quarter of the writer's CPU at a few thousand orders/s (measured, docs/write-side.md).
So `start` freezes what exists (startup state is never collected again), raises the thresholds, and
after each committed batch freezes again what survived it: young objects are still collected, and full
collections stay small however many orders are open. The ledger's objects hold no reference
cycles of their own; memory is reclaimed by reference counting as before.
"""

from __future__ import annotations

import gc
import queue
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from commands import ledger_commands as c
from commands.order_commands import ExpireDue
from commands.venue import Outcome, PreparedBatch, Venue
from domain.errors import LedgerError


class Overloaded(LedgerError):
    code = "overloaded"


class SequencerStopped(RuntimeError):
    pass


@dataclass
class SequencerStats:
    batches: int = 0
    commands: int = 0
    largest_batch: int = 0
    busy_ns: int = 0  # sum over batches of prepare start to commit end (batches overlap: not CPU busy time)
    batch_sizes: list[int] = field(default_factory=list)  # the most recent ones, bounded

    def record(self, size: int, elapsed_ns: int) -> None:
        self.batches += 1
        self.commands += size
        self.largest_batch = max(self.largest_batch, size)
        self.busy_ns += elapsed_ns
        self.batch_sizes.append(size)
        if len(self.batch_sizes) > 10_000:
            del self.batch_sizes[:5_000]


_STOP = object()
WRITER_GC_THRESHOLDS = (50_000, 20, 1_000)
# How long a thread may hold the interpreter before another may run. The commit thread waits on
# PostgreSQL several times per batch and each time needs the interpreter back from the busy sequencing
# thread: with Python's default of 5 ms, those handovers alone made a commit take tens of milliseconds.
SWITCH_INTERVAL_S = 0.000_5  # gen0 allocations, gen0 runs per gen1, gen1 runs per gen2


Pending = list[tuple[c.Command, Future[Outcome]]]


class Sequencer:
    def __init__(self, venue: Venue, max_batch: int = 2_000, linger_s: float = 0.0,
                 queue_bound: int = 200_000, tune_gc: bool = True, pipeline_depth: int = 1,
                 switch_interval_s: float = SWITCH_INTERVAL_S, expiry_check_s: float = 0.1) -> None:
        self.expiry_check_s = expiry_check_s  # how long the queue stays empty before due gtd orders are swept
        self.tune_gc = tune_gc
        self.switch_interval_s = switch_interval_s
        self._switch_interval: float | None = None
        self._gc_thresholds: tuple[int, int, int] | None = None
        self.venue = venue
        self.max_batch = max_batch
        self.linger_s = linger_s
        self.queue: queue.Queue[object] = queue.Queue(maxsize=queue_bound)
        self.stats = SequencerStats()
        self.failure: BaseException | None = None
        # prepared batches on their way to the commit thread (bounded: the pipeline's depth)
        self._prepared: queue.Queue[tuple[Pending, PreparedBatch, int] | object] = queue.Queue(
            maxsize=max(1, pipeline_depth))
        self._thread = threading.Thread(target=self._run, name="tradex-sequencer", daemon=True)
        self._committer = threading.Thread(target=self._commit_loop, name="tradex-commit", daemon=True)

    def start(self) -> Sequencer:
        if self.switch_interval_s:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(self.switch_interval_s)
        if self.tune_gc:
            self._gc_thresholds = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(*WRITER_GC_THRESHOLDS)
        self._committer.start()
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Process what is queued, then stop."""
        if self._thread.is_alive():
            self.queue.put(_STOP)
            self._thread.join(timeout)
        if self._committer.is_alive():
            self._committer.join(timeout)
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        if self._gc_thresholds is not None:  # the collector as it was before start
            gc.set_threshold(*self._gc_thresholds)
            gc.unfreeze()
            self._gc_thresholds = None

    def __enter__(self) -> Sequencer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def submit(self, command: c.Command) -> Future[Outcome]:
        if self.failure is not None:
            raise SequencerStopped(f"the sequencer stopped: {self.failure}")
        future: Future[Outcome] = Future()
        try:
            self.queue.put_nowait((command, future))
        except queue.Full:
            raise Overloaded(f"the sequencer queue is full ({self.queue.maxsize}); retry later") from None
        return future

    def submit_many(self, commands: Sequence[c.Command]) -> list[Future[Outcome]]:
        return [self.submit(command) for command in commands]

    def execute(self, command: c.Command, timeout: float = 30.0) -> Outcome:
        return self.submit(command).result(timeout)

    # ---- the sequencing thread ------------------------------------------------------------------
    def _run(self) -> None:
        try:
            stopping = False
            while not stopping and self.failure is None:
                try:
                    item = self.queue.get(timeout=self.expiry_check_s)
                except queue.Empty:  # idle: let due gtd orders expire without waiting for the next command
                    self._sweep_expiries()
                    continue
                if item is _STOP:
                    break
                batch: Pending = [item]  # type: ignore[list-item]
                deadline = time.monotonic() + self.linger_s
                while len(batch) < self.max_batch:
                    try:
                        remaining = deadline - time.monotonic()
                        item = self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True
                        break
                    batch.append(item)  # type: ignore[arg-type]
                self._prepare(batch)
        finally:
            self._prepared.put(_STOP)
            if self.failure is not None:
                self._fail_queued()

    def _sweep_expiries(self) -> None:
        now_ns = self.venue.ledger.clock()
        if not self.venue.expiry_due(now_ns):
            return
        sweep: Future[Outcome] = Future()
        self._prepare([(ExpireDue(f"expire-due:{now_ns}", now_ns), sweep)])

    def _prepare(self, batch: Pending) -> None:
        began = time.perf_counter_ns()
        try:
            prepared = self.venue.prepare([command for command, _ in batch])
        except BaseException as error:  # the venue halted: nothing of this batch was acknowledged
            self._fail(batch, error)
            return
        self._prepared.put((batch, prepared, began))

    # ---- the commit thread ---------------------------------------------------------------------
    def _commit_loop(self) -> None:
        while True:
            item = self._prepared.get()
            if item is _STOP:
                return
            batch: Pending
            prepared: PreparedBatch
            began: int
            batch, prepared, began = item  # type: ignore[misc]
            if self.failure is not None:  # an earlier batch failed: this one must not be stored
                self._fail(batch, self.failure)
                continue
            try:
                outcomes = self.venue.commit(prepared)
            except BaseException as error:
                self._fail(batch, error)
                continue
            self.stats.record(len(batch), time.perf_counter_ns() - began)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                future.set_result(outcome)
            if self._gc_thresholds is not None:
                # What survived a batch (open orders, records) joins the frozen generation, which full
                # collections never walk; what dies later is still freed by reference counting.
                gc.freeze()

    def _fail(self, batch: Pending, error: BaseException) -> None:
        if self.failure is None:
            self.failure = error
        for _, future in batch:
            future.set_exception(SequencerStopped(f"batch failed, nothing acknowledged: {error}"))

    def _fail_queued(self) -> None:
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, tuple):
                pending: Future[Outcome] = item[1]
                pending.set_exception(SequencerStopped(f"the sequencer stopped: {self.failure}"))
