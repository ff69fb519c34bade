"""Runs the projectors: reads the event log in windows, decodes it once, and applies each window to every
projection with exactly-once tracking (PostgreSQL) or idempotent, resumable inserts (ClickHouse).

Why not eventsourcing's ProjectionRunner: it applies and tracks event by event (about 1,600 events/s
measured, ../shared/notes), and its subscription starts with LISTEN/NOTIFY; a read model of a million
events must catch up with whole windows. The loop here:

1. reads the notification ids in (position, position + batch] of the topics any projection wants,
   with one binary query (`LogReader`), and decodes them with the application's own mapper;
2. hands each PostgreSQL projector the events after its own position, in ONE transaction per projector
   and window that holds its rows and the conditional move of its tracking position (`ReadStore.advance`:
   a window can never be applied twice, even by two processes), after taking its registry row FOR SHARE
   (a rebuild's switch-over takes it FOR UPDATE);
3. for ClickHouse, inserts the window's rows table by table, then records the position up to which
   everything is durable (`projections.clickhouse_projector`).

Positions are notification ids: a projection at position P has seen every event with id <= P of the
topics it follows (the window's upper end counts even when the window held none of its events).
The head read before each window is safe: the event store assigns ids and commits under one table
lock, so no id below the visible maximum can appear later.

Projector sessions run with `synchronous_commit = off`: a crash may lose the last few commits, rows and
tracking together, which are then applied again; the exactly-once guarantee does not depend on it.
"""

from __future__ import annotations

import contextlib
import gc
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, cast
from uuid import UUID

import psycopg
from clickhouse_connect.driver.client import Client
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

import domain.account
import domain.asset
import domain.instrument
import domain.market
import domain.order
import domain.position
import domain.wallet  # every event class must be imported for its topic to resolve
from commands.ledger import Ledger
from infra import clickhouse_staging
from infra.event_decoder import EventDecoder
from projections import clickhouse_sql, clickhouse_store
from projections.catalog import PG_PROJECTORS
from projections.clickhouse_projector import NAME as CLICKHOUSE
from projections.clickhouse_projector import ClickHouseProjector, Row, Rows, open_orders, write
from projections.clickhouse_registry import ClickHouseRegistry
from projections.folds import INSTRUMENT_EVENTS, POSITION_EVENTS, Logged, ProjectionError, topics_of
from projections.pg_projector import PgProjector
from projections.pg_tracking import ConcurrentProjector, GenerationSwitched, ReadStore

T = TypeVar("T")
DEFAULT_BATCH = 50_000  # measured best of 10k, 50k, 100k on the bench log (fewer, larger statements)
# The SQL projection into ClickHouse runs about fifteen statements per window, whatever its size: larger
# windows pay that less often (measured on the bench log: 100k 6.7 s, 200k 5.6 s, 350k 5.4 s, 500k 6.0 s,
# the last one waiting longer for its first window).
DEFAULT_CLICKHOUSE_BATCH = 200_000
Progress = Callable[[int], None]  # called with the position reached


# ---- reading the log ---------------------------------------------------------------------------------


