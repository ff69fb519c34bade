"""What an open order could still cost: the funds a hold must cover.

A buy holds quote: per lot, the notional at its limit (or protection) price plus the taker-or-maker fee
of one lot at that price rounded up. Any fill of q lots at a price p <= limit costs
p*q*v + ceil(rate*p*q*v) <= q*(limit*v + ceil(max_rate*limit*v)), so the hold covers every split of the
order into fills, and after each fill the unused part (price improvement, fee rounding) is released:
the hold of an open order is always exactly `open lots x per-lot cost`. The per-lot fee rounding
over-holds less than one minor unit per lot.

A sell holds base: per lot, `lot_size` base minor units. Its fee is paid in quote out of the proceeds.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.values import PPM, InstrumentSpec, Side


@dataclass(frozen=True)
class HoldTerms:
    asset: str
    per_lot: int  # minor units of `asset` held per open lot

    def amount(self, open_lots: int) -> int:
        return open_lots * self.per_lot


def hold_terms(spec: InstrumentSpec, side: Side, price_ticks: int) -> HoldTerms:
    """The hold per lot of an order on `spec`; `price_ticks` is the limit (buy) price, ignored for sells."""
    if side is Side.SELL:
        return HoldTerms(spec.base, spec.lot_size)
    lot_notional = price_ticks * spec.tick_lot_value
    max_rate = max(spec.maker_fee_ppm, spec.taker_fee_ppm)
    lot_fee = -(-lot_notional * max_rate // PPM)
    return HoldTerms(spec.quote, lot_notional + lot_fee)
