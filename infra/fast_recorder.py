"""The hash-chained application recorder with a bulk insert path: binary COPY under the table lock.

Select it with `APPLICATION_RECORDER_TOPIC=infra.fast_recorder:FastHashChainedRecorder`.

The stock insert (`INSERT ... SELECT FROM unnest(%s::stored_event_uuid[])`) sends the events as one
array of composite values, which psycopg dumps in text format with per-field quoting: at thousands of
events per save that dumping, not PostgreSQL, was most of the cost. This recorder writes the same rows
with `COPY ... FROM STDIN (FORMAT BINARY)`, from a buffer it packs itself, and so has to assign the
notification ids that the `bigserial` default would have assigned. One transaction does:

1. the `_insert_events` hook (where a process recorder would write its tracking row), as the stock path
   (run right after step 2, in the same transaction);
2. `SET LOCAL lock_timeout`, `LOCK TABLE ... IN EXCLUSIVE MODE`, `NOTIFY` (the stock statements), and,
   under that lock, the last notification id handed out (the larger of the table's maximum and the
   sequence's last value) and the chain head hash, in one round trip;
3. COPY of the events with ids last+1 .. last+n in the order given, so `insert_events` returns them
   in that order and the chain links them in that order (notification order == chain order);
4. COPY of their chain rows (the exact `event_hash` of infra/chained_recorder.py), and COPY of the
   handled commands passed as `commands=` (commands/ledger_store.py) with the last id as their position;
5. in one pipelined round trip: the engine checkpoints passed as `engine_checkpoints=`, `setval`
   of the notification id sequence to the last id written (so that the stock insert path, used by
   another process on the same table, continues after it), and COMMIT, which releases the lock: commit
   order == notification order, as with the stock path.

BEGIN travels with step 2's statements, so a save costs a handful of round trips whatever its size
(two per COPY); at the small batches of a lightly loaded venue that, not the rows, is much of the cost.
So a save of up to PIPELINED_MAX_EVENTS events, made when the recorder knows the head it wrote last,
goes out as one pipeline instead (`_insert_pipelined`): the same rows as parameter arrays, checked
under the lock against the id sequence, one round trip.

The EXCLUSIVE lock is what makes assigning ids ourselves safe: every stock insert takes the same lock
before it calls nextval, so nobody hands out ids while we hold it. A duplicate (originator_id,
originator_version) fails the COPY with a unique violation, raised as eventsourcing's IntegrityError;
the transaction rolls back with nothing stored, and since the sequence is only advanced after both
COPYs succeed, a refused save does not even leave a gap in the notification ids.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import DataError, InterfaceError, OperationalError, ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Connection, Cursor
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composable, Composed, Identifier, Literal

from commands.ledger_store import HandledCommand, checkpoints_of, commands_of, encode_result
from infra.chained_recorder import GENESIS, HashChainedRecorder, rendered

# PostgreSQL's binary COPY format: signature, flags (int32), header extension length (int32), then per
# row a field count (int16) and per field a length (int32) and the value in its binary send format
# (uuid: 16 bytes, bigint: 8 bytes big-endian, text: UTF-8, bytea: raw), and a -1 field count at the end.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"
_EVENT_ROW_UUID = struct.Struct(">hi16siqi")  # 5 fields; uuid; version; length of the topic that follows
_EVENT_ROW_TEXT_HEAD = struct.Struct(">hi")  # 5 fields; length of the text originator id that follows
_VERSION_TOPIC = struct.Struct(">iqi")  # version; length of the topic that follows
_LENGTH = struct.Struct(">i")
_BIGINT_FIELD = struct.Struct(">iq")
_CHAIN_ROW = struct.Struct(">hiqi32s")  # 2 fields; notification id; 32-byte hash
_INT64 = struct.Struct(">q")
_FIELD_COUNT_5 = struct.pack(">h", 5)
_COMMIT = b"COMMIT"
_ROLLBACK = b"ROLLBACK"
_CHUNK_BYTES = 128 * 1024  # about 500 events of a few hundred bytes per write
# Saves of up to this many events go out in one round trip from the known head (`_insert_pipelined`);
# larger ones by COPY, which packs rows for less CPU than psycopg dumps parameter arrays (measured: the
# pipeline is faster up to about 100 events, COPY from about 200).
PIPELINED_MAX_EVENTS = 150


class FastHashChainedRecorder(HashChainedRecorder):
    """HashChainedRecorder whose `insert_events` writes events and chain links with binary COPY."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        schema = Identifier(self.datastore.schema)
        events, chain = Identifier(self.events_table_name), Identifier(self.chain_table_name)
        self.originator_ids_are_uuids = self.datastore.originator_id_type == "uuid"
        self.copy_events_statement = SQL(
            "COPY {schema}.{events} (originator_id, originator_version, topic, state, notification_id) "
            "FROM STDIN (FORMAT BINARY)").format(schema=schema, events=events)
        self.copy_chain_statement = SQL(
            "COPY {schema}.{chain} (notification_id, hash) FROM STDIN (FORMAT BINARY)"
        ).format(schema=schema, chain=chain)
        self.copy_commands_statement = SQL(
            "COPY {schema}.{commands} (command_id, kind, digest, result, log_position) FROM STDIN (FORMAT BINARY)"
        ).format(schema=schema, commands=Identifier(self.commands_table_name))
        sequence = SQL(
            "pg_get_serial_sequence(quote_ident({schema}) || '.' || quote_ident({events}), 'notification_id')").format(
            schema=Literal(self.datastore.schema), events=Literal(self.events_table_name))
        self.select_head_statement = SQL(
            "SELECT GREATEST((SELECT max(notification_id) FROM {schema}.{events}), "
            "pg_sequence_last_value({sequence}::regclass)) AS last_id, "
            "(SELECT hash FROM {schema}.{chain} ORDER BY notification_id DESC LIMIT 1) AS last_hash"
        ).format(schema=schema, events=events, chain=chain, sequence=sequence)
        self.advance_sequence_statement = SQL("SELECT setval({sequence}::regclass, %s)").format(sequence=sequence)
        # Under the lock, fails (division by zero: a runtime error, where a constant error expression would
        # be raised at plan time) unless the sequence still stands where this recorder left it.
        self.expect_sequence_statement = SQL(
            "SELECT 1 / (coalesce(pg_sequence_last_value({sequence}::regclass), 0) = %s)::int AS unmoved"
        ).format(sequence=sequence)
        # The stock lock statements (SET LOCAL lock_timeout, LOCK TABLE ... IN EXCLUSIVE MODE) and the
        # stock NOTIFY, then the reads that must happen under the lock: sent without parameters, so as
        # one simple-protocol message, in one round trip.
        self.lock_notify_and_read_head_statement: Composed = SQL("; ").join(
            [*self.lock_table_statements, SQL("NOTIFY {0}").format(Identifier(self.channel_name)),
             self.select_head_statement])
        self.begin_lock_notify_and_read_head_statement: Composed = SQL("; ").join(
            [SQL("BEGIN"), self.lock_notify_and_read_head_statement])
        # The small-batch path (`_insert_pipelined`): the same rows as parameter arrays, in binary format.
        originator_type = "uuid" if self.originator_ids_are_uuids else "text"
        self.insert_events_arrays_statement = SQL(
            "INSERT INTO {schema}.{events} (notification_id, originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::bigint[], %b::{originator}[], %b::bigint[], %b::text[], %b::bytea[])"
        ).format(schema=schema, events=events, originator=SQL(originator_type))
        # (chain links and commands go in with the stock path's array statements: insert_chain_statement,
        # insert_commands_statement)
        self.begin_statement = b"BEGIN"
        self.notify_statement = SQL("NOTIFY {0}").format(Identifier(self.channel_name))
        self.lock_statements = [rendered(statement) if isinstance(statement, Composable | bytes)
                                else str(statement).encode() for statement in self.lock_table_statements]
        # A unique violation on these means the notification ids were taken: another writer moved the head.
        self.id_constraints = frozenset({f"{self.events_table_name}_notification_id_idx",
                                         f"{self.chain_table_name}_pkey"})
        for name in ("copy_events_statement", "copy_chain_statement", "copy_commands_statement",
                     "advance_sequence_statement", "expect_sequence_statement", "insert_events_arrays_statement",
                     "notify_statement",
                     "lock_notify_and_read_head_statement", "begin_lock_notify_and_read_head_statement"):
            setattr(self, name, rendered(getattr(self, name)))
        # The head this recorder last wrote (last notification id, its chain hash); None until known.
        self._head: tuple[int, bytes] | None = None

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:  # nothing to COPY: the stock path's transaction, with its hook
            with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
                self._insert_events(curs, stored_events, **kwargs)
            return None
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            head, self._head = self._head, None  # unknown again until this save has committed
            if head is not None and len(stored_events) <= PIPELINED_MAX_EVENTS:
                try:
                    ids = self._insert_pipelined(conn, curs, stored_events, kwargs, head)
                except psycopg.errors.DivisionByZero:  # the sequence moved: another writer saved since
                    _rollback(conn)
                except psycopg.errors.UniqueViolation as error:
                    _rollback(conn)
                    if error.diag.constraint_name not in self.id_constraints:
                        raise
                    # the ids were taken by another writer: read the head under the lock (below)
                except BaseException:
                    _rollback(conn)
                    raise
                else:
                    return ids
            try:
                return self._insert_copied(conn, curs, stored_events, kwargs)
            except BaseException:
                _rollback(conn)
                raise

    def _insert_copied(self, conn: Connection[DictRow], curs: Cursor[DictRow], stored_events: Sequence[StoredEvent],
                       kwargs: dict[str, Any]) -> list[int]:
        """Read the head under the lock, then COPY events, links and commands; a handful of round trips."""
        # BEGIN goes out with the lock and the head query: one round trip
        last_id, previous_hash = self._lock_and_read_head(curs, begin=True)
        self._insert_events(curs, stored_events, **kwargs)
        first_id = last_id + 1
        last = last_id + len(stored_events)
        links = bytearray(_COPY_HEADER)
        with curs.copy(self.copy_events_statement) as copy:
            # Chunks go out while the next ones are packed, so the server inserts rows on the
            # other core while this one packs and hashes.
            try:
                for chunk in self._event_chunks(stored_events, first_id, previous_hash, links):
                    copy.write(chunk)
            except struct.error as error:  # e.g. a version outside bigint: what PostgreSQL would say
                raise DataError(f"cannot store event: {error}") from error
        links += _COPY_TRAILER
        with curs.copy(self.copy_chain_statement) as copy:
            copy.write(links)
        commands = commands_of(kwargs)
        if commands:  # binary COPY: psycopg's array dumping escaped every JSON result with a regex
            with curs.copy(self.copy_commands_statement) as copy:
                copy.write(_command_rows(commands, last))
        # The rest, and COMMIT, in one round trip.
        with conn.pipeline():
            self._insert_checkpoints(curs, checkpoints_of(kwargs))
            curs.execute(self.advance_sequence_statement, (last,))
            curs.execute(_COMMIT)
        self._head = (last, bytes(links[-32 - len(_COPY_TRAILER):-len(_COPY_TRAILER)]))
        return list(range(first_id, last + 1))

    def _insert_pipelined(self, conn: Connection[DictRow], curs: Cursor[DictRow],
                          stored_events: Sequence[StoredEvent], kwargs: dict[str, Any],
                          head: tuple[int, bytes]) -> list[int]:
        """The whole transaction in one round trip, from the head this recorder wrote last.

        Every statement (BEGIN, the lock, NOTIFY, a check of the sequence, the inserts as parameter arrays,
        checkpoints, setval, COMMIT) goes out in one pipeline. The ids and the chain continue from `head`
        without reading it. Every other writer moves the id sequence (the stock path by nextval, this one
        by setval) under the same lock, so if anyone saved, or even tried to, since, the check fails and
        the transaction stores nothing; the caller then reads the head under the lock as usual. Should ids
        be written without the sequence, the unique notification id refuses them the same way. Statements
        are not server-prepared here: a failed pipeline skips the preparing of those after the failure,
        which psycopg would still believe prepared.
        """
        last_id, previous_hash = head
        first_id = last_id + 1
        ids = list(range(first_id, first_id + len(stored_events)))
        originators: list[Any] = []
        versions: list[int] = []
        topics: list[str] = []
        states: list[bytes] = []
        hashes: list[bytes] = []
        sha256, pack_int64 = hashlib.sha256, _INT64.pack
        as_uuids = self.originator_ids_are_uuids
        for notification_id, event in zip(ids, stored_events, strict=True):
            originator_id = event.originator_id
            if as_uuids:
                originator_id = originator_id if type(originator_id) is UUID else _as_uuid(originator_id)
                originator = originator_id.bytes
            else:
                originator_id = str(originator_id)
                originator = originator_id.encode()
            version, topic, state = event.originator_version, event.topic, event.state
            previous_hash = sha256(b"".join((previous_hash, pack_int64(notification_id), originator,
                                             pack_int64(version), topic.encode(), b"\0", state))).digest()
            originators.append(originator_id)
            versions.append(version)
            topics.append(topic)
            states.append(state)
            hashes.append(previous_hash)
        commands = commands_of(kwargs)
        last = ids[-1]
        execute = curs.execute
        with conn.pipeline():
            execute(self.begin_statement, prepare=False)
            for statement in self.lock_statements:
                execute(statement, prepare=False)
            execute(self.expect_sequence_statement, (last_id,), prepare=False)
            execute(self.notify_statement, prepare=False)
            self._insert_events(curs, stored_events, **kwargs)
            execute(self.insert_events_arrays_statement, (ids, originators, versions, topics, states), prepare=False)
            execute(self.insert_chain_statement, (ids, hashes), prepare=False)
            if commands:
                execute(self.insert_commands_statement, (
                    last, [c.command_id for c in commands], [c.kind for c in commands],
                    [c.digest for c in commands], [encode_result(c.result).decode() for c in commands]),
                    prepare=False)
            for checkpoint in checkpoints_of(kwargs):
                execute(self.insert_checkpoint_statement, (checkpoint.symbol, checkpoint.last_seq,
                                                           checkpoint.market_version, checkpoint.book), prepare=False)
            execute(self.advance_sequence_statement, (last,), prepare=False)
            execute(_COMMIT, prepare=False)
        self._head = (last, previous_hash)
        return ids

    def _lock_and_read_head(self, curs: Cursor[DictRow], begin: bool = False) -> tuple[int, bytes]:
        curs.execute(self.begin_lock_notify_and_read_head_statement if begin
                     else self.lock_notify_and_read_head_statement)
        while curs.description is None:  # skip the results of SET, LOCK and NOTIFY
            if not curs.nextset():
                raise ProgrammingError("the chain head query returned no result")
        head = curs.fetchone()
        if head is None:
            raise ProgrammingError("the chain head query returned no row")
        last_hash = head["last_hash"]
        return int(head["last_id"] or 0), bytes(last_hash) if last_hash is not None else GENESIS

    def _event_chunks(self, stored_events: Sequence[StoredEvent], first_id: int, previous_hash: bytes,
                      links: bytearray) -> Iterator[bytearray]:
        """Binary COPY data of the events, ids from `first_id` in order; their chain rows go to `links`.

        The hash is infra.chained_recorder.event_hash, computed over one concatenation rather than
        seven digest updates (same bytes, same digest): sha256(previous || id || originator ||
        version || topic || NUL || state), where the originator is hashed as verify_chain will read it
        back from the column (uuid -> its 16 bytes, text -> UTF-8).
        """
        events = bytearray(_COPY_HEADER)
        sha256 = hashlib.sha256
        pack_uuid_row, pack_text_head, pack_version_topic = (
            _EVENT_ROW_UUID.pack, _EVENT_ROW_TEXT_HEAD.pack, _VERSION_TOPIC.pack)
        pack_length, pack_bigint, pack_link, pack_int64 = (
            _LENGTH.pack, _BIGINT_FIELD.pack, _CHAIN_ROW.pack, _INT64.pack)
        as_uuids = self.originator_ids_are_uuids
        topics: dict[str, bytes] = {}
        notification_id = first_id
        for event in stored_events:
            topic = topics.get(event.topic)
            if topic is None:
                topic = topics[event.topic] = event.topic.encode()
            state = event.state
            version = event.originator_version
            if as_uuids:
                originator_id = event.originator_id
                originator = (originator_id if type(originator_id) is UUID else _as_uuid(originator_id)).bytes
                events += pack_uuid_row(5, 16, originator, 8, version, len(topic))
            else:
                originator = str(event.originator_id).encode()
                events += pack_text_head(5, len(originator))
                events += originator
                events += pack_version_topic(8, version, len(topic))
            events += topic
            events += pack_length(len(state))
            events += state
            events += pack_bigint(8, notification_id)
            previous_hash = sha256(b"".join((previous_hash, pack_int64(notification_id), originator,
                                             pack_int64(version), topic, b"\0", state))).digest()
            links += pack_link(2, 8, notification_id, 32, previous_hash)
            notification_id += 1
            if len(events) >= _CHUNK_BYTES:
                yield events
                events = bytearray()
        events += _COPY_TRAILER
        yield events


def _rollback(conn: Connection[DictRow]) -> None:
    """End a failed transaction (and a failed pipeline's) so the connection goes back to the pool clean."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        conn.execute(_ROLLBACK)


def _command_rows(commands: Sequence[HandledCommand], position: int) -> bytes:
    """Binary COPY data of the command table's rows (jsonb's binary form: version 1, then the text)."""
    out = bytearray(_COPY_HEADER)
    pack_length = _LENGTH.pack
    for command in commands:
        out += _FIELD_COUNT_5
        for text in (command.command_id, command.kind, command.digest):
            data = text.encode()
            out += pack_length(len(data))
            out += data
        result = encode_result(command.result)
        out += pack_length(len(result) + 1)
        out += b"\x01"
        out += result
        out += _BIGINT_FIELD.pack(8, position)
    out += _COPY_TRAILER
    return bytes(out)


def _as_uuid(originator_id: UUID | str) -> UUID:
    """A str id bound for a uuid column, parsed here (the stock path lets PostgreSQL parse it)."""
    try:
        return UUID(str(originator_id))
    except ValueError:
        raise DataError(f"invalid input syntax for type uuid: {originator_id!r}") from None
