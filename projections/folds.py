"""Read-side state folded from ledger events with the domain's own rules (no I/O).

A projector keeps a small working state per aggregate it follows (an open order, a position, an
instrument's spec) and folds each event into it. The fold is the domain's: `OrderState` and
`PositionState` carry exactly the attributes the domain's `Order` and `Position` aggregates carry, are
initialised by those aggregates' own `__init__`, and every event is applied by the event's own `apply`
method, which is how the write side folds them too. The read side therefore cannot drift from the
write side's arithmetic (fills, leaves, the position rounding rule).

Each state also remembers the aggregate version it has reached: a projector checks that every event
is the next one of its aggregate (`require_next`), so a lost or repeated event fails loudly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, replace
from fractions import Fraction
from typing import Any, Final, cast
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.asset import AssetDefinition
from domain.ids import instrument_id
from domain.instrument import Instrument
from domain.order import Fill, Order, OrderStatus
from domain.position import Position, PositionFill
from domain.values import InstrumentSpec
from domain.wallet import Wallet

Logged = tuple[int, Any]  # (notification id, domain event)


class ProjectionError(RuntimeError):
    """The log does not fold: a missing or repeated event, an unknown aggregate. Never skipped."""


def topics_of(*event_classes: type) -> frozenset[str]:
    return frozenset(get_topic(cls) for cls in event_classes)


ORDER_EVENTS: Final = (Order.Created, Order.Accepted, Order.Rejected, Order.FillsRecorded, Order.Amended,
                       Order.Reduced, Order.Triggered, Order.Cancelled, Order.Expired)
INSTRUMENT_EVENTS: Final = (Instrument.Created, Instrument.Changed, Instrument.Halted, Instrument.Resumed,
                            Instrument.Delisted)
WALLET_EVENTS: Final = (Wallet.Created, Wallet.EntriesPosted, Wallet.FundsHeld, Wallet.HoldReleased,
                        Wallet.HoldsChanged)
POSITION_EVENTS: Final = (Position.Created, Position.FillsApplied)
ASSET_EVENTS: Final = (AssetDefinition.Created,)

ORDER_UPDATES: Final = frozenset(ORDER_EVENTS[1:])  # every order event but the placement

# The name each order event gets in the read models (order history, ClickHouse order_events).
ORDER_EVENT_TYPES: Final[dict[type, str]] = {
    Order.Created: "placed", Order.Accepted: "accepted", Order.Rejected: "rejected",
    Order.FillsRecorded: "filled", Order.Amended: "amended", Order.Reduced: "reduced",
    Order.Triggered: "triggered", Order.Cancelled: "cancelled", Order.Expired: "expired",
}
_REJECTED: Final = OrderStatus.REJECTED.value
LIVE_STATUSES: Final = frozenset({OrderStatus.NEW.value, OrderStatus.ACCEPTED.value,
                                  OrderStatus.PARTIALLY_FILLED.value})


class OrderState:
    """One order as the read side knows it: the domain Order's attributes, plus where it is in the log."""

    terms: dict[str, Any]
    status: str
    price_ticks: int
    leaves_qty_lots: int
    filled_qty_lots: int
    filled_notional_ticks_lots: int
    fees_paid: int
    triggered: bool
    hold_per_lot: int
    hold_ref: str

    def __init__(self, order_uuid: UUID, terms: dict[str, Any], outcome: str, reason: str) -> None:
        # Order.__init__'s initial state, written out (it costs a quarter of the projector's time per order
        # when called: enum lookups); tests/projections/test_folds.py checks both agree.
        self.terms = terms
        self.status = outcome
        self.price_ticks = int(terms["price_ticks"])
        self.leaves_qty_lots = 0 if outcome == _REJECTED else int(terms["qty_lots"])
        self.filled_qty_lots = 0
        self.filled_notional_ticks_lots = 0
        self.fees_paid = 0
        self.triggered = False
        self.hold_per_lot = int(terms.get("hold_per_lot", 0))
        self.hold_ref = f"order:{terms['symbol']}:{terms['order_id']}"
        self.symbol = str(terms["symbol"])
        self.order_id = int(terms["order_id"])
        self.account_id = int(terms["account_id"])
        self.side = str(terms["side"])
        self.order_uuid = order_uuid
        self.reason = reason  # the last rejection, cancellation or reduction reason
        self.version = 1
        self.placed_position = 0
        self.placed_at_ns = 0
        self.last_position = 0
        self.updated_at_ns = 0

    @classmethod
    def placed(cls, event: Any, position: int) -> OrderState:
        state = cls(event.originator_id, dict(event.terms), event.outcome, event.reason)
        state.placed_position = state.last_position = position
        state.placed_at_ns = state.updated_at_ns = event.at_ns
        return state

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    def apply(self, event: Any, position: int) -> None:
        """Fold the order's next event (the event's own `apply`, as the write side does)."""
        version = event.originator_version
        if version != self.version + 1:
            require_next(self.version, event, f"order {self.symbol}:{self.order_id}")
        event.apply(self)
        reason = event.__dict__.get("reason")
        if reason:
            self.reason = str(reason)
        self.version = version
        self.last_position = position
        self.updated_at_ns = event.at_ns