class LogReader:
    """Reads ranges of the event log as (notification id, domain event), decoded by the ledger's mapper.

    On PostgreSQL it runs its own binary-format query on its own connection (ranges of ids, no ORDER BY
    ... LIMIT plan to go wrong); on any other recorder it pages through `select_notifications`.
    """

    def __init__(self, ledger: Ledger, conninfo: str | None = None) -> None:
        self.ledger = ledger
        self.to_domain_event = ledger.mapper.to_domain_event
        self.decoder = EventDecoder(ledger.mapper)
        recorder = ledger.recorder
        self.conn: psycopg.Connection[Any] | None = None
        if conninfo is not None and isinstance(recorder, PostgresApplicationRecorder):
            self.conn = psycopg.connect(conninfo, autocommit=True)
            table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
            self.select_range = sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
                "WHERE notification_id > %s AND notification_id <= %s AND topic = ANY(%s) "
                "ORDER BY notification_id").format(table)
            self.select_head = sql.SQL("SELECT max(notification_id) FROM {}").format(table)
            self.copy_select = sql.SQL(
                "COPY (SELECT notification_id, topic, originator_id, originator_version, convert_from(state, 'UTF8') "
                "FROM {} WHERE notification_id > %s AND notification_id <= %s AND topic = ANY(%s) "
                "ORDER BY notification_id) TO STDOUT").format(table)
            self.select_last = sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
                "WHERE notification_id <= %s ORDER BY notification_id DESC LIMIT 1").format(table)
            self.select_placements = sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
                "WHERE originator_id = ANY(%s) AND originator_version = 1").format(table)
        self.conninfo = conninfo
        self._lookup_conn: psycopg.Connection[Any] | None = None
        self._lookup_lock = threading.Lock()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self._lookup_conn is not None:
            self._lookup_conn.close()

    def placements(self, order_uuids: Collection[UUID]) -> dict[UUID, Any]:
        """The placement (`Order.Created`, version 1) of each of these orders found in the log."""
        wanted = list(order_uuids)
        if self.conn is None or self.conninfo is None:
            found: dict[UUID, Any] = {}
            for uuid in wanted:
                events = list(self.ledger.events.get(uuid, lte=1))
                if events and isinstance(events[0], domain.order.Order.Created):
                    found[uuid] = events[0]
            return found
        with self._lookup_lock:
            if self._lookup_conn is None:
                self._lookup_conn = psycopg.connect(self.conninfo, autocommit=True)
            with self._lookup_conn.cursor(binary=True) as cur:
                cur.execute(self.select_placements, (wanted,))
                rows = cur.fetchall()
        decode = self.decoder.decode
        return {row[1]: event for row in rows if isinstance(event := decode(*row), domain.order.Order.Created)}

    def head(self) -> int:
        if self.conn is None:
            return int(self.ledger.recorder.max_notification_id() or 0)
        row = self.conn.execute(self.select_head).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def at_ns(self, position: int) -> int | None:
        """The exchange time of the event at `position` (or the last one before it); None before the first."""
        if self.conn is None:
            found = self.ledger.recorder.select_notifications(1, position, stop=position) if position > 0 else []
            return int(self.to_domain_event(found[-1]).at_ns) if found else None  # type: ignore[attr-defined]
        with self.conn.cursor(binary=True) as cur:
            cur.execute(self.select_last, (position,))
            row = cur.fetchone()
        return int(self.decoder.decode(*row).at_ns) if row else None

    def read(self, after: int, stop: int, topics: Sequence[str]) -> list[Logged]:
        """The events of `topics` with ids in (after, stop], in id order."""
        if stop <= after:
            return []
        if self.conn is None:
            return self._read_generic(after, stop, topics)
        decode = self.decoder.decode
        with self.conn.cursor(binary=True) as cur:
            cur.execute(self.select_range, (after, stop, list(topics)))
            rows = cur.fetchall()
        return [(row[0], decode(*row)) for row in rows]

    def _read_generic(self, after: int, stop: int, topics: Sequence[str]) -> list[Logged]:
        out: list[Logged] = []
        start, page = after + 1, 10_000
        recorder = self.ledger.recorder
        while start <= stop:
            notifications = recorder.select_notifications(start, page, stop=stop, topics=list(topics))
            out.extend((n.id, self.to_domain_event(n)) for n in notifications)
            if len(notifications) < page:
                break
            start = notifications[-1].id + 1
        return out

    def scan(self, after: int, stop: int, topics: Sequence[str], batch: int = 50_000) -> Iterator[Logged]:
        """Every event of `topics` in (after, stop], window by window, with its position."""
        while after < stop:
            end = min(after + batch, stop)
            yield from self.read(after, end, topics)
            after = end

    def copy_range(self, after: int, stop: int, topics: Sequence[str], path: Path) -> None:
        """Write the stored events of `topics` with ids in (after, stop] to `path` as PostgreSQL's COPY text
        (tab-separated: id, topic, originator id, version, state as text), for a bulk load elsewhere."""
        if self.conn is None:
            raise RuntimeError("copy_range reads a PostgreSQL event store")
        with self.conn.cursor() as cur, cur.copy(self.copy_select, (after, stop, list(topics))) as copy, \
                path.open("wb") as out:
            for block in copy:
                out.write(block)


