"""Positions per account and instrument: net qty, open cost, realized PnL and fees, in exact integers.

Rounding rule (the only place a division happens): when a fill reduces a position, the cost released
is floor(|open cost| x closed qty / |net qty|) quote minor units, with the sign of the open cost.
The fraction left over stays in the open cost, so when the position is flat again the realized PnL is
exactly the sum of the cash flows of its fills: rounding moves PnL between fills, never creates or
loses any. Realized PnL excludes fees, which are accumulated separately (net PnL = realized - fees).
The average entry price is exact: |open cost| / (|net qty| x tick_lot_value) ticks, as a Fraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.base import LedgerAggregate
from domain.checks import require
from domain.ids import position_id
from domain.values import Side


@dataclass(frozen=True)
class PositionFill:
    trade_id: str
    side: str  # Side value, from this account's point of view
    price_ticks: int
    qty_lots: int
    lot_value: int  # quote minor units of one lot at this price: price_ticks * tick_lot_value
    fee: int  # quote minor units


class Position(LedgerAggregate):
    TOPIC = "tradex.Position"

    @staticmethod
    def create_id(account_id: int, symbol: str, tick_lot_value: int) -> UUID:
        return position_id(account_id, symbol)

    @dataclass(frozen=True)
    class Created(LedgerAggregate.Event, Aggregate.Created):
        TOPIC = "tradex.Position.Opened"
        account_id: int
        symbol: str
        tick_lot_value: int

    @dataclass(frozen=True)
    class FillsApplied(LedgerAggregate.Event):
        TOPIC = "tradex.Position.FillsApplied"
        fills: tuple[PositionFill, ...]

        def apply(self, aggregate: Any) -> None:
            for fill in self.fills:
                aggregate._apply(fill)

    def __init__(self, account_id: int, symbol: str, tick_lot_value: int) -> None:
        self.account_id = account_id
        self.symbol = symbol
        self.tick_lot_value = tick_lot_value
        self.net_qty_lots = 0  # + long, - short
        self.open_cost = 0  # quote minor units; + for a long, - for a short
        self.realized_pnl = 0
        self.fees_paid = 0
        self.bought_lots = 0
        self.sold_lots = 0

    def average_entry_price_ticks(self) -> Fraction | None:
        if self.net_qty_lots == 0:
            return None
        return Fraction(abs(self.open_cost), abs(self.net_qty_lots) * self.tick_lot_value)

    def unrealized_pnl(self, mark_price_ticks: int) -> int:
        """PnL of the open qty at a mark price: exact, quote minor units."""
        return self.net_qty_lots * mark_price_ticks * self.tick_lot_value - self.open_cost

    def apply_fills(self, fills: tuple[PositionFill, ...]) -> None:
        require(len(fills) > 0, "no fills to apply")
        for fill in fills:
            require(fill.qty_lots > 0 and fill.price_ticks > 0 and fill.fee >= 0, "a fill is positive")
            require(fill.lot_value == fill.price_ticks * self.tick_lot_value, "lot value matches the price")
            Side(fill.side)
        self._trigger(self.FillsApplied, fills=fills)

    def _apply(self, fill: PositionFill) -> None:
        signed_qty = fill.qty_lots if fill.side == Side.BUY else -fill.qty_lots
        if fill.side == Side.BUY:
            self.bought_lots += fill.qty_lots
        else:
            self.sold_lots += fill.qty_lots
        self.fees_paid += fill.fee
        net = self.net_qty_lots
        if net == 0 or (net > 0) == (signed_qty > 0):
            self.net_qty_lots = net + signed_qty
            self.open_cost += signed_qty * fill.lot_value
            return
        closed = min(fill.qty_lots, abs(net))
        if closed == abs(net):
            released = self.open_cost
        else:
            released_magnitude = abs(self.open_cost) * closed // abs(net)
            released = released_magnitude if self.open_cost > 0 else -released_magnitude
        cash = closed * fill.lot_value
        # long closed by a sell: proceeds - cost; short closed by a buy: (-cost) - payment
        self.realized_pnl += cash - released if net > 0 else -released - cash
        self.open_cost -= released
        self.net_qty_lots = net + signed_qty
        opened = fill.qty_lots - closed
        if opened:
            self.open_cost = (opened if signed_qty > 0 else -opened) * fill.lot_value
