"""Instruments: reference data with a history. Listing, changes, halts and resumptions are events."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import LedgerAggregate
from domain.errors import IllegalTransition, InstrumentNotTrading, InvalidReferenceData
from domain.ids import instrument_id
from domain.values import InstrumentSpec, TradingStatus

# Fields a change may touch. The symbol, the assets and their scales define the market and never change.
CHANGEABLE_FIELDS = frozenset({
    "tick_size", "lot_size", "min_qty_lots", "max_qty_lots", "min_price_ticks", "max_price_ticks",
    "maker_fee_ppm", "taker_fee_ppm",
})

# status -> the statuses it may move to
STATUS_TRANSITIONS: dict[TradingStatus, frozenset[TradingStatus]] = {
    TradingStatus.TRADING: frozenset({TradingStatus.HALTED, TradingStatus.DELISTED}),
    TradingStatus.HALTED: frozenset({TradingStatus.TRADING, TradingStatus.DELISTED}),
    TradingStatus.DELISTED: frozenset(),
}


class Instrument(LedgerAggregate):
    TOPIC = "tradex.Instrument"

    @staticmethod
    def create_id(spec: dict[str, Any]) -> UUID:
        return instrument_id(spec["symbol"])

    @dataclass(frozen=True)
    class Created(LedgerAggregate.Event, Aggregate.Created):
        TOPIC = "tradex.Instrument.Listed"
        spec: dict[str, Any]

    @dataclass(frozen=True)
    class Changed(LedgerAggregate.Event):
        TOPIC = "tradex.Instrument.Changed"
        changes: dict[str, int]

    @dataclass(frozen=True)
    class Halted(LedgerAggregate.Event):
        TOPIC = "tradex.Instrument.Halted"
        reason: str

    @dataclass(frozen=True)
    class Resumed(LedgerAggregate.Event):
        TOPIC = "tradex.Instrument.Resumed"

    @dataclass(frozen=True)
    class Delisted(LedgerAggregate.Event):
        TOPIC = "tradex.Instrument.Delisted"
        reason: str

    @classmethod
    def from_spec(cls, spec: InstrumentSpec) -> Instrument:
        return cls(spec=asdict(spec))

    @event(Created)
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec_fields = dict(spec)
        self.status = TradingStatus.TRADING.value

    @property
    def spec(self) -> InstrumentSpec:
        return InstrumentSpec(**self.spec_fields)

    @property
    def symbol(self) -> str:
        return str(self.spec_fields["symbol"])

    @property
    def trading_status(self) -> TradingStatus:
        return TradingStatus(self.status)

    def require_trading(self) -> None:
        if self.trading_status is not TradingStatus.TRADING:
            raise InstrumentNotTrading(f"{self.symbol} is {self.status}", symbol=self.symbol)

    # ---- commands: validate, then trigger ------------------------------------------------------
    def change(self, changes: dict[str, Any]) -> None:
        unknown = set(changes) - CHANGEABLE_FIELDS
        if not changes or unknown:
            raise InvalidReferenceData(f"changeable fields are {sorted(CHANGEABLE_FIELDS)}; got {sorted(changes)}")
        self._require_not_delisted()
        replace(self.spec, **changes)  # validates the resulting spec as a whole
        self._changed(changes=dict(changes))

    def halt(self, reason: str) -> None:
        self._transition(TradingStatus.HALTED)
        self._halted(reason=reason)

    def resume(self) -> None:
        self._transition(TradingStatus.TRADING)
        self._resumed()

    def delist(self, reason: str) -> None:
        self._transition(TradingStatus.DELISTED)
        self._delisted(reason=reason)

    def _require_not_delisted(self) -> None:
        if self.trading_status is TradingStatus.DELISTED:
            raise IllegalTransition(f"{self.symbol} is delisted", symbol=self.symbol)

    def _transition(self, target: TradingStatus) -> None:
        if target not in STATUS_TRANSITIONS[self.trading_status]:
            raise IllegalTransition(f"{self.symbol} cannot go from {self.status} to {target.value}",
                                    symbol=self.symbol)

    # ---- mutators (replayed) -------------------------------------------------------------------
    @event(Changed)
    def _changed(self, changes: dict[str, int]) -> None:
        self.spec_fields.update(changes)

    @event(Halted)
    def _halted(self, reason: str) -> None:
        self.status = TradingStatus.HALTED.value

    @event(Resumed)
    def _resumed(self) -> None:
        self.status = TradingStatus.TRADING.value

    @event(Delisted)
    def _delisted(self, reason: str) -> None:
        self.status = TradingStatus.DELISTED.value
