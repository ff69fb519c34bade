"""A market's matching record: the engine's input, batch by batch, so the book can be rebuilt and checked.

Each `BatchMatched` holds the engine commands of one micro-batch (opaque integer rows, in sequence),
a digest of the engine events they produced, and which orders opened and closed. Replaying every
batch's commands through a fresh engine must reproduce each digest; the venue refuses to start if not.
"""

from __future__ import annotations

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
        first_seq: int
        commands: tuple[tuple[int, ...], ...]
        events_digest: str
        trades: int
        opened: tuple[tuple[int, int], ...]  # (order id, account id) of orders left open or waiting
        closed: tuple[int, ...]  # order ids no longer open (filled, cancelled, expired)
        next_order_id: int  # every new order uses up an id, even one the engine rejects

        def apply(self, aggregate: Any) -> None:
            aggregate.last_seq = self.first_seq + len(self.commands) - 1
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

    def record_batch(self, first_seq: int, commands: tuple[tuple[int, ...], ...], events_digest: str, trades: int,
                     opened: tuple[tuple[int, int], ...], closed: tuple[int, ...], next_order_id: int) -> None:
        require(first_seq == self.last_seq + 1 and len(commands) > 0, "batches follow each other without gaps")
        require(next_order_id >= self.next_order_id, "order ids never go back")
        self.trigger_event(self.BatchMatched, first_seq=first_seq, commands=commands, events_digest=events_digest,
                           trades=trades, opened=opened, closed=closed, next_order_id=next_order_id)
