"""Value objects: assets, instrument specifications, sides. All amounts are integers in minor units."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from domain.checks import INT64_MAX, positive_int64, strict_int
from domain.errors import (
    InvalidPrice,
    InvalidQuantity,
    InvalidReferenceData,
    OffLotQuantity,
    OffTickPrice,
    PriceOutsideBand,
    QuantityOutOfRange,
)

ASSET_CODE = re.compile(r"^[A-Z][A-Z0-9]{1,11}$")
SYMBOL = re.compile(r"^[A-Z][A-Z0-9]{1,11}-[A-Z][A-Z0-9]{1,11}$")
MAX_SCALE = 18
PPM = 1_000_000

# System accounts never trade, so they use ids the engine can never see (engine ids are >= 0).
EXTERNAL_ACCOUNT = -1  # the outside world: deposits come from it, withdrawals go to it
FEE_ACCOUNT = -2  # the venue's fee income
SYSTEM_ACCOUNTS = {EXTERNAL_ACCOUNT: "external", FEE_ACCOUNT: "fees"}


def valid_account_id(value: Any) -> bool:
    return strict_int(value) and 1 <= value <= INT64_MAX


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class TradingStatus(StrEnum):
    TRADING = "trading"
    HALTED = "halted"
    DELISTED = "delisted"


@dataclass(frozen=True)
class Asset:
    """An asset and its fixed scale: `scale` decimal places, so 1 unit = 10**scale minor units."""

    code: str
    scale: int

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not ASSET_CODE.match(self.code):
            raise InvalidReferenceData(f"asset code {self.code!r} must be 2-12 upper-case letters/digits")
        if not strict_int(self.scale) or not 0 <= self.scale <= MAX_SCALE:
            raise InvalidReferenceData(f"asset scale {self.scale!r} must be an integer in 0..{MAX_SCALE}")

    def to_minor(self, amount: str | Decimal) -> int:
        """Exact decimal -> minor units; more decimals than the scale is an error, never a rounding."""
        value = _decimal(amount, InvalidQuantity, "amount")
        minor = value.scaleb(self.scale)
        if minor != minor.to_integral_value():
            raise InvalidQuantity(f"{amount} has more than {self.scale} decimals for {self.code}")
        return int(minor)

    def to_decimal(self, minor: int) -> Decimal:
        return Decimal(minor).scaleb(-self.scale)


def _decimal(value: str | Decimal, error: type[InvalidQuantity] | type[InvalidPrice], name: str) -> Decimal:
    if isinstance(value, float | bool):
        raise error(f"{name} must be a decimal string, not {type(value).__name__}")
    try:
        parsed = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise error(f"{name} {value!r} is not a decimal number") from None
    if not parsed.is_finite():
        raise error(f"{name} {value!r} is not finite")
    return parsed


@dataclass(frozen=True)
class InstrumentSpec:
    """A market's rules.

    Prices are integer ticks; one tick is `tick_size` quote minor units per whole base unit.
    Quantities are integer lots; one lot is `lot_size` base minor units. The listing requires
    tick_size * lot_size to be a multiple of 10**base_scale, so that every notional
    price_ticks * qty_lots * tick_lot_value is an exact integer number of quote minor units.
    Fee rates are integer parts per million of the notional.
    """

    symbol: str
    base: str
    quote: str
    base_scale: int
    quote_scale: int
    tick_size: int
    lot_size: int
    min_qty_lots: int
    max_qty_lots: int
    min_price_ticks: int
    max_price_ticks: int
    maker_fee_ppm: int
    taker_fee_ppm: int

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not SYMBOL.match(self.symbol):
            raise InvalidReferenceData(f"symbol {self.symbol!r} must look like BASE-QUOTE")
        if self.base == self.quote:
            raise InvalidReferenceData("base and quote assets must differ")
        for name in ("tick_size", "lot_size", "min_qty_lots", "max_qty_lots", "min_price_ticks",
                     "max_price_ticks"):
            positive_int64(getattr(self, name), InvalidReferenceData, name)
        for name in ("maker_fee_ppm", "taker_fee_ppm"):
            rate = getattr(self, name)
            if not strict_int(rate) or not 0 <= rate < PPM:
                raise InvalidReferenceData(f"{name} must be an integer in 0..{PPM - 1}")
        if self.min_qty_lots > self.max_qty_lots:
            raise InvalidReferenceData("min_qty_lots exceeds max_qty_lots")
        if self.min_price_ticks > self.max_price_ticks:
            raise InvalidReferenceData("min_price_ticks exceeds max_price_ticks")
        if (self.tick_size * self.lot_size) % 10**self.base_scale:
            raise InvalidReferenceData(
                "tick_size * lot_size must be a multiple of 10**base_scale so notionals are exact",
                tick_size=self.tick_size, lot_size=self.lot_size, base_scale=self.base_scale)
        if self.notional(self.max_price_ticks, self.max_qty_lots) > INT64_MAX:
            raise InvalidReferenceData("max price x max qty overflows int64 quote minor units")

    @property
    def tick_lot_value(self) -> int:
        """Quote minor units of one tick on one lot."""
        base_unit: int = 10**self.base_scale
        return self.tick_size * self.lot_size // base_unit

    def notional(self, price_ticks: int, qty_lots: int) -> int:
        """Quote minor units of qty_lots at price_ticks: exact."""
        return price_ticks * qty_lots * self.tick_lot_value

    def base_amount(self, qty_lots: int) -> int:
        """Base minor units of qty_lots: exact."""
        return qty_lots * self.lot_size

    def fee(self, notional: int, liquidity: Liquidity) -> int:
        """Fee in quote minor units, rounded UP to the next minor unit: rounding never favours the client."""
        rate = self.maker_fee_ppm if liquidity is Liquidity.MAKER else self.taker_fee_ppm
        return int(-(-notional * rate // PPM))

    def max_fee(self, notional: int) -> int:
        """The larger of the two fees: what a hold must cover before the liquidity is known."""
        return max(self.fee(notional, Liquidity.MAKER), self.fee(notional, Liquidity.TAKER))

    # ---- edge conversions (API, seed files): Decimal in, exact integers out -------------------
    def price_to_ticks(self, price: str | Decimal) -> int:
        value = _decimal(price, InvalidPrice, "price")
        quote_minor = value.scaleb(self.quote_scale)
        if quote_minor <= 0:
            raise InvalidPrice(f"price {price} must be positive")
        ticks, remainder = divmod(quote_minor, self.tick_size)
        if remainder != 0:
            raise OffTickPrice(f"price {price} is not a multiple of the tick "
                               f"{Decimal(self.tick_size).scaleb(-self.quote_scale)}", symbol=self.symbol)
        return int(ticks)

    def qty_to_lots(self, qty: str | Decimal) -> int:
        value = _decimal(qty, InvalidQuantity, "qty")
        base_minor = value.scaleb(self.base_scale)
        if base_minor <= 0:
            raise InvalidQuantity(f"qty {qty} must be positive")
        lots, remainder = divmod(base_minor, self.lot_size)
        if remainder != 0:
            raise OffLotQuantity(f"qty {qty} is not a multiple of the lot "
                                 f"{Decimal(self.lot_size).scaleb(-self.base_scale)}", symbol=self.symbol)
        return int(lots)

    def ticks_to_price(self, price_ticks: int) -> Decimal:
        return Decimal(price_ticks * self.tick_size).scaleb(-self.quote_scale)

    def lots_to_qty(self, qty_lots: int) -> Decimal:
        return Decimal(qty_lots * self.lot_size).scaleb(-self.base_scale)

    # ---- order checks --------------------------------------------------------------------------
    def check_price(self, price_ticks: Any) -> int:
        price = positive_int64(price_ticks, InvalidPrice, "price_ticks")
        if not self.min_price_ticks <= price <= self.max_price_ticks:
            raise PriceOutsideBand(f"price {price} ticks is outside the band "
                                   f"{self.min_price_ticks}..{self.max_price_ticks}", symbol=self.symbol)
        return price

    def check_qty(self, qty_lots: Any) -> int:
        qty = positive_int64(qty_lots, InvalidQuantity, "qty_lots")
        if not self.min_qty_lots <= qty <= self.max_qty_lots:
            raise QuantityOutOfRange(f"qty {qty} lots is outside {self.min_qty_lots}..{self.max_qty_lots}",
                                     symbol=self.symbol)
        return qty
