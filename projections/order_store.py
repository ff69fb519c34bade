"""Orders in a PostgreSQL table, as the orders and market-data projectors keep them.

`OrderStates` keeps the open orders of a table with the `ORDER_COLUMNS` in memory, folds their events,
and at the end of each batch writes the new ones with COPY and the changed ones with one upsert.

Pending trade halves (one order's fill whose partner is in the next batch) are persisted the same way,
in a `pending_fills` table, so a batch boundary inside a trade changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import psycopg

from projections.folds import LIVE_STATUSES, OrderState, ProjectionError
from projections.pg_tracking import Table
from projections.trade_pairing import FillHalf, TradePairer

ORDER_COLUMNS: Final = (
    ("order_uuid", "uuid NOT NULL"), ("symbol", "text"), ("order_id", "int8"),
    ("account_id", "int8 NOT NULL"), ("side", "text NOT NULL"), ("order_type", "text NOT NULL"),
    ("qty_lots", "int8 NOT NULL"), ("limit_price_ticks", "int8 NOT NULL"), ("price_ticks", "int8 NOT NULL"),
    ("trigger_price_ticks", "int8 NOT NULL"), ("tif", "text NOT NULL"), ("expire_at_ns", "int8 NOT NULL"),
    ("post_only", "bool NOT NULL"), ("display_qty_lots", "int8 NOT NULL"), ("stp", "text NOT NULL"),
    ("hold_asset", "text NOT NULL"), ("hold_per_lot", "int8 NOT NULL"), ("status", "text NOT NULL"),
    ("leaves_qty_lots", "int8 NOT NULL"), ("filled_qty_lots", "int8 NOT NULL"),
    ("filled_notional_ticks_lots", "int8 NOT NULL"), ("fees_paid", "int8 NOT NULL"),
    ("triggered", "bool NOT NULL"), ("reason", "text NOT NULL"), ("version", "int4 NOT NULL"),
    ("placed_position", "int8 NOT NULL"), ("placed_at_ns", "int8 NOT NULL"), ("last_position", "int8 NOT NULL"),
    ("updated_at_ns", "int8 NOT NULL"),
)
_TERMS: Final = ("symbol", "order_id", "account_id", "side", "order_type", "qty_lots", "price_ticks",
                 "trigger_price_ticks", "tif", "expire_at_ns", "post_only", "display_qty_lots", "stp", "hold_asset",
                 "hold_per_lot")

PENDING_FILLS = Table("pending_fills", (
    ("trade_id", "text"), ("symbol", "text NOT NULL"), ("order_id", "int8 NOT NULL"),
    ("account_id", "int8 NOT NULL"), ("side", "text NOT NULL"), ("price_ticks", "int8 NOT NULL"),
    ("qty_lots", "int8 NOT NULL"), ("fee", "int8 NOT NULL"), ("liquidity", "text NOT NULL"),
    ("at_ns", "int8 NOT NULL"), ("position", "int8 NOT NULL"), ("seq", "int4 NOT NULL"),
), ("trade_id",))


# What an event can change: written for orders that already have a row (the key first).
ORDER_CHANGES: Final = ("symbol", "order_id", "price_ticks", "hold_per_lot", "status", "leaves_qty_lots",
                        "filled_qty_lots", "filled_notional_ticks_lots", "fees_paid", "triggered", "reason", "version",
                        "last_position", "updated_at_ns")


def order_changes(state: OrderState) -> tuple[Any, ...]:
    return (state.symbol, state.order_id, state.price_ticks, state.hold_per_lot, state.status, state.leaves_qty_lots,
            state.filled_qty_lots, state.filled_notional_ticks_lots, state.fees_paid, state.triggered, state.reason,
            state.version, state.last_position, state.updated_at_ns)


def order_row(state: OrderState) -> tuple[Any, ...]:
    terms = state.terms
    return (state.order_uuid, terms["symbol"], terms["order_id"], terms["account_id"], terms["side"],
            terms["order_type"], terms["qty_lots"], terms["price_ticks"], state.price_ticks,
            terms["trigger_price_ticks"], terms["tif"], terms["expire_at_ns"], terms["post_only"],
            terms["display_qty_lots"], terms["stp"], terms["hold_asset"], state.hold_per_lot, state.status,
            state.leaves_qty_lots, state.filled_qty_lots, state.filled_notional_ticks_lots, state.fees_paid,
            state.triggered, state.reason, state.version, state.placed_position, state.placed_at_ns,
            state.last_position, state.updated_at_ns)


def state_from_row(row: Sequence[Any]) -> OrderState:
    values = dict(zip((name for name, _ in ORDER_COLUMNS), row, strict=True))
    terms = {name: values[name] for name in _TERMS if name != "price_ticks"}
    terms["price_ticks"] = values["limit_price_ticks"]
    state = OrderState(values["order_uuid"], terms, values["status"], values["reason"])
    state.price_ticks = values["price_ticks"]
    state.hold_per_lot = values["hold_per_lot"]
    state.leaves_qty_lots = values["leaves_qty_lots"]
    state.filled_qty_lots = values["filled_qty_lots"]
    state.filled_notional_ticks_lots = values["filled_notional_ticks_lots"]
    state.fees_paid = values["fees_paid"]
    state.triggered = values["triggered"]
    state.version = values["version"]
    state.placed_position = values["placed_position"]
    state.placed_at_ns = values["placed_at_ns"]
    state.last_position = values["last_position"]
    state.updated_at_ns = values["updated_at_ns"]
    return state


class OrderStates:
    """The open orders of an orders table, in memory: loaded once, folded per batch, written at its end.

    Only open orders can have more events (filled, cancelled, expired and rejected are final states), so
    the open ones, read once when the projector starts (`load`), are all a batch can refer to. Events
    of an order that is neither open nor placed in the batch fail the projection.
    """

    def __init__(self, table: Table) -> None:
        self.table = table
        # Keyed by the order id's int: hashing an int is done in C, a UUID's __hash__ in Python.
        self.cache: dict[int, OrderState] = {}  # the open orders
        self.stored: set[int] = set()  # those of the cache that already have a row in the table
        self.touched: dict[int, OrderState] = {}

    def reset(self) -> None:
        self.cache.clear()
        self.stored.clear()
        self.touched.clear()

    def load(self, cur: psycopg.Cursor[Any]) -> None:
        self.reset()
        names = ", ".join(name for name, _ in ORDER_COLUMNS)
        cur.execute(f"SELECT {names} FROM {self.table.name} WHERE status = ANY(%s)", (sorted(LIVE_STATUSES),))
        for row in cur.fetchall():
            state = state_from_row(row)
            self.cache[state.order_uuid.int] = state
            self.stored.add(state.order_uuid.int)

    def placed(self, event: Any, position: int) -> OrderState:
        key = event.originator_id.int
        if key in self.cache:
            raise ProjectionError(f"order {event.originator_id} placed twice")
        state = OrderState.placed(event, position)
        self.cache[key] = self.touched[key] = state
        return state

    def update(self, event: Any, position: int) -> OrderState:
        key = event.originator_id.int
        state = self.cache.get(key)
        if state is None:
            raise ProjectionError(f"{type(event).__name__} at {position} for an order that is not open "
                                  f"(never placed, or already closed): {event.originator_id}")
        state.apply(event, position)
        self.touched[key] = state
        return state

    def flush(self, cur: psycopg.Cursor[Any]) -> None:
        """Write the batch's touched orders (COPY the new ones, one narrow UPDATE for the others); forget the
        closed ones."""
        stored, cache = self.stored, self.cache
        inserts = [order_row(state) for key, state in self.touched.items() if key not in stored]
        updates = [order_changes(state) for key, state in self.touched.items() if key in stored]
        if inserts:
            self.table.copy(cur, inserts)
        self.table.update(cur, ORDER_CHANGES, updates)
        for uuid, state in self.touched.items():
            if state.is_live:
                stored.add(uuid)
            else:
                stored.discard(uuid)
                del cache[uuid]
        self.touched.clear()


class PendingHalves:
    """A TradePairer whose waiting halves are persisted in `pending_fills` at the end of each batch."""

    def __init__(self) -> None:
        self.pairer = TradePairer()
        self.stored: set[str] = set()

    def load(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute(f"SELECT {', '.join(PENDING_FILLS.column_names)} FROM pending_fills")
        self.pairer = TradePairer({row[0]: FillHalf(*row) for row in cur.fetchall()})
        self.stored = set(self.pairer.pending)

    def flush(self, cur: psycopg.Cursor[Any]) -> None:
        pending = self.pairer.pending
        PENDING_FILLS.delete(cur, [(trade_id,) for trade_id in self.stored - set(pending)])
        new = [half for trade_id, half in pending.items() if trade_id not in self.stored]
        if new:
            PENDING_FILLS.copy(cur, ((h.trade_id, h.symbol, h.order_id, h.account_id, h.side, h.price_ticks,
                                      h.qty_lots, h.fee, h.liquidity, h.at_ns, h.position, h.seq) for h in new))
        self.stored = set(pending)
