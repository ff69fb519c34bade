"""Instruments: listing, rule changes, halts, resumption and delisting as events."""

from __future__ import annotations

import pytest

from domain import errors
from domain.instrument import Instrument
from domain.values import TradingStatus
from tests.unit.test_values import BTC_USDT


def test_listing_records_the_whole_spec() -> None:
    instrument = Instrument.from_spec(BTC_USDT)
    [created] = instrument.pending_events
    assert isinstance(created, Instrument.Created)
    assert created.spec["symbol"] == "BTC-USDT" and created.spec["taker_fee_ppm"] == 2_000
    assert instrument.spec == BTC_USDT
    assert instrument.trading_status is TradingStatus.TRADING


def test_changes_are_validated_as_a_whole_spec() -> None:
    instrument = Instrument.from_spec(BTC_USDT)
    instrument.change({"taker_fee_ppm": 2_500, "max_qty_lots": 500_000})
    assert instrument.spec.taker_fee_ppm == 2_500 and instrument.spec.max_qty_lots == 500_000
    with pytest.raises(errors.InvalidReferenceData):
        instrument.change({"min_qty_lots": 600_000})  # above max
    with pytest.raises(errors.InvalidReferenceData, match="changeable fields"):
        instrument.change({"base": "ETH"})
    with pytest.raises(errors.InvalidReferenceData):
        instrument.change({})
    assert len(instrument.pending_events) == 2


def test_halt_and_resume() -> None:
    instrument = Instrument.from_spec(BTC_USDT)
    instrument.halt("volatility")
    with pytest.raises(errors.InstrumentNotTrading):
        instrument.require_trading()
    with pytest.raises(errors.IllegalTransition):
        instrument.halt("again")
    instrument.resume()
    instrument.require_trading()


def test_delisted_is_final() -> None:
    instrument = Instrument.from_spec(BTC_USDT)
    instrument.delist("migration")
    for action in (lambda: instrument.resume(), lambda: instrument.halt("x"),
                   lambda: instrument.change({"tick_size": 20_000})):
        with pytest.raises(errors.IllegalTransition):
            action()
