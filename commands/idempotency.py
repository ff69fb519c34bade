"""Command records: each client command id is handled once.

The record is saved in the same transaction as the command's events, under an id derived from the
command id, so two concurrent handlers of one id cannot both commit. A repeated id with the same body
returns the recorded result; with a different body it is a conflict.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import LedgerAggregate
from domain.ids import command_uuid


def body_digest(kind: str, body: dict[str, Any]) -> str:
    canonical = json.dumps({"kind": kind, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class CommandRecord(LedgerAggregate):
    TOPIC = "tradex.CommandRecord"

    @staticmethod
    def create_id(command_id: str, kind: str, digest: str, result: dict[str, Any]) -> UUID:
        return command_uuid(command_id)

    @dataclass(frozen=True)
    class Created(LedgerAggregate.Event, Aggregate.Created):
        TOPIC = "tradex.CommandRecord.Handled"
        command_id: str
        kind: str
        digest: str
        result: dict[str, Any]

    @event(Created)
    def __init__(self, command_id: str, kind: str, digest: str, result: dict[str, Any]) -> None:
        self.command_id = command_id
        self.kind = kind
        self.digest = digest
        self.result = result
