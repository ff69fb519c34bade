"""The positions projection: each account's position per instrument, and each instrument's last trade price.

Tables and views (exposed as `rm.<name>`):

- `positions`, one row per account and instrument: net qty (+ long, - short), open cost (signed,
  quote minor units), realized PnL, fees paid, lots bought and sold, tick_lot_value. Key
  `position_uuid`; unique `(account_id, symbol)`.
- `last_prices`, one row per instrument: the price of its last trade (the largest
  `(at_ns, position, seq)` among its fills). Key `symbol`.
- `positions_marked`, a view: each position marked at its instrument's last trade price, with the exact
  average entry price as a fraction (`avg_price_numerator` / `avg_price_denominator` ticks) and rounded
  to 12 places, `unrealized_pnl` = net x last price x tick_lot_value - open cost, and
  `net_pnl` = realized + unrealized - fees.

The fold is the domain's own (`Position.FillsApplied.apply`, with its rounding rule). Money is `numeric`
holding exact integers (quote minor units); quantities are `bigint` lots.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Final

import psycopg

from domain.position import Position
from projections.folds import POSITION_EVENTS, Logged, PositionState, ProjectionError
from projections.pg_projector import PgProjector
from projections.pg_tracking import Table

POSITIONS = Table("positions", (
    ("position_uuid", "uuid"), ("account_id", "int8 NOT NULL"), ("symbol", "text NOT NULL"),
    ("tick_lot_value", "int8 NOT NULL"), ("net_qty_lots", "int8 NOT NULL"), ("open_cost", "numeric NOT NULL"),
    ("realized_pnl", "numeric NOT NULL"), ("fees_paid", "numeric NOT NULL"), ("bought_lots", "int8 NOT NULL"),
    ("sold_lots", "int8 NOT NULL"), ("version", "int4 NOT NULL"), ("last_position", "int8 NOT NULL"),
    ("updated_at_ns", "int8 NOT NULL"),
), ("position_uuid",), ("CREATE UNIQUE INDEX {table}_account_symbol ON {table} (account_id, symbol)",))
LAST_PRICES = Table("last_prices", (
    ("symbol", "text"), ("price_ticks", "int8 NOT NULL"), ("at_ns", "int8 NOT NULL"), ("position", "int8 NOT NULL"),
    ("seq", "int4 NOT NULL"),
), ("symbol",))

MARKED_VIEW: Final = """
SELECT p.account_id, p.symbol, p.net_qty_lots, p.open_cost, p.realized_pnl, p.fees_paid, p.bought_lots,
       p.sold_lots, p.tick_lot_value,
       abs(p.open_cost) AS avg_price_numerator,
       abs(p.net_qty_lots)::numeric * p.tick_lot_value AS avg_price_denominator,
       CASE WHEN p.net_qty_lots <> 0
            THEN round(abs(p.open_cost) / (abs(p.net_qty_lots)::numeric * p.tick_lot_value), 12) END
           AS avg_entry_price_ticks,
       m.price_ticks AS last_price_ticks,
       p.net_qty_lots::numeric * m.price_ticks * p.tick_lot_value - p.open_cost AS unrealized_pnl,
       p.realized_pnl + (p.net_qty_lots::numeric * m.price_ticks * p.tick_lot_value - p.open_cost) - p.fees_paid
           AS net_pnl,
       p.last_position, p.updated_at_ns
FROM positions p LEFT JOIN last_prices m USING (symbol)"""

MAX_CACHED = 1_000_000


def position_row(state: PositionState) -> tuple[Any, ...]:
    return (state.position_uuid, state.account_id, state.symbol, state.tick_lot_value, state.net_qty_lots,
            state.open_cost, state.realized_pnl, state.fees_paid, state.bought_lots, state.sold_lots, state.version,
            state.last_position, state.updated_at_ns)


def position_from_row(row: Sequence[Any]) -> PositionState:
    (uuid, account, symbol, tick_lot_value, net, open_cost, realized, fees, bought, sold, version, position,
     at_ns) = row
    state = PositionState(uuid, int(account), str(symbol), int(tick_lot_value))
    state.net_qty_lots, state.open_cost, state.realized_pnl = int(net), int(open_cost), int(realized)
    state.fees_paid, state.bought_lots, state.sold_lots = int(fees), int(bought), int(sold)
    state.version, state.last_position, state.updated_at_ns = int(version), int(position), int(at_ns)
    return state


class PositionsProjector(PgProjector):
    name: ClassVar[str] = "positions"
    event_classes: ClassVar[tuple[type, ...]] = POSITION_EVENTS
    tables: ClassVar[tuple[Table, ...]] = (POSITIONS, LAST_PRICES)
    public: ClassVar[tuple[str, ...]] = ("positions", "last_prices")
    views: ClassVar[tuple[tuple[str, str], ...]] = (("positions_marked", MARKED_VIEW),)

    def __init__(self) -> None:
        super().__init__()
        self.positions: dict[int, PositionState] = {}  # by the position id's int (hashed in C)
        self.stored: set[int] = set()

    def reset(self) -> None:
        super().reset()
        self.positions.clear()
        self.stored.clear()

    def apply(self, cur: psycopg.Cursor[Any], batch: Sequence[Logged]) -> None:
        positions = self.positions
        wanted = {event.originator_id for _, event in batch
                  if type(event) is Position.FillsApplied and event.originator_id.int not in positions}
        if wanted:
            names = ", ".join(POSITIONS.column_names)
            cur.execute(f"SELECT {names} FROM positions WHERE position_uuid = ANY(%s)", (list(wanted),))
            for row in cur.fetchall():
                state = position_from_row(row)
                positions[state.position_uuid.int] = state
                self.stored.add(state.position_uuid.int)
        touched: dict[int, PositionState] = {}
        prices: dict[str, tuple[int, int, int, int]] = {}  # symbol -> (at_ns, position, seq, price)
        for position, event in batch:
            kind = type(event)
            if kind is Position.Created:
                if event.originator_id.int in positions:
                    raise ProjectionError(f"position {event.account_id}/{event.symbol} opened twice")
                state = PositionState(event.originator_id, event.account_id, event.symbol, event.tick_lot_value)
                state.last_position, state.updated_at_ns = position, event.at_ns
                positions[state.position_uuid.int] = touched[state.position_uuid.int] = state
            elif kind is Position.FillsApplied:
                found = positions.get(event.originator_id.int)
                if found is None:
                    raise ProjectionError(f"fills at {position} for a position never opened: {event.originator_id}")
                state = found
                state.apply(event, position)
                touched[state.position_uuid.int] = state
                for seq, fill in enumerate(event.fills):
                    key = (event.at_ns, position, seq, fill.price_ticks)
                    if key > prices.get(state.symbol, (-1, -1, -1, -1)):
                        prices[state.symbol] = key
        inserts = [position_row(s) for uuid, s in touched.items() if uuid not in self.stored]
        if inserts:
            POSITIONS.copy(cur, inserts)
        POSITIONS.upsert(cur, [position_row(s) for uuid, s in touched.items() if uuid in self.stored])
        self.stored.update(touched)
        if prices:
            LAST_PRICES.upsert(cur, [(symbol, price, at_ns, position, seq)
                                     for symbol, (at_ns, position, seq, price) in sorted(prices.items())],
                               where="(EXCLUDED.at_ns, EXCLUDED.position, EXCLUDED.seq) > (t.at_ns, t.position, t.seq)")
        if len(positions) > MAX_CACHED:
            positions.clear()
            self.stored.clear()
