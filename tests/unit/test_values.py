"""Assets and instrument specifications: exact conversions, validation, fees that round up."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from domain import errors
from domain.values import Asset, InstrumentSpec, Liquidity

BTC_USDT = InstrumentSpec(
    symbol="BTC-USDT", base="BTC", quote="USDT", base_scale=8, quote_scale=6, tick_size=10_000,
    lot_size=10_000, min_qty_lots=1, max_qty_lots=1_000_000, min_price_ticks=100_000,
    max_price_ticks=50_000_000, maker_fee_ppm=1_000, taker_fee_ppm=2_000)


def test_asset_converts_decimals_exactly() -> None:
    usdt = Asset("USDT", 6)
    assert usdt.to_minor("1.5") == 1_500_000
    assert usdt.to_decimal(1_500_000) == Decimal("1.5")


def test_asset_refuses_more_decimals_than_its_scale() -> None:
    with pytest.raises(errors.InvalidQuantity, match="more than 6 decimals"):
        Asset("USDT", 6).to_minor("0.0000001")


@pytest.mark.parametrize("code, scale", [("usdt", 6), ("U", 2), ("USDT", -1), ("USDT", 19), ("USDT", True)])
def test_asset_refuses_bad_reference_data(code: str, scale: int) -> None:
    with pytest.raises(errors.InvalidReferenceData):
        Asset(code, scale)


def test_notional_is_exact_in_quote_minor_units() -> None:
    # 60,000.00 USDT per BTC x 0.5 BTC = 30,000 USDT = 30_000_000_000 micro-USDT
    price = BTC_USDT.price_to_ticks("60000.00")
    qty = BTC_USDT.qty_to_lots("0.5")
    assert (price, qty) == (6_000_000, 5_000)
    assert BTC_USDT.notional(price, qty) == 30_000_000_000
    assert BTC_USDT.base_amount(qty) == 50_000_000


def test_fees_round_up_to_the_next_minor_unit() -> None:
    assert BTC_USDT.fee(1_000_000, Liquidity.TAKER) == 2_000
    assert BTC_USDT.fee(1, Liquidity.TAKER) == 1  # 0.002 of a minor unit rounds up to 1
    assert BTC_USDT.fee(499, Liquidity.MAKER) == 1
    assert BTC_USDT.fee(1_000, Liquidity.MAKER) == 1
    assert BTC_USDT.fee(1_001, Liquidity.MAKER) == 2
    assert BTC_USDT.max_fee(1_000_000) == 2_000


def test_off_tick_price_is_refused() -> None:
    with pytest.raises(errors.OffTickPrice):
        BTC_USDT.price_to_ticks("60000.005")


def test_off_lot_qty_is_refused() -> None:
    with pytest.raises(errors.OffLotQuantity):
        BTC_USDT.qty_to_lots("0.00001")


@pytest.mark.parametrize("price", ["0", "-1", "abc", "NaN", "Infinity"])
def test_non_positive_or_non_numeric_price_is_refused(price: str) -> None:
    with pytest.raises(errors.InvalidPrice):
        BTC_USDT.price_to_ticks(price)


def test_float_is_refused_at_the_edge() -> None:
    with pytest.raises(errors.InvalidPrice, match="not float"):
        BTC_USDT.price_to_ticks(0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize("qty, error", [
    (0, errors.InvalidQuantity), (-5, errors.InvalidQuantity), (1.5, errors.InvalidQuantity),
    (True, errors.InvalidQuantity), (2**63, errors.InvalidQuantity), (1_000_001, errors.QuantityOutOfRange),
])
def test_order_qty_checks(qty: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        BTC_USDT.check_qty(qty)


@pytest.mark.parametrize("price, error", [
    (0, errors.InvalidPrice), ("100", errors.InvalidPrice), (99_999, errors.PriceOutsideBand),
    (50_000_001, errors.PriceOutsideBand),
])
def test_order_price_checks(price: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        BTC_USDT.check_price(price)


def test_listing_requires_exact_notionals() -> None:
    with pytest.raises(errors.InvalidReferenceData, match="multiple of 10\\*\\*base_scale"):
        replace(BTC_USDT, tick_size=1, lot_size=10)


def test_listing_refuses_overflowing_bounds() -> None:
    with pytest.raises(errors.InvalidReferenceData, match="overflows int64"):
        replace(BTC_USDT, max_price_ticks=2**62, max_qty_lots=2**20)


@pytest.mark.parametrize("field, value", [
    ("symbol", "btc-usdt"), ("base", "USDT"), ("maker_fee_ppm", -1), ("taker_fee_ppm", 1_000_000),
    ("min_qty_lots", 2_000_000), ("tick_size", 0),
])
def test_listing_refuses_bad_specs(field: str, value: object) -> None:
    with pytest.raises(errors.InvalidReferenceData):
        replace(BTC_USDT, **{field: value})
