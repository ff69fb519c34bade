"""The ClickHouse projection: ledger events to the analytics tables of `projections.clickhouse_store`.

Rows per event (every row carries the event's log position):

- each order event: one `order_events` row (a FillsRecorded event: one row per fill, `seq` = the fill's
  index, with the open qty after that fill); `price_ticks` is the fill price for fills and the order's
  limit price after the event otherwise;
- each trade (its two fills, `projections.trade_pairing`): one `trades` row, whose `position` is the
  trade's number in its market;
- each posting: one `postings` row, from the paying leg of `Wallet.EntriesPosted` (the leg with the
  negative amount; the other leg is the same posting seen from the payee). `symbol` is the market of the
  trade a trade or fee posting belongs to (its id starts with the trade id), else "";
- each position event: one `position_snapshots` row with the position's state after it (an opened
  position: all zeros).

Resuming without transactions. After each batch the runner records a position (`record_position`)
up to which everything is durable. State the projector needs across batches is read back as of that
position when it starts (`load_state`): open orders from `order_events`, positions from
`position_snapshots` (both with FINAL, and counting an aggregate's distinct positions to get its
version), and the small reference state (instrument specs, wallet owners) by replaying those few
events from the log. A trade half still waiting for its partner is not durable: the recorded position
stops just before the oldest such half (`safe_position`), so a restart reads it again. Everything
between the recorded position and a crash is written again; those rows have the same keys (and, cut
the same way, the same insert deduplication tokens), so nothing is counted twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from clickhouse_connect.driver.client import Client

from domain.ids import order_uuid, position_id
from domain.order import Order
from domain.position import Position
from domain.wallet import Wallet
from projections import clickhouse_store as store
from projections.folds import (
    INSTRUMENT_EVENTS,
    ORDER_EVENT_TYPES,
    ORDER_EVENTS,
    ORDER_UPDATES,
    POSITION_EVENTS,
    WALLET_EVENTS,
    Logged,
    OrderState,
    PositionState,
    ProjectionError,
    SpecBook,
    topics_of,
)
from projections.pg_orders import event_qty
from projections.pg_tracking import ProjectionTimeout
from projections.trade_pairing import FillHalf, TradePairer

NAME: Final = "clickhouse"
_INSTRUMENT: Final = frozenset(INSTRUMENT_EVENTS)
_TRADE_KINDS: Final = frozenset({"trade", "fee"})


Row = tuple[Any, ...]  # values in the table's column order (= the fields of its row type in clickhouse_store)


@dataclass
class Rows:
    """The rows one batch yields, per table, as tuples (TradeRow, OrderEventRow, PostingRow and
    PositionSnapshotRow field order): an object per row cost more than the rest of building it."""

    trades: list[Row] = field(default_factory=list)
    order_events: list[Row] = field(default_factory=list)
    postings: list[Row] = field(default_factory=list)
    snapshots: list[Row] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.trades) + len(self.order_events) + len(self.postings) + len(self.snapshots)


class ClickHouseProjector:
    """Folds ledger events into analytics rows; `write` inserts one batch's rows into ClickHouse."""

    name: Final = NAME
    event_classes: Final = (*ORDER_EVENTS, *INSTRUMENT_EVENTS, *WALLET_EVENTS[:2], *POSITION_EVENTS)
    # Replayed from the log at start (up to the resume position) to rebuild the small reference state.
    reference_classes: Final = (*INSTRUMENT_EVENTS, Wallet.Created)

    def __init__(self) -> None:
        # keyed by the aggregate id's int (hashed in C; a UUID's hash runs in Python)
        self.orders: dict[int, OrderState] = {}
        self.positions: dict[int, PositionState] = {}
        self.accounts: dict[int, int] = {}
        self.book = SpecBook()
        self.pairer = TradePairer()
        # (symbol, log position, tick_lot_value) of every listing and change seen: the spec in force at a
        # position is the last one before it (the SQL projection's trades read it)
        self.spec_history: list[tuple[str, int, int]] = []

    def clear(self) -> None:
        self.orders, self.positions, self.accounts = {}, {}, {}
        self.book, self.pairer, self.spec_history = SpecBook(), TradePairer(), []

    @property
    def topics(self) -> frozenset[str]:
        return topics_of(*self.event_classes)

    @property
    def reference_topics(self) -> frozenset[str]:
        return topics_of(*self.reference_classes)

    # ---- state ---------------------------------------------------------------------------------
    def learn(self, event: Any, position: int) -> None:
        """Fold a reference event (instrument spec, wallet owner) without writing anything."""
        if type(event) is Wallet.Created:
            self.accounts[event.originator_id.int] = event.account_id
        else:
            spec = self.book.apply(event)
            if spec is not None:
                self.spec_history.append((spec.symbol, position, spec.tick_lot_value))

    def load_state(self, client: Client, position: int, reference: Iterable[Logged],
                   orders: bool = True) -> None:
        """The state as of log position `position`: reference events replayed, the rest read back
        (open orders only if `orders`: the SQL projection keeps its own)."""
        self.clear()
        for at, event in reference:
            self.learn(event, at)
        if orders:
            self.orders = {state.order_uuid.int: state for state in open_orders(client, position)}
        self.positions = {state.position_uuid.int: state for state in latest_positions(client, position)}

    def safe_position(self, batch_end: int) -> int:
        """The position a restart may resume from: before the oldest trade half still waiting."""
        waiting = [half.position for half in self.pairer.pending.values()]
        return min(batch_end, min(waiting) - 1) if waiting else batch_end

    # ---- rows ----------------------------------------------------------------------------------
    def rows(self, batch: Sequence[Logged]) -> Rows:
        out = Rows()
        for position, event in batch:
            kind = type(event)
            if kind is Order.Created or kind in ORDER_UPDATES:
                self._order_event(out, position, event, kind)
            elif kind is Wallet.EntriesPosted:
                self._postings(out, position, event)
            elif kind is Position.FillsApplied or kind is Position.Created:
                self._position_event(out, position, event, kind)
            elif kind in _INSTRUMENT or kind is Wallet.Created:
                self.learn(event, position)
        return out

    def _order_event(self, out: Rows, position: int, event: Any, kind: type) -> None:
        if kind is Order.Created:
            if event.originator_id.int in self.orders:
                raise ProjectionError(f"order {event.originator_id} placed twice")
            state = OrderState.placed(event, position)
            self.orders[state.order_uuid.int] = state
        else:
            found = self.orders.get(event.originator_id.int)
            if found is None:
                raise ProjectionError(f"{kind.__name__} at {position} for an unknown or closed order")
            state = found
            leaves_before = state.leaves_qty_lots
            state.apply(event, position)
        terms, at_ns = state.terms, event.at_ns
        symbol, account, order_id = state.symbol, state.account_id, state.order_id
        side, order_type = terms["side"], terms["order_type"]
        if kind is Order.FillsRecorded:
            leaves = leaves_before
            for seq, fill in enumerate(event.fills):
                leaves -= fill.qty_lots
                out.order_events.append((
                    position, seq, at_ns, symbol, account, order_id, "filled", side, order_type, fill.price_ticks,
                    fill.qty_lots, leaves, fill.fee, fill.liquidity, fill.trade_id, ""))
                trade = self.pairer.add(FillHalf.of(state, fill, at_ns, position, seq),
                                        self.book.tick_lot_value(symbol))
                if trade is not None:
                    out.trades.append((trade.number, trade.trade_id, trade.symbol, trade.at_ns, trade.price_ticks,
                                       trade.qty_lots, trade.notional, trade.taker_side, trade.buy_account,
                                       trade.sell_account, trade.buy_order_id, trade.sell_order_id))
        else:
            out.order_events.append((
                position, 0, at_ns, symbol, account, order_id, ORDER_EVENT_TYPES[kind], side, order_type,
                state.price_ticks, event_qty(event), state.leaves_qty_lots, 0, "", "", getattr(event, "reason", "")))
        if not state.is_live:
            del self.orders[state.order_uuid.int]

    def _postings(self, out: Rows, position: int, event: Any) -> None:
        account = self.accounts.get(event.originator_id.int)
        if account is None:
            raise ProjectionError(f"entries at {position} for a wallet never opened: {event.originator_id}")
        specs = self.book.specs
        for seq, entry in enumerate(event.entries):
            if entry.amount >= 0:
                continue  # the receiving leg: the posting is recorded once, from its paying leg
            symbol = ""
            if entry.kind in _TRADE_KINDS:
                prefix = entry.posting_id.split(":", 1)[0]
                symbol = prefix if prefix in specs else ""
            out.postings.append((position, seq, event.at_ns, entry.posting_id, entry.asset, -entry.amount, account,
                                 entry.counterparty, entry.kind, symbol))

    def _position_event(self, out: Rows, position: int, event: Any, kind: type) -> None:
        if kind is Position.Created:
            if event.originator_id.int in self.positions:
                raise ProjectionError(f"position {event.account_id}/{event.symbol} opened twice")
            state = PositionState(event.originator_id, event.account_id, event.symbol, event.tick_lot_value)
            self.positions[state.position_uuid.int] = state
        else:
            found = self.positions.get(event.originator_id.int)
            if found is None:
                raise ProjectionError(f"fills at {position} for a position never opened: {event.originator_id}")
            state = found
            state.apply(event, position)
        out.snapshots.append((position, event.at_ns, state.account_id, state.symbol, state.net_qty_lots,
                              state.open_cost, state.realized_pnl, state.fees_paid, state.bought_lots, state.sold_lots,
                              state.tick_lot_value))


