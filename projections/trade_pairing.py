"""Trades from order fills: the two fills that share a trade id make one trade (pure, no I/O).

The ledger records a trade as one `Fill` on each of the two orders it matched (each order's
`FillsRecorded` event), with the same trade id "SYMBOL:n", price and quantity; one fill is the taker's,
the other the maker's. The venue writes both in the same transaction, but a projector reading the log
in windows may see one half in a batch and the other in the next, so an unmatched half is kept as
`pending` until its partner arrives (PostgreSQL projectors persist it with their batch).

A trade's identity in the read models is its number n in its market (from "SYMBOL:n"): it is unique per
symbol and increases with the log. A notification id cannot serve: one FillsRecorded event can hold
several trades (a taker sweeping several makers, or meeting the same iceberg twice).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from domain.order import Fill
from projections.folds import OrderState, ProjectionError
from projections.market_data import TradeRow


@dataclass(frozen=True, slots=True)
class FillHalf:
    """One order's side of a trade, with the order's identity and the event's log coordinates."""

    trade_id: str
    symbol: str
    order_id: int
    account_id: int
    side: str  # the order's side: "buy" / "sell"
    price_ticks: int
    qty_lots: int
    fee: int  # quote minor units paid by this order's account
    liquidity: str  # "maker" / "taker"
    at_ns: int
    position: int  # notification id of the FillsRecorded event
    seq: int  # index of the fill in that event

    @classmethod
    def of(cls, order: OrderState | OrderIdentity, fill: Fill, at_ns: int, position: int, seq: int) -> FillHalf:
        return cls(fill.trade_id, order.symbol, order.order_id, order.account_id, order.side, fill.price_ticks,
                   fill.qty_lots, fill.fee, fill.liquidity, at_ns, position, seq)


@dataclass(frozen=True, slots=True)
class OrderIdentity:
    """Who placed an order and on which side: all a trade needs to know of it (from its placement)."""

    symbol: str
    order_id: int
    account_id: int
    side: str

    @classmethod
    def placed(cls, event: Any) -> OrderIdentity:
        terms = event.terms
        return cls(str(terms["symbol"]), int(terms["order_id"]), int(terms["account_id"]), str(terms["side"]))


class Placements(Protocol):
    """Looks orders' placement events up in the log: order id -> its `Order.Created` event.

    The runner provides it; the events are immutable, so a projector may cache what it returns, and
    evict from that cache at any time.
    """

    def __call__(self, order_uuids: Collection[UUID]) -> dict[UUID, Any]: ...


@dataclass(frozen=True, slots=True)
class Trade:
    """A whole trade: both halves. `notional` = price x qty x the instrument's tick_lot_value then."""

    symbol: str
    number: int  # n of "SYMBOL:n"
    trade_id: str
    at_ns: int
    position: int  # notification id of the later of the two fill events
    price_ticks: int
    qty_lots: int
    notional: int
    taker_side: str
    buy_account: int
    sell_account: int
    buy_order_id: int
    sell_order_id: int
    buy_fee: int
    sell_fee: int

    def row(self) -> TradeRow:
        """The market-data row (its `position` is the trade number: unique per symbol, log-ordered)."""
        return TradeRow(self.number, self.trade_id, self.symbol, self.at_ns, self.price_ticks, self.qty_lots,
                        self.notional, self.taker_side, self.buy_account, self.sell_account, self.buy_order_id,
                        self.sell_order_id)


def trade_number(trade_id: str, symbol: str) -> int:
    prefix, _, number = trade_id.rpartition(":")
    if prefix != symbol or not number.isdigit():
        raise ProjectionError(f"trade id {trade_id!r} is not {symbol}:<n>")
    return int(number)


def pair(first: FillHalf, second: FillHalf, tick_lot_value: int) -> Trade:
    """The trade of two halves, checked: one buy and one sell, one taker and one maker, same terms."""
    buy, sell = (first, second) if first.side == "buy" else (second, first)
    if (buy.side, sell.side) != ("buy", "sell"):
        raise ProjectionError(f"trade {first.trade_id}: fills are not one buy and one sell")
    if {buy.liquidity, sell.liquidity} != {"maker", "taker"}:
        raise ProjectionError(f"trade {first.trade_id}: fills are not one taker and one maker")
    if (buy.symbol, buy.price_ticks, buy.qty_lots, buy.at_ns) != (sell.symbol, sell.price_ticks, sell.qty_lots,
                                                                   sell.at_ns):
        raise ProjectionError(f"trade {first.trade_id}: the two fills disagree on symbol, price, qty or time")
    taker_side = "buy" if buy.liquidity == "taker" else "sell"
    return Trade(buy.symbol, trade_number(buy.trade_id, buy.symbol), buy.trade_id, buy.at_ns,
                 max(buy.position, sell.position), buy.price_ticks, buy.qty_lots,
                 buy.price_ticks * buy.qty_lots * tick_lot_value, taker_side, buy.account_id, sell.account_id,
                 buy.order_id, sell.order_id, buy.fee, sell.fee)


class TradePairer:
    """Matches fill halves by trade id; `pending` holds the halves still waiting for their partner."""

    def __init__(self, pending: dict[str, FillHalf] | None = None) -> None:
        self.pending: dict[str, FillHalf] = dict(pending or {})

    def add(self, half: FillHalf, tick_lot_value: int) -> Trade | None:
        partner = self.pending.pop(half.trade_id, None)
        if partner is None:
            self.pending[half.trade_id] = half
            return None
        return pair(partner, half, tick_lot_value)
