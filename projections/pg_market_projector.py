"""The market-data projection: trades and OHLCV candles (1m, 5m, 1h, 1d) in PostgreSQL.

The trades come from the orders' fills: two fills with one trade id make one trade
(`projections.trade_pairing`). A fill names only its order's aggregate id, so the projector needs the
order's account and side: it asks the log for the order's placement (`Placements`, provided by the
runner: one query per window for the orders it has not cached). It therefore follows only
`Order.FillsRecorded` and the instruments' events, and keeps in its own tables just the instruments'
specs (`instrument_specs`, for notionals) and the rare trade half whose partner falls in the next
window (`pending_fills`).

The store is chosen when the projection's generation is created, and recorded in `md_backend`:

- `timescaledb` when the server can install the extension (`projections.timescale`): a hypertable and
  real-time hierarchical continuous aggregates, refreshed by their policies (late data: see there);
- `postgres` otherwise (these machines): the day-partitioned `md_trades` and the candle tables that
  `projections.pg_market_data.apply_trades` maintains incrementally in the batch's own transaction.

Both expose the same names (`md_trades`, `md_candles_1m` ... `md_candles_1d`) and give the same
candles. A trade's `position` in these tables is its number in its market (see trade_pairing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Final
from uuid import UUID

import psycopg

from domain.order import Order
from projections import pg_market_data, timescale
from projections.folds import INSTRUMENT_EVENTS, Logged, ProjectionError
from projections.market_data import INTERVALS, TradeRow
from projections.order_store import PENDING_FILLS, PendingHalves
from projections.pg_projector import SPECS, PgProjector, SpecsKeeper
from projections.pg_tracking import Table
from projections.trade_pairing import FillHalf, OrderIdentity, Placements

BACKEND = Table("md_backend", (("backend", "text"),), ("backend",))
MAX_CACHED = 500_000
_INSTRUMENT: Final = frozenset(INSTRUMENT_EVENTS)


class MarketDataProjector(PgProjector):
    name: ClassVar[str] = "market_data"
    event_classes: ClassVar[tuple[type, ...]] = (Order.FillsRecorded, *INSTRUMENT_EVENTS)
    tables: ClassVar[tuple[Table, ...]] = (PENDING_FILLS, SPECS, BACKEND)
    public: ClassVar[tuple[str, ...]] = (pg_market_data.TRADES_TABLE,
                                         *(pg_market_data.candle_table(i) for i in INTERVALS))

    def __init__(self, placements: Placements | None = None, allow_timescale: bool = True) -> None:
        super().__init__()
        self.placements = placements
        self.allow_timescale = allow_timescale
        self.backend = "postgres"
        self.orders: dict[UUID, OrderIdentity] = {}  # a cache over the log's placements
        self.specs = SpecsKeeper()
        self.pending = PendingHalves()

    def create(self, cur: psycopg.Cursor[Any]) -> None:
        super().create(cur)
        use_timescale = self.allow_timescale and timescale.timescale_available(cur.connection)
        self.backend = "timescaledb" if use_timescale else "postgres"
        cur.execute("INSERT INTO md_backend (backend) VALUES (%s)", (self.backend,))
        if not use_timescale:
            pg_market_data.create_tables(cur)

    def create_outside_transaction(self, conn: psycopg.Connection[Any]) -> None:
        """TimescaleDB refuses continuous aggregates inside a transaction block: created here, in autocommit."""
        if self.backend == "timescaledb":
            timescale.create_schema(conn)

    def load(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("SELECT backend FROM md_backend")
        row = cur.fetchone()
        self.backend = str(row[0]) if row else "postgres"
        self.specs.load(cur)
        self.pending.load(cur)

    def identities(self, batch: Sequence[Logged]) -> dict[UUID, OrderIdentity]:
        """The identity of every order with a fill in the batch: cached, else from the log's placements."""
        orders = self.orders
        if len(orders) > MAX_CACHED:
            orders.clear()
        missing = {event.originator_id for _, event in batch
                   if type(event) is Order.FillsRecorded and event.originator_id not in orders}
        if missing:
            if self.placements is None:
                raise ProjectionError("the market-data projector needs the log's placements (none given)")
            found = self.placements(missing)
            unknown = missing - set(found)
            if unknown:
                raise ProjectionError(f"fills of orders never placed: {sorted(map(str, unknown))[:5]}")
            orders.update((uuid, OrderIdentity.placed(event)) for uuid, event in found.items())
        return orders

    def apply(self, cur: psycopg.Cursor[Any], batch: Sequence[Logged]) -> None:
        pairer, book = self.pending.pairer, self.specs.book
        orders = self.identities(batch)
        trades: list[TradeRow] = []
        for position, event in batch:
            kind = type(event)
            if kind is Order.FillsRecorded:
                order = orders[event.originator_id]
                for seq, fill in enumerate(event.fills):
                    trade = pairer.add(FillHalf.of(order, fill, event.at_ns, position, seq),
                                       book.tick_lot_value(order.symbol))
                    if trade is not None:
                        trades.append(trade.row())
            elif kind in _INSTRUMENT:
                self.specs.apply(cur, event, position)
        if trades:
            if self.backend == "timescaledb":
                timescale.apply_trades(cur, trades)
            else:
                pg_market_data.apply_trades(cur, trades)
        self.pending.flush(cur)
