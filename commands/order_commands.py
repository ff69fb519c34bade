"""Trading commands. Prices and quantities arrive as decimal strings and are converted exactly against
the instrument's tick and lot at processing time (off-tick or off-lot input is refused, never rounded)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from commands.ledger_commands import Command


@dataclass(frozen=True)
class PlaceOrder(Command):
    account_id: int
    symbol: str
    side: str  # buy | sell
    order_type: str  # limit | market | stop_limit | stop_market
    qty: str  # base units, e.g. "0.5"
    price: str | None = None  # quote per base unit: limit and stop_limit
    trigger_price: str | None = None  # stop types
    tif: str = "gtc"  # gtc | ioc | fok | gtd
    expire_at_ns: int | None = None  # gtd only
    post_only: bool = False
    display_qty: str | None = None  # iceberg: the visible part
    stp: str = "none"  # none | cancel_taker | cancel_maker | cancel_both | decrement
    protection_price: str | None = None  # market and stop_market: the worst price accepted
    kind: ClassVar[str] = "place_order"


@dataclass(frozen=True)
class CancelOrder(Command):
    account_id: int
    symbol: str
    order_id: int
    kind: ClassVar[str] = "cancel_order"


@dataclass(frozen=True)
class AmendOrder(Command):
    account_id: int
    symbol: str
    order_id: int
    price: str | None = None
    qty: str | None = None  # the new total open qty (visible + hidden)
    kind: ClassVar[str] = "amend_order"


@dataclass(frozen=True)
class ExpireDue(Command):
    """The venue's own command: let every market whose gtd orders are due see the time `now_ns`.

    The engine has no clock: a gtd order expires when a command with a later timestamp reaches its book.
    When a market is idle, the sequencer sends this so that due orders expire (and release their holds)
    on time. Each due market gets one engine row (a cancel of order id 0, which no order has): the engine
    runs its expiries first, then rejects the cancel. Recorded and replayed like any other row.
    """

    now_ns: int
    kind: ClassVar[str] = "expire_due"
