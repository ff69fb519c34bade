"""What the ledger's event store keeps besides the events, written in the events' transaction.

## The command log: each client command id is handled once

A handled command is written to the event store's command table (`<events table>_commands`) in the
SAME transaction as the events it caused: its id (the primary key), its kind, a digest of its body, its
result, and the log position of that transaction (the last notification id it wrote). So

- a command's effects and its record commit together or not at all;
- two writers handling one id cannot both commit: the second transaction fails on the key and stores
  nothing (eventsourcing's IntegrityError);
- a repeated id with the same body gets the recorded result and position back; with a different body it
  is a conflict.

The events themselves carry the causing command id too (domain.base), so the log alone still says which
command caused what; the table is the index that answers "was this id handled?" in one lookup, without
an aggregate (and an event) per command.

## Engine checkpoints: restart from a snapshot plus the tail

Every so often the venue stores a copy of a market's book (`EngineCheckpoint`: the engine's snapshot
arrays, compressed) in `<events table>_engine_checkpoints`, in the transaction of the batch it follows.
A restart restores the newest checkpoint and replays only the market's later batches, checking each
against its recorded digest; without a checkpoint it replays every batch. A checkpoint is derived data:
deleting them all only makes the next start slower.

Recorders implement both through eventsourcing's save kwargs: `Application.save(*aggregates, commands=[...])`
reaches `recorder.insert_events(stored_events, commands=[...])`. The PostgreSQL recorders are in
infra/chained_recorder.py and infra/fast_recorder.py; `MemoryLedgerRecorder` below is the in-memory
one (eventsourcing's POPO store), for tests and runs without a server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import orjson
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder


@dataclass(frozen=True)
class HandledCommand:
    command_id: str
    kind: str
    digest: str  # hex sha256 of the canonical body (body_digest)
    result: dict[str, Any]
    log_position: int = 0  # set by the recorder: the last notification id of the transaction


def body_digest(kind: str, body: dict[str, Any]) -> str:
    """sha256 of the command's kind and body as canonical JSON (sorted keys, no spaces, UTF-8)."""
    canonical = orjson.dumps({"kind": kind, "body": body}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def encode_result(result: dict[str, Any]) -> bytes:
    return orjson.dumps(result)


def decode_result(data: bytes | str) -> dict[str, Any]:
    decoded: Any = orjson.loads(data)
    if not isinstance(decoded, dict):
        raise ValueError("a command result is a JSON object")
    return decoded


@dataclass(frozen=True)
class EngineCheckpoint:
    symbol: str
    last_seq: int  # the last engine command applied to the book
    market_version: int  # the version of the market aggregate whose BatchMatched ended at last_seq
    book: bytes  # engine.BookSnapshot.to_bytes()


def checkpoints_of(kwargs: dict[str, Any]) -> Sequence[EngineCheckpoint]:
    checkpoints: Sequence[EngineCheckpoint] = kwargs.get("engine_checkpoints", ())
    return checkpoints


def commands_of(kwargs: dict[str, Any]) -> Sequence[HandledCommand]:
    """The handled commands passed to `insert_events`, checked for ids repeated within the save."""
    commands: Sequence[HandledCommand] = kwargs.get("commands", ())
    if len({command.command_id for command in commands}) != len(commands):
        raise IntegrityError("a command id appears twice in one save")
    return commands


@runtime_checkable
class LedgerRecorder(Protocol):
    def select_commands(self, command_ids: Sequence[str]) -> dict[str, HandledCommand]:
        """The handled commands among `command_ids` (unknown ids are left out)."""
        ...

    def select_existing(self, originator_ids: Sequence[UUID]) -> set[UUID]:
        """Those of `originator_ids` that have events (one query: for warming a writer's cache)."""
        ...

    def select_engine_checkpoint(self, symbol: str) -> EngineCheckpoint | None:
        """The newest engine checkpoint of a market, if any."""
        ...


class MemoryLedgerRecorder(POPOApplicationRecorder):
    """eventsourcing's in-memory application recorder plus the command table, under the same lock."""

    def __init__(self) -> None:
        super().__init__()
        self._commands: dict[str, HandledCommand] = {}
        self._checkpoints: dict[str, EngineCheckpoint] = {}

    def _insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        commands = commands_of(kwargs)
        with self._database_lock:
            for command in commands:
                if command.command_id in self._commands:
                    raise IntegrityError(f"command {command.command_id} was recorded before")
            ids = super()._insert_events(stored_events, **kwargs)
            position = len(self._stored_events)
            for command in commands:
                self._commands[command.command_id] = replace(command, log_position=position)
            for checkpoint in checkpoints_of(kwargs):
                self._checkpoints[checkpoint.symbol] = checkpoint
            return ids

    def select_commands(self, command_ids: Sequence[str]) -> dict[str, HandledCommand]:
        with self._database_lock:
            return {command_id: self._commands[command_id] for command_id in command_ids
                    if command_id in self._commands}

    def select_engine_checkpoint(self, symbol: str) -> EngineCheckpoint | None:
        with self._database_lock:
            return self._checkpoints.get(symbol)

    def select_existing(self, originator_ids: Sequence[UUID]) -> set[UUID]:
        with self._database_lock:
            return {originator_id for originator_id in originator_ids
                    if self._stored_events_index.get(str(originator_id))}
