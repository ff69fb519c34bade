"""A PostgreSQL application recorder that chains every stored event to the one before it.

In the same transaction as the events (and under the same EXCLUSIVE table lock that makes commit order
equal notification order), each new event's hash is written to `<events table>_chain`:

    hash(n) = sha256(hash(previous event) || notification_id || originator_id || version || topic || 0 || state)

The first event links to 32 zero bytes. Altering, removing or reordering any stored event breaks every
hash after it, which `verify_chain` finds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

GENESIS = bytes(32)
ChainRow = tuple[int, UUID, int, str, bytes, bytes | None]  # id, originator, version, topic, state, hash


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
        self.insert_events_statement += SQL(", originator_id, originator_version")
        self.select_last_hash_statement = SQL(
            "SELECT hash FROM {schema}.{chain} ORDER BY notification_id DESC LIMIT 1"
        ).format(schema=schema, chain=chain)
        self.insert_chain_statement = SQL(
            "INSERT INTO {schema}.{chain} (notification_id, hash) SELECT * FROM unnest(%s::bigint[], %s::bytea[])"
        ).format(schema=schema, chain=chain)
        self.select_chain_statement = SQL(
            "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state, c.hash "
            "FROM {schema}.{events} e LEFT JOIN {schema}.{chain} c USING (notification_id) "
            "WHERE e.notification_id > %s ORDER BY e.notification_id LIMIT %s"
        ).format(schema=schema, chain=chain, events=Identifier(self.events_table_name))

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
        return [by_key[(str(e.originator_id), e.originator_version)] for e in stored_events]

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
