"""The orders projection: every order's current state and full history, its fills, and the trades.

Tables (in the projection's generation schema, exposed as `rm.<table>`):

- `orders`, one row per order: its terms, current status, price (after amends), open and filled qty,
  fees, last reason, version, its aggregate id, where in the log it was placed and last changed. Key
  `(symbol, order_id)`; index `(account_id, symbol)`.
- `order_events`, one row per order event: its type, the order's status, price and open/filled qty
  right after it, the event's own qty, reason, log position, time and causing command. Key
  `(symbol, order_id, version)`.
- `fills`, one row per fill of an order: trade id, price, qty, fee, maker/taker, the order's account and
  side. Key `(account_id, position, seq)`.
- `trades`, one row per trade (its two fills): price, qty, notional, taker side, both accounts, orders
  and fees. Key `(symbol, trade_number)`.

An event's own qty (`order_events.qty_lots`): the ordered qty (placed), the filled qty (filled), the qty
removed (cancelled, expired, reduced), the new open qty (amended), else 0. A trade's notional is price x
qty x the instrument's tick_lot_value at that point of the log; its `position` is the later of its two
fill events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Final

import psycopg

from domain.order import Order
from projections.folds import INSTRUMENT_EVENTS, ORDER_EVENT_TYPES, ORDER_EVENTS, ORDER_UPDATES, Logged
from projections.order_store import ORDER_COLUMNS, PENDING_FILLS, OrderStates, PendingHalves
from projections.pg_projector import SPECS, PgProjector, SpecsKeeper
from projections.pg_tracking import Table
from projections.trade_pairing import FillHalf

ORDERS = Table("orders", ORDER_COLUMNS, ("symbol", "order_id"), (
    "CREATE INDEX {table}_account ON {table} (account_id, symbol)",
    # room on each page, so that an update (which never touches an indexed column) stays a HOT update
    "ALTER TABLE {table} SET (fillfactor = 70)",
))
ORDER_HISTORY = Table("order_events", (
    ("symbol", "text"), ("order_id", "int8"), ("version", "int4"), ("position", "int8 NOT NULL"),
    ("at_ns", "int8 NOT NULL"), ("command_id", "text NOT NULL"), ("event_type", "text NOT NULL"),
    ("status", "text NOT NULL"), ("price_ticks", "int8 NOT NULL"), ("leaves_qty_lots", "int8 NOT NULL"),
    ("filled_qty_lots", "int8 NOT NULL"), ("qty_lots", "int8 NOT NULL"), ("reason", "text NOT NULL"),
), ("symbol", "order_id", "version"))
FILLS = Table("fills", (
    ("account_id", "int8"), ("position", "int8"), ("seq", "int4"), ("symbol", "text NOT NULL"),
    ("order_id", "int8 NOT NULL"), ("trade_id", "text NOT NULL"), ("side", "text NOT NULL"),
    ("price_ticks", "int8 NOT NULL"), ("qty_lots", "int8 NOT NULL"), ("fee", "int8 NOT NULL"),
    ("liquidity", "text NOT NULL"), ("at_ns", "int8 NOT NULL"),
), ("account_id", "position", "seq"))
TRADES = Table("trades", (
    ("symbol", "text"), ("trade_number", "int8"), ("trade_id", "text NOT NULL"), ("at_ns", "int8 NOT NULL"),
    ("position", "int8 NOT NULL"), ("price_ticks", "int8 NOT NULL"), ("qty_lots", "int8 NOT NULL"),
    ("notional", "int8 NOT NULL"), ("taker_side", "text NOT NULL"), ("buy_account", "int8 NOT NULL"),
    ("sell_account", "int8 NOT NULL"), ("buy_order_id", "int8 NOT NULL"), ("sell_order_id", "int8 NOT NULL"),
    ("buy_fee", "int8 NOT NULL"), ("sell_fee", "int8 NOT NULL"),
), ("symbol", "trade_number"))


def event_qty(event: Any) -> int:
    """The event's own quantity, as `order_events.qty_lots` defines it."""
    kind = type(event)
    if kind is Order.Created:
        return int(event.terms["qty_lots"])
    if kind is Order.FillsRecorded:
        return sum(fill.qty_lots for fill in event.fills)
    if kind is Order.Amended:
        return int(event.leaves_qty_lots)
    if kind in _REMOVING:
        return int(event.qty_lots)
    return 0


_REMOVING: Final = frozenset({Order.Reduced, Order.Cancelled, Order.Expired})
_INSTRUMENT: Final = frozenset(INSTRUMENT_EVENTS)


class OrdersProjector(PgProjector):
    name: ClassVar[str] = "orders"
    event_classes: ClassVar[tuple[type, ...]] = (*ORDER_EVENTS, *INSTRUMENT_EVENTS)
    tables: ClassVar[tuple[Table, ...]] = (ORDERS, ORDER_HISTORY, FILLS, TRADES, PENDING_FILLS, SPECS)
    public: ClassVar[tuple[str, ...]] = ("orders", "order_events", "fills", "trades")

    def __init__(self) -> None:
        super().__init__()
        self.states = OrderStates(ORDERS)
        self.specs = SpecsKeeper()
        self.pending = PendingHalves()

    def reset(self) -> None:
        super().reset()
        self.states.reset()

    def load(self, cur: psycopg.Cursor[Any]) -> None:
        self.states.load(cur)
        self.specs.load(cur)
        self.pending.load(cur)

    def apply(self, cur: psycopg.Cursor[Any], batch: Sequence[Logged]) -> None:
        states, pairer, book = self.states, self.pending.pairer, self.specs.book
        history: list[tuple[Any, ...]] = []
        fills: list[tuple[Any, ...]] = []
        trades: list[tuple[Any, ...]] = []
        for position, event in batch:
            kind = type(event)
            if kind is Order.Created:
                state = states.placed(event, position)
            elif kind in ORDER_UPDATES:
                state = states.update(event, position)
                if kind is Order.FillsRecorded:
                    for seq, fill in enumerate(event.fills):
                        half = FillHalf.of(state, fill, event.at_ns, position, seq)
                        fills.append((half.account_id, position, seq, half.symbol, half.order_id, half.trade_id,
                                      half.side, half.price_ticks, half.qty_lots, half.fee, half.liquidity,
                                      half.at_ns))
                        trade = pairer.add(half, book.tick_lot_value(half.symbol))
                        if trade is not None:
                            trades.append((trade.symbol, trade.number, trade.trade_id, trade.at_ns, trade.position,
                                           trade.price_ticks, trade.qty_lots, trade.notional, trade.taker_side,
                                           trade.buy_account, trade.sell_account, trade.buy_order_id,
                                           trade.sell_order_id, trade.buy_fee, trade.sell_fee))
            elif kind in _INSTRUMENT:
                self.specs.apply(cur, event, position)
                continue
            else:
                continue
            history.append((state.symbol, state.order_id, event.originator_version, position, event.at_ns,
                            event.command_id, ORDER_EVENT_TYPES[kind], state.status, state.price_ticks,
                            state.leaves_qty_lots, state.filled_qty_lots, event_qty(event),
                            getattr(event, "reason", "")))
        ORDER_HISTORY.copy(cur, history)
        if fills:
            FILLS.copy(cur, fills)
        if trades:
            TRADES.copy(cur, trades)
        states.flush(cur)
        self.pending.flush(cur)
