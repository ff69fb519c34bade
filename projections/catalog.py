"""Every projection by name: the PostgreSQL projectors and the ClickHouse one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from projections.clickhouse_projector import NAME as CLICKHOUSE
from projections.pg_balances import BalancesProjector
from projections.pg_instruments import InstrumentsProjector
from projections.pg_market_projector import MarketDataProjector
from projections.pg_orders import OrdersProjector
from projections.pg_positions import PositionsProjector
from projections.pg_projector import PgProjector

PG_PROJECTORS: Final[dict[str, Callable[[], PgProjector]]] = {
    "instruments": InstrumentsProjector,
    "orders": OrdersProjector,
    "balances": BalancesProjector,
    "positions": PositionsProjector,
    "market_data": MarketDataProjector,
}
ALL_NAMES: Final = (*PG_PROJECTORS, CLICKHOUSE)


def pg_projectors(names: list[str] | None = None) -> list[PgProjector]:
    """New PostgreSQL projectors, all of them or the named ones (unknown names raise KeyError)."""
    chosen = list(PG_PROJECTORS) if names is None else names
    unknown = [name for name in chosen if name not in PG_PROJECTORS]
    if unknown:
        raise KeyError(f"unknown PostgreSQL projection(s) {unknown}; known: {sorted(PG_PROJECTORS)}")
    return [PG_PROJECTORS[name]() for name in chosen]
