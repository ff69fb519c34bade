"""A market's matching record: the engine's input, batch by batch, so the book can be rebuilt and checked.

Each `BatchMatched` holds the engine commands of one micro-batch (opaque integer rows, in sequence),
a digest of the engine events they produced, and which orders opened and closed. Replaying every
batch's commands through a fresh engine must reproduce each digest; the venue refuses to start if not.

The rows are stored packed (class_version 2): `rows` is the base64 text of `row_count` x `row_width`
signed 64-bit little-endian integers, row after row. Version 1 stored them as a JSON list of lists,
which cost more to encode than the rest of the batch's events together; `upcast_v1_v2` reads it.
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.base import LedgerAggregate
from domain.checks import require
from domain.ids import market_id


class Market(LedgerAggregate):
    TOPIC = "tradex.Market"

    @staticmethod
    def create_id(symbol: str) -> UUID:
        return market_id(symbol)

    @dataclass(frozen=True)
    class Created(LedgerAggregate.Event, Aggregate.Created):
        TOPIC = "tradex.Market.Opened"
        symbol: str

    @dataclass(frozen=True)
    class BatchMatched(LedgerAggregate.Event):
        TOPIC = "tradex.Market.BatchMatched"
        class_version = 2
        first_seq: int
        row_count: int
        row_width: int
        rows: str  # pack_rows(...)
        events_digest: str
        trades: int
        opened: tuple[tuple[int, int], ...]  # (order id, account id) of orders left open or waiting
        closed: tuple[int, ...]  # order ids no longer open (filled, cancelled, expired)
        next_order_id: int  # every new order uses up an id, even one the engine rejects

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            commands = state.pop("commands")
            state["row_count"] = len(commands)
            state["row_width"] = len(commands[0]) if commands else 0
            state["rows"] = pack_rows(commands)

        def row_tuples(self) -> list[tuple[int, ...]]:
            return unpack_rows(self.rows, self.row_width)

        def apply(self, aggregate: Any) -> None:
            aggregate.last_seq = self.first_seq + self.row_count - 1
            aggregate.trades += self.trades
            aggregate.next_order_id = self.next_order_id
            live = aggregate.live
            for order_id, account_id in self.opened:
                live[str(order_id)] = account_id
            for order_id in self.closed:
                live.pop(str(order_id), None)

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.last_seq = 0
        self.next_order_id = 1
        self.trades = 0
        self.live: dict[str, int] = {}  # open order id (as str: JSON keys) -> account id

    def record_batch(self, first_seq: int, row_count: int, row_width: int, rows: str, events_digest: str,
                     trades: int, opened: tuple[tuple[int, int], ...], closed: tuple[int, ...],
                     next_order_id: int) -> None:
        """Record one batch; `rows` is `pack_rows` of the engine rows (or the same bytes packed otherwise)."""
        require(first_seq == self.last_seq + 1 and row_count > 0 and row_width > 0,
                "batches follow each other without gaps")
        require(len(base64.b64decode(rows, validate=True)) == 8 * row_count * row_width, "rows match their count")
        require(next_order_id >= self.next_order_id, "order ids never go back")
        self._trigger(self.BatchMatched, first_seq=first_seq, row_count=row_count, row_width=row_width,
                           rows=rows, events_digest=events_digest, trades=trades, opened=opened, closed=closed,
                           next_order_id=next_order_id)


def pack_rows(rows: Iterable[Sequence[int]]) -> str:
    """Integer rows as base64 of signed 64-bit little-endian values, row after row."""
    values = array("q", [value for row in rows for value in row])
    if sys.byteorder != "little":
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def unpack_rows(text: str, width: int) -> list[tuple[int, ...]]:
    values = array("q", base64.b64decode(text, validate=True))
    if sys.byteorder != "little":
        values.byteswap()
    return [tuple(values[start:start + width]) for start in range(0, len(values), width)]