class ReadAhead(Generic[T]):
    """Reads and decodes the next windows in a background thread while the current one is applied.

    The database works on the next window's query while Python applies this one (the driver releases
    the GIL while it waits), at most `depth` windows ahead. `fetch(after, stop)` reads one window
    (default: the events of `topics`, decoded).
    """

    def __init__(self, reader: LogReader, topics: Sequence[str], windows: Iterator[tuple[int, int]],
                 depth: int = 2, fetch: Callable[[int, int], T] | None = None) -> None:
        self.queue: queue.Queue[tuple[int, int, T] | BaseException | None] = queue.Queue(depth)
        self.stopped = threading.Event()
        chosen = list(topics)
        read = fetch if fetch is not None else cast(Callable[[int, int], T],
                                                    lambda after, stop: reader.read(after, stop, chosen))
        self.thread = threading.Thread(target=self._run, args=(read, windows), daemon=True, name="log-read-ahead")
        self.thread.start()

    def _run(self, read: Callable[[int, int], T], windows: Iterator[tuple[int, int]]) -> None:
        try:
            for after, stop in windows:
                if self.stopped.is_set():
                    return
                self.queue.put((after, stop, read(after, stop)))
            self.queue.put(None)
        except BaseException as error:  # handed to the consumer, which raises it
            self.queue.put(error)

    def __iter__(self) -> Iterator[tuple[int, int, T]]:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.stopped.set()
        while self.thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self.queue.get(timeout=0.05)


@contextlib.contextmanager
def relaxed_gc() -> Iterator[None]:
    """Collect cycles rarely while catching up: a window allocates hundreds of thousands of acyclic objects
    (events, rows), and the default thresholds made the collector rescan them all many times per window
    (measured: a third of the decoding time)."""
    previous = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(200_000, 50, 1_000)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