def wait_for_position(client: Client, position: int, timeout_s: float, poll_s: float = 0.05) -> int:
    """Block until the ClickHouse projection has recorded `position` (read-your-writes); return where it is.

    Raises ProjectionTimeout after `timeout_s`, saying where the projection is.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        reached = store.tracked_position(client, NAME)
        if reached >= position:
            return reached
        if time.monotonic() >= deadline:
            raise ProjectionTimeout(f"the ClickHouse projection did not reach log position {position} within "
                                    f"{timeout_s:g} s: it is at {reached}")
        time.sleep(poll_s)


def write(client: Client, rows: Rows) -> None:
    """Insert one batch's rows, table by table (each insert is idempotent: see clickhouse_store)."""
    store.insert_tuples(client, store.TRADES, rows.trades)
    store.insert_tuples(client, store.ORDER_EVENTS, rows.order_events)
    store.insert_tuples(client, store.POSTINGS, rows.postings)
    store.insert_tuples(client, store.POSITION_SNAPSHOTS, rows.snapshots)


# ---- reading the state back -------------------------------------------------------------------------

_OPEN_ORDERS = """
SELECT symbol AS o_symbol, order_id AS o_order_id, any(account) AS o_account, any(side) AS o_side,
       any(order_type) AS o_order_type,
       argMaxIf(qty_lots, (position, seq), event_type = 'placed') AS o_ordered_lots,
       argMaxIf(price_ticks, (position, seq), event_type != 'filled') AS o_price_ticks,
       argMax(leaves_qty_lots, (position, seq)) AS o_leaves_qty_lots,
       sumIf(toInt128(qty_lots), event_type = 'filled') AS o_filled_qty_lots,
       sumIf(toInt128(price_ticks) * qty_lots, event_type = 'filled') AS o_filled_notional,
       sumIf(toInt128(fee), event_type = 'filled') AS o_fees_paid,
       countIf(event_type = 'triggered') > 0 AS o_triggered,
       uniqExact(position) AS o_version,
       minIf(position, event_type = 'placed') AS o_placed_position,
       minIf(ts_ns, event_type = 'placed') AS o_placed_at_ns,
       max(position) AS o_last_position,
       argMax(ts_ns, (position, seq)) AS o_updated_at_ns,
       argMaxIf(reason, (position, seq), reason != '') AS o_reason
FROM order_events FINAL
WHERE position <= {position:Int64}
GROUP BY symbol, order_id
HAVING o_leaves_qty_lots > 0"""


