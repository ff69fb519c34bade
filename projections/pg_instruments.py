"""The instruments projection: reference data now, and as of any past log position.

Tables (exposed as `rm.<table>`):

- `instruments`, one row per instrument: its spec now (assets, scales, tick, lot, limits, fees,
  tick_lot_value), status, version, last reason, where it was listed and last changed. Key `symbol`.
- `instrument_history`, one row per instrument event: the instrument's whole spec and status right
  after it, with the event type, log position, time and command. Key `(symbol, position)`.
- `assets`, one row per asset: its scale and where it was registered. Key `code`.

As of log position P, an instrument is its `instrument_history` row with the largest position <= P
(`instrument_as_of`, `instruments_as_of`); before its listing it did not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, ClassVar, Final

import psycopg
from psycopg import sql

from domain.asset import AssetDefinition
from domain.instrument import Instrument
from domain.values import InstrumentSpec, TradingStatus
from projections.folds import ASSET_EVENTS, INSTRUMENT_EVENTS, Logged, ProjectionError, SpecBook
from projections.pg_projector import PgProjector
from projections.pg_tracking import Table

SPEC_COLUMNS: Final = (
    ("base", "text NOT NULL"), ("quote", "text NOT NULL"), ("base_scale", "int4 NOT NULL"),
    ("quote_scale", "int4 NOT NULL"), ("tick_size", "int8 NOT NULL"), ("lot_size", "int8 NOT NULL"),
    ("min_qty_lots", "int8 NOT NULL"), ("max_qty_lots", "int8 NOT NULL"), ("min_price_ticks", "int8 NOT NULL"),
    ("max_price_ticks", "int8 NOT NULL"), ("maker_fee_ppm", "int4 NOT NULL"), ("taker_fee_ppm", "int4 NOT NULL"),
    ("tick_lot_value", "int8 NOT NULL"),
)
SPEC_NAMES: Final = tuple(name for name, _ in SPEC_COLUMNS)
INSTRUMENTS = Table("instruments", (
    ("symbol", "text"), *SPEC_COLUMNS, ("status", "text NOT NULL"), ("reason", "text NOT NULL"),
    ("version", "int4 NOT NULL"), ("listed_position", "int8 NOT NULL"), ("listed_at_ns", "int8 NOT NULL"),
    ("last_position", "int8 NOT NULL"), ("updated_at_ns", "int8 NOT NULL"),
), ("symbol",))
HISTORY = Table("instrument_history", (
    ("symbol", "text"), ("position", "int8"), ("version", "int4 NOT NULL"), ("at_ns", "int8 NOT NULL"),
    ("command_id", "text NOT NULL"), ("event_type", "text NOT NULL"), *SPEC_COLUMNS, ("status", "text NOT NULL"),
    ("reason", "text NOT NULL"),
), ("symbol", "position"))
ASSETS = Table("assets", (("code", "text"), ("scale", "int4 NOT NULL"), ("position", "int8 NOT NULL"),
                          ("at_ns", "int8 NOT NULL")), ("code",))

EVENT_TYPES: Final[dict[type, str]] = {
    Instrument.Created: "listed", Instrument.Changed: "changed", Instrument.Halted: "halted",
    Instrument.Resumed: "resumed", Instrument.Delisted: "delisted",
}
STATUS_AFTER: Final[dict[type, str]] = {
    Instrument.Halted: TradingStatus.HALTED.value, Instrument.Resumed: TradingStatus.TRADING.value,
    Instrument.Delisted: TradingStatus.DELISTED.value,
}


class _Listing:
    __slots__ = ("listed_at_ns", "listed_position", "reason", "status", "version")

    def __init__(self, status: str, reason: str, version: int, listed_position: int, listed_at_ns: int) -> None:
        self.status, self.reason, self.version = status, reason, version
        self.listed_position, self.listed_at_ns = listed_position, listed_at_ns


def _spec_values(spec: InstrumentSpec) -> tuple[Any, ...]:
    fields = asdict(spec)
    return (*(fields[name] for name in SPEC_NAMES[:-1]), spec.tick_lot_value)


class InstrumentsProjector(PgProjector):
    name: ClassVar[str] = "instruments"
    event_classes: ClassVar[tuple[type, ...]] = (*INSTRUMENT_EVENTS, *ASSET_EVENTS)
    tables: ClassVar[tuple[Table, ...]] = (INSTRUMENTS, HISTORY, ASSETS)
    public: ClassVar[tuple[str, ...]] = ("instruments", "instrument_history", "assets")

    def __init__(self) -> None:
        super().__init__()
        self.book = SpecBook()
        self.listings: dict[str, _Listing] = {}

    def load(self, cur: psycopg.Cursor[Any]) -> None:
        self.book, self.listings = SpecBook(), {}
        names = ", ".join(SPEC_NAMES[:-1])
        cur.execute(f"SELECT symbol, {names}, status, reason, version, listed_position, listed_at_ns FROM instruments")
        for row in cur.fetchall():
            symbol, *spec_values = row[:len(SPEC_NAMES)]
            status, reason, version, listed_position, listed_at_ns = row[len(SPEC_NAMES):]
            self.book.add(InstrumentSpec(symbol, *spec_values))
            self.listings[symbol] = _Listing(status, reason, version, listed_position, listed_at_ns)

    def apply(self, cur: psycopg.Cursor[Any], batch: Sequence[Logged]) -> None:
        history: list[tuple[Any, ...]] = []
        assets: list[tuple[Any, ...]] = []
        touched: dict[str, tuple[int, int]] = {}  # symbol -> (last position, at_ns)
        for position, event in batch:
            kind = type(event)
            if kind is AssetDefinition.Created:
                assets.append((event.code, event.scale, position, event.at_ns))
                continue
            if kind is Instrument.Created:
                symbol = str(event.spec["symbol"])
                if symbol in self.listings:
                    raise ProjectionError(f"instrument {symbol} listed twice")
                self.listings[symbol] = _Listing(TradingStatus.TRADING.value, "", 0, position, event.at_ns)
            else:
                symbol = self.book.symbol_of(event.originator_id)
            self.book.apply(event)
            listing = self.listings[symbol]
            if event.originator_version != listing.version + 1:
                raise ProjectionError(f"instrument {symbol}: version {event.originator_version} "
                                      f"after {listing.version}")
            listing.version = event.originator_version
            listing.status = STATUS_AFTER.get(kind, listing.status)
            listing.reason = getattr(event, "reason", listing.reason)
            history.append((symbol, position, listing.version, event.at_ns, event.command_id, EVENT_TYPES[kind],
                            *_spec_values(self.book.spec(symbol)), listing.status, listing.reason))
            touched[symbol] = (position, event.at_ns)
        if assets:
            ASSETS.copy(cur, assets)
        if history:
            HISTORY.copy(cur, history)
        rows = []
        for symbol, (position, at_ns) in sorted(touched.items()):
            listing = self.listings[symbol]
            rows.append((symbol, *_spec_values(self.book.spec(symbol)), listing.status, listing.reason,
                         listing.version, listing.listed_position, listing.listed_at_ns, position, at_ns))
        INSTRUMENTS.upsert(cur, rows)


def instruments_as_of(cur: psycopg.Cursor[Any], position: int, symbol: str | None = None,
                      schema: str = "rm") -> list[dict[str, Any]]:
    """Every instrument (or one) as it stood at log position `position`: spec, status and version."""
    query = sql.SQL("SELECT DISTINCT ON (symbol) * FROM {} WHERE position <= %s {} ORDER BY symbol, position DESC"
                    ).format(sql.Identifier(schema, "instrument_history"),
                             sql.SQL("AND symbol = %s") if symbol is not None else sql.SQL(""))
    cur.execute(query, (position, symbol) if symbol is not None else (position,))
    names = [column.name for column in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def instrument_as_of(cur: psycopg.Cursor[Any], symbol: str, position: int, schema: str = "rm") -> dict[str, Any] | None:
    """One instrument at log position `position`, or None if it was not listed yet."""
    found = instruments_as_of(cur, position, symbol, schema)
    return found[0] if found else None