class PositionState:
    """One account's position in one instrument: the domain Position's attributes, folded by its events."""

    net_qty_lots: int
    open_cost: int
    realized_pnl: int
    fees_paid: int
    bought_lots: int
    sold_lots: int

    def __init__(self, position_uuid: UUID, account_id: int, symbol: str, tick_lot_value: int) -> None:
        Position.__init__(cast(Any, self), account_id, symbol, tick_lot_value)
        self.position_uuid = position_uuid
        self.account_id = account_id
        self.symbol = symbol
        self.tick_lot_value = tick_lot_value
        self.version = 1
        self.last_position = 0
        self.updated_at_ns = 0

    def _apply(self, fill: PositionFill) -> None:
        """Called by `Position.FillsApplied.apply`: the domain's rule, including its rounding."""
        Position._apply(cast(Any, self), fill)

    def apply(self, event: Any, position: int) -> None:
        require_next(self.version, event, f"position {self.account_id}/{self.symbol}")
        event.apply(self)
        self.version = event.originator_version
        self.last_position = position
        self.updated_at_ns = event.at_ns

    def average_entry_price_ticks(self) -> Fraction | None:
        """Exact: |open cost| / (|net qty| x tick_lot_value) ticks (the domain's definition)."""
        return Position.average_entry_price_ticks(cast(Any, self))

    def unrealized_pnl(self, mark_price_ticks: int) -> int:
        return Position.unrealized_pnl(cast(Any, self), mark_price_ticks)


def require_next(version: int, event: Any, what: str) -> None:
    if event.originator_version != version + 1:
        raise ProjectionError(f"{what}: event version {event.originator_version} after version {version} "
                              "(an event was lost or repeated)")


class SpecBook:
    """Each instrument's spec as of the events seen so far (notionals use the spec in force at the trade)."""

    def __init__(self, specs: Mapping[str, InstrumentSpec] | None = None) -> None:
        self.specs: dict[str, InstrumentSpec] = {}
        self.symbols: dict[UUID, str] = {}  # instrument aggregate id -> symbol
        for spec in (specs or {}).values():
            self.add(spec)

    def add(self, spec: InstrumentSpec) -> None:
        self.specs[spec.symbol] = spec
        self.symbols[instrument_id(spec.symbol)] = spec.symbol

    def apply(self, event: Any) -> InstrumentSpec | None:
        """Fold an instrument event; returns the new spec when the event changed it."""
        if isinstance(event, Instrument.Created):
            spec = InstrumentSpec(**event.spec)
        elif isinstance(event, Instrument.Changed):
            changes: dict[str, Any] = dict(event.changes)
            spec = replace(self.spec(self.symbol_of(event.originator_id)), **changes)
        else:
            return None
        self.add(spec)
        return spec

    def symbol_of(self, instrument_uuid: UUID) -> str:
        try:
            return self.symbols[instrument_uuid]
        except KeyError:
            raise ProjectionError(f"instrument {instrument_uuid} has an event before its listing") from None

    def spec(self, symbol: str) -> InstrumentSpec:
        try:
            return self.specs[symbol]
        except KeyError:
            raise ProjectionError(f"no instrument {symbol} listed before its first trade") from None

    def tick_lot_value(self, symbol: str) -> int:
        return self.spec(symbol).tick_lot_value


def spec_fields(spec: InstrumentSpec) -> dict[str, Any]:
    return asdict(spec)


def fills_of(event: Any) -> tuple[Fill, ...]:
    return tuple(event.fills)