def open_orders(client: Client, position: int) -> list[OrderState]:
    """The orders open at log position `position`, as far as the projector's fold needs them.

    Exact for what the rows carry (open and filled qty, price, version); the status is "accepted" or
    "partially_filled" by the filled qty, which is all the fold reads of it (whether the order is open).
    """
    result = client.query(_OPEN_ORDERS, parameters={"position": position})
    states = []
    for row in result.named_results():
        o = {name[2:]: value for name, value in row.items()}
        terms = {"symbol": o["symbol"], "order_id": int(o["order_id"]), "account_id": int(o["account"]),
                 "side": o["side"], "order_type": o["order_type"], "qty_lots": int(o["ordered_lots"]),
                 "price_ticks": int(o["price_ticks"])}
        state = OrderState(order_uuid(o["symbol"], int(o["order_id"])), terms, "accepted", o["reason"])
        state.price_ticks = int(o["price_ticks"])
        state.leaves_qty_lots = int(o["leaves_qty_lots"])
        state.filled_qty_lots = int(o["filled_qty_lots"])
        state.filled_notional_ticks_lots = int(o["filled_notional"])
        state.fees_paid = int(o["fees_paid"])
        state.triggered = bool(o["triggered"])
        state.status = "partially_filled" if state.filled_qty_lots else "accepted"
        state.version = int(o["version"])
        state.placed_position, state.placed_at_ns = int(o["placed_position"]), int(o["placed_at_ns"])
        state.last_position, state.updated_at_ns = int(o["last_position"]), int(o["updated_at_ns"])
        states.append(state)
    return states


