"""Orders: an explicit lifecycle state table; fills carry trade id, price, qty, fee and liquidity."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

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


_LIVE = frozenset({OrderStatus.ACCEPTED.value, OrderStatus.PARTIALLY_FILLED.value})
_LIQUIDITY = frozenset(liquidity.value for liquidity in Liquidity)

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
_STATE_TABLE_BY_VALUE = {status.value: targets for status, targets in ORDER_STATE_TABLE.items()}


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
    """One order's life. Events change state through their own `apply` (replayed as written)."""

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

        def mutate(self, aggregate: Any) -> Any:
            """Build the order from this event (replay and creation alike), without the generic path's
            per-call signature matching: orders are created by the thousand per batch."""
            if aggregate is not None:
                raise IllegalTransition("an order is created once")
            order = Order.__new__(Order)
            order.__base_init__(self.originator_id, self.originator_version, self.timestamp)
            order.__init__(self.terms, self.outcome, self.reason)  # type: ignore[misc]
            return order

    @dataclass(frozen=True)
    class Accepted(LedgerAggregate.Event):
        TOPIC = "tradex.Order.Accepted"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = OrderStatus.ACCEPTED.value

    @dataclass(frozen=True)
    class Rejected(LedgerAggregate.Event):
        TOPIC = "tradex.Order.Rejected"
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status = OrderStatus.REJECTED.value
            aggregate.leaves_qty_lots = 0

    @dataclass(frozen=True)
    class FillsRecorded(LedgerAggregate.Event):
        TOPIC = "tradex.Order.FillsRecorded"
        fills: tuple[Fill, ...]

        def apply(self, aggregate: Any) -> None:
            for fill in self.fills:
                aggregate.leaves_qty_lots -= fill.qty_lots
                aggregate.filled_qty_lots += fill.qty_lots
                aggregate.filled_notional_ticks_lots += fill.price_ticks * fill.qty_lots
                aggregate.fees_paid += fill.fee
            aggregate.status = (OrderStatus.FILLED if aggregate.leaves_qty_lots == 0
                                else OrderStatus.PARTIALLY_FILLED).value

    @dataclass(frozen=True)
    class Amended(LedgerAggregate.Event):
        TOPIC = "tradex.Order.Amended"
        price_ticks: int
        leaves_qty_lots: int
        hold_per_lot: int

        def apply(self, aggregate: Any) -> None:
            aggregate.price_ticks = self.price_ticks
            aggregate.leaves_qty_lots = self.leaves_qty_lots
            aggregate.hold_per_lot = self.hold_per_lot

    @dataclass(frozen=True)
    class Reduced(LedgerAggregate.Event):
        """Part of the open qty removed without a trade (self-trade prevention's decrement)."""

        TOPIC = "tradex.Order.Reduced"
        qty_lots: int
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.leaves_qty_lots -= self.qty_lots

    @dataclass(frozen=True)
    class Triggered(LedgerAggregate.Event):
        TOPIC = "tradex.Order.Triggered"

        def apply(self, aggregate: Any) -> None:
            aggregate.triggered = True

    @dataclass(frozen=True)
    class Cancelled(LedgerAggregate.Event):
        TOPIC = "tradex.Order.Cancelled"
        qty_lots: int
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status = OrderStatus.CANCELLED.value
            aggregate.leaves_qty_lots = 0

    @dataclass(frozen=True)
    class Expired(LedgerAggregate.Event):
        TOPIC = "tradex.Order.Expired"
        qty_lots: int

        def apply(self, aggregate: Any) -> None:
            aggregate.status = OrderStatus.EXPIRED.value
            aggregate.leaves_qty_lots = 0

    @classmethod
    def place(cls, terms: OrderTerms, outcome: OrderStatus = OrderStatus.NEW, reason: str = "") -> Order:
        require(terms.qty_lots > 0, "an order has a positive qty")
        require(outcome in (OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.REJECTED),
                "an order is placed new, accepted or rejected")
        require((outcome is OrderStatus.REJECTED) == bool(reason), "a rejection, and only a rejection, has a reason")
        created = cls.Created(originator_topic=cls.TOPIC, originator_id=order_uuid(terms.symbol, terms.order_id),
                              originator_version=cls.INITIAL_VERSION, timestamp=cls.Created.create_timestamp(),
                              terms=dict(terms.__dict__), outcome=outcome.value, reason=reason)
        order: Order = created.mutate(None)
        order._pending_events.append(created)
        return order

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
        return self.status in _LIVE

    @property
    def open_hold(self) -> int:
        """What the order holds while open: open lots x its per-lot cost (domain.order_costs)."""
        return self.leaves_qty_lots * self.hold_per_lot if self.is_live or self.status == OrderStatus.NEW else 0

    @property
    def side(self) -> Side:
        return Side(self.terms["side"])

    # ---- commands ------------------------------------------------------------------------------
    def accept(self) -> None:
        self._require(OrderStatus.ACCEPTED)
        self._trigger(self.Accepted)

    def reject(self, reason: str) -> None:
        self._require(OrderStatus.REJECTED)
        self._trigger(self.Rejected, reason=reason)

    def record_fills(self, fills: tuple[Fill, ...]) -> None:
        require(len(fills) > 0, "no fills to record")
        total = 0
        for fill in fills:
            if fill.qty_lots <= 0 or fill.price_ticks <= 0 or fill.fee < 0:
                raise InvalidFill("fills have positive qty and price and a non-negative fee")
            if fill.liquidity not in _LIQUIDITY:
                raise InvalidFill(f"unknown liquidity {fill.liquidity!r}")
            total += fill.qty_lots
        if total > self.leaves_qty_lots:
            raise InvalidFill(f"fills of {total} lots exceed the {self.leaves_qty_lots} lots open",
                              order_id=self.terms["order_id"])
        self._require(OrderStatus.FILLED if total == self.leaves_qty_lots else OrderStatus.PARTIALLY_FILLED)
        self._trigger(self.FillsRecorded, fills=fills)

    def amend(self, price_ticks: int, leaves_qty_lots: int, hold_per_lot: int | None = None) -> None:
        require(price_ticks >= 0 and leaves_qty_lots > 0, "an amend keeps a positive open qty")
        if not self.is_live:
            raise IllegalTransition(f"order {self.terms['order_id']} is {self.status}")
        per_lot = self.hold_per_lot if hold_per_lot is None else hold_per_lot
        self._trigger(self.Amended, price_ticks=price_ticks, leaves_qty_lots=leaves_qty_lots,
                           hold_per_lot=per_lot)

    def reduce(self, qty_lots: int, reason: str) -> None:
        if not self.is_live:
            raise IllegalTransition(f"order {self.terms['order_id']} is {self.status}")
        require(0 < qty_lots < self.leaves_qty_lots, "a reduction leaves a positive open qty")
        self._trigger(self.Reduced, qty_lots=qty_lots, reason=reason)

    def trigger(self) -> None:
        require(self.terms["order_type"].startswith("stop") and not self.triggered, "only a waiting stop triggers")
        if not self.is_live:
            raise IllegalTransition(f"order {self.terms['order_id']} is {self.status}")
        self._trigger(self.Triggered)

    def cancel(self, reason: str) -> None:
        self._require(OrderStatus.CANCELLED)
        self._trigger(self.Cancelled, qty_lots=self.leaves_qty_lots, reason=reason)

    def expire(self) -> None:
        self._require(OrderStatus.EXPIRED)
        self._trigger(self.Expired, qty_lots=self.leaves_qty_lots)

    def _require(self, target: OrderStatus) -> None:
        if target not in _STATE_TABLE_BY_VALUE[self.status]:
            raise IllegalTransition(f"order {self.terms['order_id']} cannot go from {self.status} to {target.value}",
                                    order_id=self.terms["order_id"], status=self.status)
