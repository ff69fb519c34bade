"""Orders: an explicit lifecycle state table; fills carry trade id, price, qty, fee and liquidity."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import LedgerAggregate
from domain.checks import require
from domain.errors import IllegalTransition, InvalidFill
from domain.ids import order_uuid
from domain.values import Liquidity, Side


class OrderStatus(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REJECTED = "rejected"


_LIVE = frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})

# status -> statuses it may move to. A fill moves to partially_filled or filled by the qty left open.
ORDER_STATE_TABLE: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset({OrderStatus.ACCEPTED, OrderStatus.REJECTED}),
    OrderStatus.ACCEPTED: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED,
                                     OrderStatus.EXPIRED}),
    OrderStatus.PARTIALLY_FILLED: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
                                             OrderStatus.CANCELLED, OrderStatus.EXPIRED}),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
}


@dataclass(frozen=True)
class Fill:
    trade_id: str
    price_ticks: int
    qty_lots: int
    fee: int  # quote minor units, paid by this order's account
    liquidity: str  # Liquidity value


@dataclass(frozen=True)
class OrderTerms:
    """What the client asked for: the ENGINE.md `new` fields (0 / "" where a field does not apply)."""

    symbol: str
    order_id: int
    account_id: int
    side: str
    order_type: str
    qty_lots: int
    price_ticks: int = 0
    trigger_price_ticks: int = 0
    tif: str = "gtc"
    expire_at_ns: int = 0
    post_only: bool = False
    display_qty_lots: int = 0
    stp: str = "none"
    hold_asset: str = ""  # what the order holds while open (domain.order_costs)
    hold_per_lot: int = 0  # minor units of hold_asset per open lot


class Order(LedgerAggregate):
    TOPIC = "tradex.Order"

    @staticmethod
    def create_id(terms: dict[str, Any]) -> UUID:
        return order_uuid(terms["symbol"], terms["order_id"])

    @dataclass(frozen=True)
    class Created(LedgerAggregate.Event, Aggregate.Created):
        """The order was placed; when the matching engine has already answered, its outcome comes with it
        (accepted, or rejected with the reason), so a batch writer records one event instead of two."""

        TOPIC = "tradex.Order.Placed"
        terms: dict[str, Any]
        outcome: str = "new"
        reason: str = ""

    @dataclass(frozen=True)
    class Accepted(LedgerAggregate.Event):
        TOPIC = "tradex.Order.Accepted"

    @dataclass(frozen=True)
    class Rejected(LedgerAggregate.Event):
        TOPIC = "tradex.Order.Rejected"
        reason: str

    @dataclass(frozen=True)
    class FillsRecorded(LedgerAggregate.Event):
        TOPIC = "tradex.Order.FillsRecorded"
        fills: tuple[Fill, ...]

    @dataclass(frozen=True)
    class Amended(LedgerAggregate.Event):
        TOPIC = "tradex.Order.Amended"
        price_ticks: int
        leaves_qty_lots: int
        hold_per_lot: int

    @dataclass(frozen=True)
    class Reduced(LedgerAggregate.Event):
        """Part of the open qty removed without a trade (self-trade prevention's decrement)."""

        TOPIC = "tradex.Order.Reduced"
        qty_lots: int
        reason: str

    @dataclass(frozen=True)
    class Triggered(LedgerAggregate.Event):
        TOPIC = "tradex.Order.Triggered"

    @dataclass(frozen=True)
    class Cancelled(LedgerAggregate.Event):
        TOPIC = "tradex.Order.Cancelled"
        qty_lots: int
        reason: str

    @dataclass(frozen=True)
    class Expired(LedgerAggregate.Event):
        TOPIC = "tradex.Order.Expired"
        qty_lots: int

    @classmethod
    def place(cls, terms: OrderTerms, outcome: OrderStatus = OrderStatus.NEW, reason: str = "") -> Order:
        require(terms.qty_lots > 0, "an order has a positive qty")
        require(outcome in (OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.REJECTED),
                "an order is placed new, accepted or rejected")
        require((outcome is OrderStatus.REJECTED) == bool(reason), "a rejection, and only a rejection, has a reason")
        return cls(terms=dict(terms.__dict__), outcome=outcome.value, reason=reason)

    @event(Created)
    def __init__(self, terms: dict[str, Any], outcome: str, reason: str) -> None:
        self.terms = terms
        self.status = outcome
        self.price_ticks = int(terms["price_ticks"])
        self.leaves_qty_lots = 0 if outcome == OrderStatus.REJECTED.value else int(terms["qty_lots"])
        self.filled_qty_lots = 0
        self.filled_notional_ticks_lots = 0  # sum of price_ticks * qty_lots over fills
        self.fees_paid = 0
        self.triggered = False
        self.hold_per_lot = int(terms.get("hold_per_lot", 0))
        self.hold_ref = f"order:{terms['symbol']}:{terms['order_id']}"  # the wallet hold of this order

    # ---- queries -------------------------------------------------------------------------------
    @property
    def order_status(self) -> OrderStatus:
        return OrderStatus(self.status)

    @property
    def is_live(self) -> bool:
        return self.order_status in _LIVE

    @property
    def open_hold(self) -> int:
        """What the order holds while open: open lots x its per-lot cost (domain.order_costs)."""
        return self.leaves_qty_lots * self.hold_per_lot if self.is_live or self.order_status is OrderStatus.NEW else 0

    @property
    def side(self) -> Side:
        return Side(self.terms["side"])

    # ---- commands ------------------------------------------------------------------------------
    def accept(self) -> None:
        self._require(OrderStatus.ACCEPTED)
        self._accepted()

    def reject(self, reason: str) -> None:
        self._require(OrderStatus.REJECTED)
        self._rejected(reason=reason)

    def record_fills(self, fills: tuple[Fill, ...]) -> None:
        require(len(fills) > 0, "no fills to record")
        total = sum(fill.qty_lots for fill in fills)
        if any(fill.qty_lots <= 0 or fill.price_ticks <= 0 or fill.fee < 0 for fill in fills):
            raise InvalidFill("fills have positive qty and price and a non-negative fee")
        if total > self.leaves_qty_lots:
            raise InvalidFill(f"fills of {total} lots exceed the {self.leaves_qty_lots} lots open",
                              order_id=self.terms["order_id"])
        for fill in fills:
            Liquidity(fill.liquidity)
        self._require(OrderStatus.FILLED if total == self.leaves_qty_lots else OrderStatus.PARTIALLY_FILLED)
        self._fills_recorded(fills=fills)

    def amend(self, price_ticks: int, leaves_qty_lots: int, hold_per_lot: int | None = None) -> None:
        require(price_ticks >= 0 and leaves_qty_lots > 0, "an amend keeps a positive open qty")
        if not self.is_live:
            raise IllegalTransition(f"order {self.terms['order_id']} is {self.status}")
        per_lot = self.hold_per_lot if hold_per_lot is None else hold_per_lot
        self._amended(price_ticks=price_ticks, leaves_qty_lots=leaves_qty_lots, hold_per_lot=per_lot)

    def reduce(self, qty_lots: int, reason: str) -> None:
        if not self.is_live:
            raise IllegalTransition(f"order {self.terms['order_id']} is {self.status}")
        require(0 < qty_lots < self.leaves_qty_lots, "a reduction leaves a positive open qty")
        self._reduced(qty_lots=qty_lots, reason=reason)

    def trigger(self) -> None:
        require(self.terms["order_type"].startswith("stop") and not self.triggered, "only a waiting stop triggers")
        if not self.is_live:
            raise IllegalTransition(f"order {self.terms['order_id']} is {self.status}")
        self._triggered()

    def cancel(self, reason: str) -> None:
        self._require(OrderStatus.CANCELLED)
        self._cancelled(qty_lots=self.leaves_qty_lots, reason=reason)

    def expire(self) -> None:
        self._require(OrderStatus.EXPIRED)
        self._expired(qty_lots=self.leaves_qty_lots)

    def _require(self, target: OrderStatus) -> None:
        if target not in ORDER_STATE_TABLE[self.order_status]:
            raise IllegalTransition(f"order {self.terms['order_id']} cannot go from {self.status} to {target.value}",
                                    order_id=self.terms["order_id"], status=self.status)

    # ---- mutators ------------------------------------------------------------------------------
    @event(Accepted)
    def _accepted(self) -> None:
        self.status = OrderStatus.ACCEPTED.value

    @event(Rejected)
    def _rejected(self, reason: str) -> None:
        self.status = OrderStatus.REJECTED.value
        self.leaves_qty_lots = 0

    @event(FillsRecorded)
    def _fills_recorded(self, fills: tuple[Fill, ...]) -> None:
        for fill in fills:
            self.leaves_qty_lots -= fill.qty_lots
            self.filled_qty_lots += fill.qty_lots
            self.filled_notional_ticks_lots += fill.price_ticks * fill.qty_lots
            self.fees_paid += fill.fee
        self.status = (OrderStatus.FILLED if self.leaves_qty_lots == 0 else OrderStatus.PARTIALLY_FILLED).value

    @event(Amended)
    def _amended(self, price_ticks: int, leaves_qty_lots: int, hold_per_lot: int) -> None:
        self.price_ticks = price_ticks
        self.leaves_qty_lots = leaves_qty_lots
        self.hold_per_lot = hold_per_lot

    @event(Reduced)
    def _reduced(self, qty_lots: int, reason: str) -> None:
        self.leaves_qty_lots -= qty_lots

    @event(Triggered)
    def _triggered(self) -> None:
        self.triggered = True

    @event(Cancelled)
    def _cancelled(self, qty_lots: int, reason: str) -> None:
        self.status = OrderStatus.CANCELLED.value
        self.leaves_qty_lots = 0

    @event(Expired)
    def _expired(self, qty_lots: int) -> None:
        self.status = OrderStatus.EXPIRED.value
        self.leaves_qty_lots = 0