_LATEST_POSITIONS = """
SELECT account AS p_account, symbol AS p_symbol,
       argMax(net_qty_lots, position) AS p_net_qty_lots, argMax(open_cost, position) AS p_open_cost,
       argMax(realized_pnl, position) AS p_realized_pnl, argMax(fees_paid, position) AS p_fees_paid,
       argMax(bought_lots, position) AS p_bought_lots, argMax(sold_lots, position) AS p_sold_lots,
       argMax(tick_lot_value, position) AS p_tick_lot_value, uniqExact(position) AS p_version,
       max(position) AS p_last_position, argMax(ts_ns, position) AS p_updated_at_ns
FROM position_snapshots FINAL
WHERE position <= {position:Int64}
GROUP BY account, symbol"""


def latest_positions(client: Client, position: int) -> list[PositionState]:
    """Every position's state at log position `position` (its version = its snapshots, one per event)."""
    states = []
    for row in client.query(_LATEST_POSITIONS, parameters={"position": position}).named_results():
        p = {name[2:]: value for name, value in row.items()}
        account, symbol = int(p["account"]), str(p["symbol"])
        state = PositionState(position_id(account, symbol), account, symbol, int(p["tick_lot_value"]))
        state.net_qty_lots, state.open_cost = int(p["net_qty_lots"]), int(p["open_cost"])
        state.realized_pnl, state.fees_paid = int(p["realized_pnl"]), int(p["fees_paid"])
        state.bought_lots, state.sold_lots = int(p["bought_lots"]), int(p["sold_lots"])
        state.version, state.last_position = int(p["version"]), int(p["last_position"])
        state.updated_at_ns = int(p["updated_at_ns"])
        states.append(state)
    return states
