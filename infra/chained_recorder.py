"""A PostgreSQL application recorder that chains every stored event to the one before it.

In the same transaction as the events (and under the same EXCLUSIVE table lock that makes commit order
equal notification order), each new event's hash is written to `<events table>_chain`:

    hash(n) = sha256(hash(previous event) || notification_id || originator_id || version || topic || 0 || state)

The first event links to 32 zero bytes. Altering, removing or reordering any stored event breaks every
hash after it, which `verify_chain` finds.

It also keeps the command log (commands/ledger_store.py) in `<events table>_commands`: the commands
passed to `insert_events(..., commands=[...])` are written in the same transaction, with the last
notification id of that transaction as their log position.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composable, Identifier

from commands.ledger_store import (
    EngineCheckpoint,
    HandledCommand,
    checkpoints_of,
    commands_of,
    decode_result,
    encode_result,
)

GENESIS = bytes(32)
ChainRow = tuple[int, UUID, int, str, bytes, bytes | None]  # id, originator, version, topic, state, hash


def rendered(statement: Composable | bytes) -> bytes:
    """A composed statement as the bytes psycopg would send (identifiers quoted, UTF-8)."""
    return statement if isinstance(statement, bytes) else statement.as_bytes(None)


def event_hash(previous: bytes, notification_id: int, originator_id: UUID | str, originator_version: int,
               topic: str, state: bytes) -> bytes:
    originator = originator_id.bytes if isinstance(originator_id, UUID) else str(originator_id).encode()
    digest = hashlib.sha256(previous)
    digest.update(notification_id.to_bytes(8, "big", signed=True))
    digest.update(originator)
    digest.update(originator_version.to_bytes(8, "big", signed=True))
    digest.update(topic.encode())
    digest.update(b"\0")
    digest.update(state)
    return digest.digest()


class HashChainedRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        if datastore.enable_db_functions:
            # That insert path calls a database function that writes no chain link (and skips the lock).
            raise ProgrammingError("the hash-chained recorders need POSTGRES_ENABLE_DB_FUNCTIONS unset")
        super().__init__(datastore, events_table_name=events_table_name)
        self.chain_table_name = f"{events_table_name}_chain"
        self.check_identifier_length(self.chain_table_name)
        schema, chain = Identifier(self.datastore.schema), Identifier(self.chain_table_name)
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.{chain} ("
            "notification_id bigint PRIMARY KEY, hash bytea NOT NULL)").format(schema=schema, chain=chain))
        self.commands_table_name = f"{events_table_name}_commands"
        self.check_identifier_length(self.commands_table_name)
        commands = Identifier(self.commands_table_name)
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.{commands} ("
            "command_id text PRIMARY KEY, kind text NOT NULL, digest text NOT NULL, result jsonb NOT NULL, "
            "log_position bigint NOT NULL)").format(schema=schema, commands=commands))
        self.insert_commands_statement = SQL(
            "INSERT INTO {schema}.{commands} (command_id, kind, digest, result, log_position) "
            "SELECT c, k, d, r::jsonb, %s FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[]) AS t(c, k, d, r)"
        ).format(schema=schema, commands=commands)
        self.select_commands_statement = SQL(
            "SELECT command_id, kind, digest, result::text AS result, log_position FROM {schema}.{commands} "
            "WHERE command_id = ANY(%s)").format(schema=schema, commands=commands)
        self.checkpoints_table_name = f"{events_table_name}_engine_checkpoints"
        self.check_identifier_length(self.checkpoints_table_name)
        checkpoints = Identifier(self.checkpoints_table_name)
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.{checkpoints} (symbol text NOT NULL, last_seq bigint NOT NULL, "
            "market_version bigint NOT NULL, book bytea NOT NULL, PRIMARY KEY (symbol, last_seq))"
        ).format(schema=schema, checkpoints=checkpoints))
        self.insert_checkpoint_statement = SQL(
            "INSERT INTO {schema}.{checkpoints} (symbol, last_seq, market_version, book) VALUES (%s, %s, %s, %s)"
        ).format(schema=schema, checkpoints=checkpoints)
        self.select_checkpoint_statement = SQL(
            "SELECT symbol, last_seq, market_version, book FROM {schema}.{checkpoints} WHERE symbol = %s "
            "ORDER BY last_seq DESC LIMIT 1").format(schema=schema, checkpoints=checkpoints)
        self.select_existing_statement = SQL(
            "SELECT originator_id FROM {schema}.{events} WHERE originator_id = ANY(%s) AND originator_version = 1"
        ).format(schema=schema, events=Identifier(self.events_table_name))
        self.select_max_id_statement = SQL("SELECT max(notification_id) AS last_id FROM {schema}.{events}").format(
            schema=schema, events=Identifier(self.events_table_name))
        self.insert_events_statement += SQL(", originator_id, originator_version")
        self.select_last_hash_statement = SQL(
            "SELECT hash FROM {schema}.{chain} ORDER BY notification_id DESC LIMIT 1"
        ).format(schema=schema, chain=chain)
        self.insert_chain_statement = SQL(
            "INSERT INTO {schema}.{chain} (notification_id, hash) SELECT * FROM unnest(%b::bigint[], %b::bytea[])"
        ).format(schema=schema, chain=chain)
        self.select_chain_statement = SQL(
            "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state, c.hash "
            "FROM {schema}.{events} e LEFT JOIN {schema}.{chain} c USING (notification_id) "
            "WHERE e.notification_id > %s ORDER BY e.notification_id LIMIT %s"
        ).format(schema=schema, chain=chain, events=Identifier(self.events_table_name))

        # Rendered once: psycopg would otherwise compose the SQL objects to bytes on every execute.
        for name in ("insert_chain_statement", "select_last_hash_statement", "insert_commands_statement",
                     "select_commands_statement", "select_existing_statement", "select_max_id_statement",
                     "insert_checkpoint_statement", "select_checkpoint_statement", "select_chain_statement"):
            setattr(self, name, rendered(getattr(self, name)))

    def create_table(self) -> None:
        """Create the tables, one process at a time.

        Processes that start together (projector processes, a venue and its tools) would otherwise run the
        same `CREATE ... IF NOT EXISTS` statements concurrently, which PostgreSQL can refuse ("tuple
        concurrently updated", a duplicate type). A session advisory lock, taken on a connection of its
        own outside the pool, serializes them; the second process then finds everything in place.
        """
        key = f"tradex:create:{self.datastore.schema}.{self.events_table_name}"
        kwargs = self.datastore.pool.kwargs
        connect_kwargs = (kwargs() if callable(kwargs) else kwargs) or {}
        with psycopg.connect(**connect_kwargs, autocommit=True) as lock_conn:
            lock_conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            try:
                super().create_table()
            finally:
                lock_conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    def _fetch_ids_after_insert_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent],
                                       **kwargs: Any) -> Sequence[int] | None:
        rows = curs.fetchall()
        if len(rows) != len(stored_events):
            raise ProgrammingError(f"got {len(rows)} notification ids for {len(stored_events)} events")
        by_key = {(str(row["originator_id"]), row["originator_version"]): row["notification_id"] for row in rows}
        ordered = sorted(((by_key[(str(e.originator_id), e.originator_version)], e) for e in stored_events),
                         key=lambda pair: pair[0])
        curs.execute(self.select_last_hash_statement, prepare=True)
        last = curs.fetchone()
        previous = bytes(last["hash"]) if last else GENESIS
        ids: list[int] = []
        hashes: list[bytes] = []
        for notification_id, event in ordered:
            previous = event_hash(previous, notification_id, event.originator_id, event.originator_version,
                                  event.topic, event.state)
            ids.append(notification_id)
            hashes.append(previous)
        curs.execute(self.insert_chain_statement, (ids, hashes), prepare=True)
        self._insert_commands(curs, commands_of(kwargs), ids[-1])
        self._insert_checkpoints(curs, checkpoints_of(kwargs))
        return [by_key[(str(e.originator_id), e.originator_version)] for e in stored_events]

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        commands = commands_of(kwargs)
        if commands and not stored_events:  # commands that changed nothing: the position is the head's
            curs.execute(self.select_max_id_statement)
            head = curs.fetchone()
            self._insert_commands(curs, commands, int(head["last_id"] or 0) if head else 0)

    def _insert_commands(self, curs: Cursor[DictRow], commands: Sequence[HandledCommand], position: int) -> None:
        if commands:
            curs.execute(self.insert_commands_statement, (
                position, [c.command_id for c in commands], [c.kind for c in commands],
                [c.digest for c in commands], [encode_result(c.result).decode() for c in commands]))

    def _insert_checkpoints(self, curs: Cursor[DictRow], checkpoints: Sequence[EngineCheckpoint]) -> None:
        for checkpoint in checkpoints:
            curs.execute(self.insert_checkpoint_statement,
                         (checkpoint.symbol, checkpoint.last_seq, checkpoint.market_version, checkpoint.book))

    def select_engine_checkpoint(self, symbol: str) -> EngineCheckpoint | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:  # autocommit: one round trip
            curs.execute(self.select_checkpoint_statement, (symbol,))
            row = curs.fetchone()
        if row is None:
            return None
        return EngineCheckpoint(row["symbol"], int(row["last_seq"]), int(row["market_version"]), bytes(row["book"]))

    def select_commands(self, command_ids: Sequence[str]) -> dict[str, HandledCommand]:
        """The recorded commands among `command_ids`, in one query."""
        if not command_ids:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:  # autocommit: one round trip
            curs.execute(self.select_commands_statement, (list(command_ids),))
            rows = curs.fetchall()
        return {row["command_id"]: HandledCommand(row["command_id"], row["kind"], row["digest"],
                                                  decode_result(row["result"]), int(row["log_position"]))
                for row in rows}

    def select_existing(self, originator_ids: Sequence[UUID]) -> set[UUID]:
        """Those of `originator_ids` that have events, in one query."""
        if not originator_ids:
            return set()
        with self.datastore.get_connection() as conn, conn.cursor() as curs:  # autocommit: one round trip
            curs.execute(self.select_existing_statement, (list(originator_ids),))
            rows = curs.fetchall()
        return {UUID(str(row["originator_id"])) for row in rows}

    def chain_rows(self, after: int = 0, page: int = 10_000) -> Iterator[ChainRow]:
        """Every stored event with its recorded hash (None if missing), in notification order."""
        while True:
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(self.select_chain_statement, (after, page), prepare=True)
                rows = curs.fetchall()
            for row in rows:
                yield (row["notification_id"], row["originator_id"], row["originator_version"], row["topic"],
                       bytes(row["state"]), bytes(row["hash"]) if row["hash"] is not None else None)
            if len(rows) < page:
                return
            after = rows[-1]["notification_id"]


@dataclass(frozen=True)
class ChainReport:
    events_checked: int
    first_broken_notification_id: int | None  # None when the whole chain verifies
    head_hash: bytes

    @property
    def intact(self) -> bool:
        return self.first_broken_notification_id is None


def verify_chain(recorder: HashChainedRecorder) -> ChainReport:
    previous, checked = GENESIS, 0
    for notification_id, originator_id, version, topic, state, recorded in recorder.chain_rows():
        expected = event_hash(previous, notification_id, originator_id, version, topic, state)
        if recorded != expected:
            return ChainReport(checked, notification_id, previous)
        previous, checked = expected, checked + 1
    return ChainReport(checked, None, previous)