def windows(after: int, head: int, size: int, aligned: bool = False) -> Iterator[tuple[int, int]]:
    """(after, stop] ranges of at most `size` ids up to `head`; aligned ones end on multiples of `size`."""
    while after < head:
        stop = (after // size + 1) * size if aligned else after + size
        yield after, min(stop, head)
        after = min(stop, head)


# ---- PostgreSQL ------------------------------------------------------------------------------------


@dataclass
class Tracked:
    """A PostgreSQL projector, where it stands (generation, position, live or being rebuilt) and its own
    connection (each projector commits on its own, so one's database work overlaps another's Python)."""

    projector: PgProjector
    generation: int
    position: int
    conn: psycopg.Connection[Any]
    live: bool = True
    classes: frozenset[type] = field(init=False)

    def __post_init__(self) -> None:
        self.classes = frozenset(self.projector.event_classes)

    @property
    def name(self) -> str:
        return self.projector.name


@dataclass
class RunStats:
    events: int = 0  # log positions covered (from the slowest projection's start to the head)
    applied: int = 0  # events handed to projectors (an event handed to two counts twice)
    windows: int = 0
    seconds: float = 0.0


def projector_connection(conninfo: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(conninfo, autocommit=True)
    conn.execute("SET synchronous_commit = off")
    conn.autocommit = False
    return conn


class PgRunner:
    """Keeps PostgreSQL projections up to date with the log (see the module docstring).

    With several projections, each applies the windows in its own thread on its own connection, in log
    order, at most `QUEUE_DEPTH` windows behind the reader: while one waits for PostgreSQL, another runs.
    """

    QUEUE_DEPTH = 2

    def __init__(self, reader: LogReader, conninfo: str, projectors: Sequence[PgProjector],
                 store: ReadStore | None = None, batch_size: int = DEFAULT_BATCH) -> None:
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        self.reader = reader
        self.conninfo = conninfo
        self.store = store or ReadStore()
        self.batch_size = batch_size
        self.conn = projector_connection(conninfo)
        self.projectors = list(projectors)
        for projector in self.projectors:
            self.bind(projector)
        self.tracked: list[Tracked] = []

    def bind(self, projector: PgProjector) -> PgProjector:
        """Give a projector that looks placements up in the log (market data) this reader's look-up."""
        if hasattr(projector, "placements") and projector.placements is None:
            projector.placements = self.reader.placements
        return projector

    def close(self) -> None:
        for t in self.tracked:
            t.conn.close()
        self.conn.close()

    def __enter__(self) -> PgRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- generations ---------------------------------------------------------------------------
    def setup(self) -> list[Tracked]:
        """Create the registry and, for a projection never created, its generation 1 (live, at 0)."""
        store = self.store
        created: list[PgProjector] = []
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{store.prefix}:setup",))
            store.create_registry(cur)
            for projector in self.projectors:
                if store.live_generation(cur, projector.name) is None:
                    self._create(cur, projector, 1)
                    store.activate(cur, projector.name, 1, projector.exposed)
                    created.append(projector)
        for projector in created:
            self._create_outside_transaction(projector, 1)
        with self.conn.transaction(), self.conn.cursor() as cur:
            live = store.positions(cur)
        for old in self.tracked:
            old.conn.close()
        for projector in self.projectors:
            projector.reset()
        self.tracked = [Tracked(p, *live[p.name], projector_connection(self.conninfo)) for p in self.projectors]
        return self.tracked

    def _create(self, cur: psycopg.Cursor[Any], projector: PgProjector, generation: int) -> None:
        schema = self.store.create_generation(cur, projector.name, generation)
        cur.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        projector.create(cur)
        cur.execute("SET LOCAL search_path TO DEFAULT")

    def _create_outside_transaction(self, projector: PgProjector, generation: int) -> None:
        hook = getattr(projector, "create_outside_transaction", None)
        if hook is None:
            return
        self.conn.autocommit = True
        try:
            schema = self.store.generation_schema(projector.name, generation)
            self.conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            hook(self.conn)
            self.conn.execute("SET search_path TO DEFAULT")
        finally:
            self.conn.autocommit = False

    # ---- the loop ------------------------------------------------------------------------------
    def catch_up(self, until: int | None = None, progress: Progress | None = None,
                 tracked: Sequence[Tracked] | None = None) -> RunStats:
        """Apply every window up to `until` (default: the head now) to the projections; return the counts."""
        chosen = list(self.tracked if tracked is None else tracked)
        stats = RunStats()
        if not chosen:
            return stats
        began = time.perf_counter()
        head = self.reader.head() if until is None else until
        start = min(t.position for t in chosen)
        topics = sorted(set().union(*(t.projector.topics for t in chosen)))
        ahead: ReadAhead[list[Logged]] = ReadAhead(self.reader, topics, windows(start, head, self.batch_size))
        try:
            with relaxed_gc():
                if len(chosen) == 1:
                    for after, stop, batch in ahead:
                        stats.applied += self._apply_or_skip(chosen[0], batch, stop, after)
                        stats.windows += 1
                        if progress is not None:
                            progress(stop)
                else:
                    self._fan_out(ahead, chosen, stats, progress)
        finally:
            ahead.close()
        stats.events = max(0, head - start)
        stats.seconds = time.perf_counter() - began
        return stats

    def _fan_out(self, ahead: ReadAhead[list[Logged]], chosen: Sequence[Tracked], stats: RunStats,
                 progress: Progress | None) -> None:
        """Each projection applies the windows in its own thread; the first failure stops them all."""
        queues = [queue.Queue[tuple[list[Logged], int, int] | None](self.QUEUE_DEPTH) for _ in chosen]
        failures: list[BaseException] = []
        applied = [0] * len(chosen)

        def work(index: int) -> None:
            t, inbox = chosen[index], queues[index]
            while (item := inbox.get()) is not None:
                if failures:
                    continue  # drain: a window after a failure is not applied
                try:
                    applied[index] += self._apply_or_skip(t, *item)
                except BaseException as error:
                    failures.append(error)

        threads = [threading.Thread(target=work, args=(index,), name=f"project-{t.name}", daemon=True)
                   for index, t in enumerate(chosen)]
        for thread in threads:
            thread.start()
        try:
            subscribers: dict[type, list[int]] = {}
            for index, t in enumerate(chosen):
                for cls in t.classes:
                    subscribers.setdefault(cls, []).append(index)
            for after, stop, batch in ahead:
                if failures:
                    break
                routed: list[list[Logged]] = [[] for _ in chosen]  # each projection's events, in one pass
                for logged in batch:
                    for index in subscribers.get(type(logged[1]), ()):
                        routed[index].append(logged)
                for inbox, events in zip(queues, routed, strict=True):
                    inbox.put((events, stop, after))
                stats.windows += 1
                if progress is not None:
                    progress(min(t.position for t in chosen))
        finally:
            for inbox in queues:
                inbox.put(None)
            for thread in threads:
                thread.join()
        stats.applied += sum(applied)
        if failures:
            raise failures[0]
        if progress is not None:
            progress(min(t.position for t in chosen))

    def apply(self, t: Tracked, batch: Sequence[Logged], stop: int, window_after: int | None = None) -> int:
        """Apply the events of `batch` after t's position and move it to `stop`, in one transaction on t's
        connection (a savepoint when a transaction is open there). Returns how many events it applied.

        `batch` holds the log's events in (window_after, stop]. If a rebuild switched the projection to
        another generation, the window is applied there, from that generation's position. Raises
        ConcurrentProjector (having taken over the other runner's position) if another runner moved it.
        """
        while t.position < stop:
            if window_after is not None and t.position < window_after:
                raise RuntimeError(f"projection {t.name} is at {t.position}, before this window "
                                   f"({window_after}, {stop}]: catch up again from its position")
            try:
                return self._apply_once(t, batch, stop)
            except GenerationSwitched as switched:
                t.projector.reset()
                self._follow_switch(t, switched.generation)
        return 0

    def _apply_once(self, t: Tracked, batch: Sequence[Logged], stop: int) -> int:
        projector, classes, after = t.projector, t.classes, t.position
        if all(type(logged[1]) in classes for logged in batch):
            events = [logged for logged in batch if logged[0] > after] if batch and batch[0][0] <= after else batch
        else:
            events = [logged for logged in batch if logged[0] > after and type(logged[1]) in classes]
        try:
            with t.conn.transaction(), t.conn.cursor() as cur:
                if t.live:
                    generation = self.store.live_generation(cur, t.name, "FOR SHARE")
                    if generation != t.generation:
                        raise GenerationSwitched(t.name, generation or 0)
                self.store.claim(cur, t.name, t.generation, after)
                schema = self.store.generation_schema(t.name, t.generation)
                cur.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
                if not projector.loaded:
                    projector.load(cur)
                    projector.loaded = True
                if events:
                    projector.apply(cur, events)
                self.store.advance(cur, t.name, t.generation, after, stop)
        except GenerationSwitched:
            raise
        except ConcurrentProjector:
            projector.reset()
            self._follow_switch(t, t.generation)  # carry on from where the other runner got to
            raise
        except BaseException:
            projector.reset()  # its cache may be ahead of what the rolled-back transaction stored
            raise
        t.position = stop
        return len(events)

    def _apply_or_skip(self, t: Tracked, batch: Sequence[Logged], stop: int, window_after: int) -> int:
        """`apply`; where another runner got to first, carry on from its position (what it applied is skipped)."""
        while True:
            try:
                return self.apply(t, batch, stop, window_after)
            except ConcurrentProjector:
                continue

    def _follow_switch(self, t: Tracked, generation: int) -> None:
        with t.conn.transaction(), t.conn.cursor() as cur:
            t.generation = generation
            t.position = self.store.generations(cur, t.name)[generation]

    def follow(self, stop: threading.Event, idle_s: float = 0.2, progress: Progress | None = None) -> None:
        """Keep catching up until `stop` is set (polls the head every `idle_s` when idle)."""
        while not stop.is_set():
            if self.catch_up(progress=progress).windows == 0:
                stop.wait(idle_s)

    # ---- rebuild -------------------------------------------------------------------------------
    def rebuild(self, projector: PgProjector, progress: Progress | None = None, keep_old: bool = False) -> Tracked:
        """Build a new generation of `projector` from position 0 beside the live one, then switch over.

        The catch-up runs in ordinary windows while the old generation keeps serving (and a live runner
        elsewhere keeps updating it). The switch takes the registry row FOR UPDATE, applies whatever the
        log gained meanwhile, and repoints the views, in one transaction; then the old generation is
        dropped (unless `keep_old`).
        """
        store, name = self.store, self.bind(projector).name
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{store.prefix}:setup",))
            store.create_registry(cur)
            old = store.live_generation(cur, name)
            generation = max(store.generations(cur, name), default=0) + 1
            self._create(cur, projector, generation)
        self._create_outside_transaction(projector, generation)
        t = Tracked(projector, generation, 0, projector_connection(self.conninfo), live=False)
        for replaced in [other for other in self.tracked if other.name == name]:  # this runner's old generation
            replaced.conn.close()
            self.tracked.remove(replaced)
        self.tracked.append(t)
        while self.reader.head() - t.position > self.batch_size:
            self.catch_up(progress=progress, tracked=[t])
        with t.conn.transaction(), t.conn.cursor() as cur:
            store.live_generation(cur, name, "FOR UPDATE")
            self.catch_up(progress=progress, tracked=[t])
            store.activate(cur, name, generation, projector.exposed)
        t.live = True
        if old is not None and not keep_old:
            with self.conn.transaction(), self.conn.cursor() as cur:
                store.drop_generation(cur, name, old)
        return t


# ---- ClickHouse ------------------------------------------------------------------------------------


class ClickHouseRunner:
    """Keeps the ClickHouse projection up to date with the log.

    Two ways to the same rows: on a PostgreSQL event store with plain JSON states (the default), each
    window is staged in ClickHouse and projected there in SQL (projections/clickhouse_sql.py), with
    position snapshots folded in Python; otherwise every event is decoded and turned into rows in Python
    (projections/clickhouse_projector.py). A generation is kept by one of them: the SQL projection takes
    over a generation the Python projector started (its open orders are read back), not the reverse.

    Windows are aligned on multiples of the batch size, so a replayed window yields the same rows in
    the same inserts, which ClickHouse's insert deduplication drops.
    """

    def __init__(self, reader: LogReader, client: Client, registry: ClickHouseRegistry,
                 batch_size: int = DEFAULT_BATCH, sql: bool | None = None) -> None:
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        possible = clickhouse_staging.sql_staging_possible(reader.decoder, reader.conn is not None)
        if sql and not possible:
            raise ValueError("the SQL projection needs a PostgreSQL event store with plain JSON states")
        self.reader = reader
        self.client = client
        self.registry = registry
        self.batch_size = batch_size
        self.sql = possible if sql is None else sql
        self.projector = ClickHouseProjector()
        self.write: Callable[[Client, Rows], None] = write  # one window's inserts, Python path (tests wrap it)
        self.hook: clickhouse_sql.Hook | None = None  # after each insert of the SQL path (tests inject failures)
        self.generation = 0
        self.position = 0
        self.started = False

    def setup(self) -> int:
        """Use the live generation (creating generation 1 if none), read its position and state back."""
        generation = self.registry.live_generation(self.client, CLICKHOUSE)
        if generation is None:
            generation = 1
            self.registry.create_generation(self.client, generation)
            self.registry.activate(self.client, CLICKHOUSE, generation)
        self._start(generation)
        return self.position

    def _start(self, generation: int) -> None:
        self.registry.use(self.client, generation)
        clickhouse_store.create_tables(self.client)
        self.generation = generation
        self.position = clickhouse_store.tracked_position(self.client, CLICKHOUSE)
        reference = self.reader.scan(0, self.position, sorted(self.projector.reference_topics))
        if self.sql:
            clickhouse_sql.create_staging(self.client)
            had_state = clickhouse_sql.create_state_tables(self.client)
            self.projector.load_state(self.client, self.position, reference, orders=False)
            if not had_state and self.position > 0:  # a generation the Python projector kept so far
                clickhouse_sql.seed_order_state(self.client, self.position, (
                    (o.order_uuid, o.symbol, o.order_id, o.account_id, o.side, str(o.terms["order_type"]),
                     o.price_ticks, o.leaves_qty_lots, o.version) for o in open_orders(self.client, self.position)))
        else:
            if self.client.command("EXISTS TABLE order_state"):
                raise ProjectionError(f"ClickHouse generation {generation} is kept by the SQL projection: "
                                      "rebuild it to project in Python")
            self.projector.load_state(self.client, self.position, reference)
        self.started = True

    def catch_up(self, until: int | None = None, progress: Progress | None = None,
                 follow_switch: bool = True) -> RunStats:
        if not self.started:
            self._start(self.generation)
        if follow_switch:
            live = self.registry.live_generation(self.client, CLICKHOUSE)
            if live is not None and live != self.generation:
                self._start(live)  # a rebuild switched generations
        stats = RunStats()
        began = time.perf_counter()
        head = self.reader.head() if until is None else until
        start = self.position
        span = windows(start, head, self.batch_size, aligned=True)
        try:
            with relaxed_gc():
                if self.sql:
                    self._catch_up_sql(span, stats, progress)
                else:
                    self._catch_up_python(span, stats, progress)
        except BaseException:
            self.started = False  # the state may be ahead of what is durable: read it back before going on
            raise
        stats.events = max(0, head - start)
        stats.seconds = time.perf_counter() - began
        return stats

    def _catch_up_python(self, span: Iterator[tuple[int, int]], stats: RunStats, progress: Progress | None) -> None:
        ahead: ReadAhead[list[Logged]] = ReadAhead(self.reader, sorted(self.projector.topics), span)
        try:
            for _, stop, batch in ahead:
                self.apply(batch, stop)
                stats.applied += len(batch)
                stats.windows += 1
                if progress is not None:
                    progress(stop)
        finally:
            ahead.close()

    def _catch_up_sql(self, span: Iterator[tuple[int, int]], stats: RunStats, progress: Progress | None) -> None:
        """Window by window: a background thread copies the window's files out of PostgreSQL and folds its
        instrument and position events in Python (the rows and the spec history as of the window), while
        ClickHouse stages and projects the previous window (chdb runs without the GIL)."""
        python_topics = sorted(topics_of(*POSITION_EVENTS, *INSTRUMENT_EVENTS))
        reader, projector = self.reader, self.projector
        with clickhouse_staging.StagingFiles() as files:
            def prepare(after: int, stop: int) -> tuple[clickhouse_staging.Window, list[Row],
                                                         tuple[tuple[str, int, int], ...], int]:
                window = files.copy(reader, after, stop)
                batch = reader.read(after, stop, python_topics)
                snapshots = projector.rows(batch).snapshots  # in log order, window after window
                return window, snapshots, tuple(projector.spec_history), len(batch)

            ahead = ReadAhead(reader, (), span, fetch=prepare)
            try:
                for after, stop, (window, snapshots, specs, folded) in ahead:
                    staged = clickhouse_staging.stage(self.client, window)
                    clickhouse_sql.apply_window(self.client, after, stop, specs, self.hook)
                    clickhouse_store.insert_tuples(self.client, clickhouse_store.POSITION_SNAPSHOTS, snapshots,
                                                   dedup_token=f"position_snapshots:{after}:{stop}")
                    if self.hook is not None:
                        self.hook(clickhouse_store.POSITION_SNAPSHOTS.name)
                    clickhouse_store.record_position(self.client, CLICKHOUSE, stop)
                    window.remove()
                    self.position = stop
                    stats.applied += staged + folded
                    stats.windows += 1
                    if progress is not None:
                        progress(stop)
            finally:
                ahead.close()

    def apply(self, batch: Sequence[Logged], stop: int) -> None:
        try:
            self.write(self.client, self.projector.rows(batch))
            clickhouse_store.record_position(self.client, CLICKHOUSE, self.projector.safe_position(stop))
        except BaseException:
            self.started = False  # the state may be ahead of what is durable: read it back before going on
            raise
        self.position = stop

    def rebuild(self, progress: Progress | None = None, keep_old: bool = False) -> int:
        """Fill a new generation (database) from position 0, then make it the live one."""
        old = self.registry.live_generation(self.client, CLICKHOUSE)
        generation = self.registry.next_generation(self.client)
        self.registry.create_generation(self.client, generation)
        self.projector = ClickHouseProjector()
        self._start(generation)
        while self.reader.head() > self.position:
            self.catch_up(progress=progress, follow_switch=False)
        self.registry.activate(self.client, CLICKHOUSE, generation)
        if old is not None and old != generation and not keep_old:
            self.registry.drop_generation(self.client, old)
        return generation


def pg_projector_names() -> list[str]:
    return list(PG_PROJECTORS)
