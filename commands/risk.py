"""Pre-trade checks: each refusal has its own reason, and an accepted order gets an exact plan.

The plan carries the order's terms in ticks and lots, what it must hold, and the order as the engine
sees it. Market orders are protected: a buy never pays more than its protection price (default: the top
of the price band), a sell never receives less (default: the bottom), so the engine receives them as
immediate-or-cancel limits at that price (stop_market likewise as a stop_limit, ioc). The funds check
itself is the wallet's hold, made by the venue.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from commands.order_commands import PlaceOrder
from domain.account import Account
from domain.errors import InvalidPrice, InvalidQuantity, OrderRefused
from domain.instrument import Instrument
from domain.order import OrderTerms
from domain.order_costs import HoldTerms, hold_terms
from domain.values import InstrumentSpec, Side
from engine import codes

ORDER_TYPES = ("limit", "market", "stop_limit", "stop_market")
TIFS = ("gtc", "ioc", "fok", "gtd")
STPS = ("none", "cancel_taker", "cancel_maker", "cancel_both", "decrement")


@dataclass(frozen=True)
class RiskLimits:
    max_open_orders_per_account: int = 500
    max_position_lots: int = 10**12  # |net position + what open orders could add| per account and instrument


@dataclass(frozen=True)
class EngineOrder:
    """The order as the engine receives it (codes from engine.codes)."""

    side: int
    order_type: int
    qty: int
    price: int
    trigger_price: int
    tif: int
    expire_at: int
    post_only: int
    display_qty: int
    stp: int
    flags: int


@dataclass(frozen=True)
class OrderPlan:
    terms: OrderTerms
    hold: HoldTerms
    engine: EngineOrder

    @property
    def side(self) -> Side:
        return Side(self.terms.side)


@dataclass(frozen=True)
class Exposure:
    """What an account already has in one instrument: its position and its open orders' lots."""

    net_lots: int = 0
    open_buy_lots: int = 0
    open_sell_lots: int = 0


def _choice(value: Any, allowed: tuple[str, ...], code: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise OrderRefused(code, f"{code.removeprefix('invalid_')} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _ticks(spec: InstrumentSpec, value: Any, name: str) -> int:
    if not isinstance(value, str | Decimal):
        raise InvalidPrice(f"{name} must be a decimal string, got {value!r}", field=name)
    return spec.check_price(spec.price_to_ticks(value))


def _lots(spec: InstrumentSpec, value: Any, name: str) -> int:
    if not isinstance(value, str | Decimal):
        raise InvalidQuantity(f"{name} must be a decimal string, got {value!r}", field=name)
    return spec.qty_to_lots(value)


def plan_order(cmd: PlaceOrder, order_id: int, instrument: Instrument, account: Account, limits: RiskLimits,
               open_orders: int, exposure: Exposure, spec: InstrumentSpec | None = None) -> OrderPlan:
    """Run the pre-trade checks in a fixed order; the first failing check refuses the order.

    `spec` is the instrument's current spec when the caller keeps it (it must be `instrument.spec`).
    The order's terms include what it holds per open lot (`hold_terms`).
    """
    instrument.require_trading()
    account.require_may_trade()
    if spec is None:
        spec = instrument.spec
    side = Side(_choice(cmd.side, ("buy", "sell"), "invalid_side"))
    order_type = _choice(cmd.order_type, ORDER_TYPES, "invalid_type")
    tif = _choice(cmd.tif, TIFS, "invalid_tif")
    stp = _choice(cmd.stp, STPS, "invalid_stp")
    if not isinstance(cmd.post_only, bool):
        raise OrderRefused("invalid_post_only", "post_only must be true or false")
    qty = spec.check_qty(_lots(spec, cmd.qty, "qty"))
    is_market = order_type in ("market", "stop_market")
    is_stop = order_type.startswith("stop")
    if is_market:
        if cmd.protection_price is not None:
            price = _ticks(spec, cmd.protection_price, "protection_price")
        else:
            price = spec.max_price_ticks if side is Side.BUY else spec.min_price_ticks
    else:
        if cmd.price is None:
            raise InvalidPrice(f"a {order_type} order needs a price", field="price")
        price = _ticks(spec, cmd.price, "price")
    trigger = 0
    if is_stop:
        if cmd.trigger_price is None:
            raise OrderRefused("invalid_trigger_price", "a stop order needs a trigger_price")
        trigger = _ticks(spec, cmd.trigger_price, "trigger_price")
    display = 0
    if cmd.display_qty is not None:
        display = _lots(spec, cmd.display_qty, "display_qty")
        if display > qty:
            raise OrderRefused("invalid_display_qty", f"display_qty {display} lots exceeds qty {qty} lots")
    expire_at = 0
    if tif == "gtd" and not is_market:
        if not isinstance(cmd.expire_at_ns, int) or isinstance(cmd.expire_at_ns, bool) or cmd.expire_at_ns <= 0:
            raise OrderRefused("missing_expire_at", "a gtd order needs expire_at_ns (int nanoseconds UTC)")
        expire_at = cmd.expire_at_ns
    if open_orders >= limits.max_open_orders_per_account:
        raise OrderRefused("too_many_open_orders", f"account {account.account_id} has {open_orders} open orders, "
                           f"the limit is {limits.max_open_orders_per_account}", account_id=account.account_id)
    worst = (exposure.net_lots + exposure.open_buy_lots + qty if side is Side.BUY
             else exposure.net_lots - exposure.open_sell_lots - qty)
    if abs(worst) > limits.max_position_lots:
        raise OrderRefused("position_limit", f"the order could take the position to {worst} lots, beyond the "
                           f"limit of {limits.max_position_lots}", account_id=account.account_id, symbol=spec.symbol)
    hold = hold_terms(spec, side, price)
    terms = OrderTerms(symbol=spec.symbol, order_id=order_id, account_id=account.account_id, side=side.value,
                       order_type=order_type, qty_lots=qty, price_ticks=price, trigger_price_ticks=trigger, tif=tif,
                       expire_at_ns=expire_at, post_only=cmd.post_only, display_qty_lots=display, stp=stp,
                       hold_asset=hold.asset, hold_per_lot=hold.per_lot)
    return OrderPlan(terms, hold, engine_order(terms))


def engine_order(terms: OrderTerms) -> EngineOrder:
    market = terms.order_type in ("market", "stop_market")
    engine_type = {"limit": codes.TYPE_LIMIT, "market": codes.TYPE_LIMIT, "stop_limit": codes.TYPE_STOP_LIMIT,
                   "stop_market": codes.TYPE_STOP_LIMIT}[terms.order_type]
    tif = codes.TIF_IOC if market else codes.TIF_CODES[terms.tif]
    flags = codes.HAS_PRICE | codes.HAS_QTY
    if terms.display_qty_lots:
        flags |= codes.HAS_DISPLAY_QTY
    if terms.expire_at_ns:
        flags |= codes.HAS_EXPIRE_AT
    return EngineOrder(side=codes.SIDE_CODES[terms.side], order_type=engine_type, qty=terms.qty_lots,
                       price=terms.price_ticks, trigger_price=terms.trigger_price_ticks, tif=tif,
                       expire_at=terms.expire_at_ns, post_only=int(terms.post_only),
                       display_qty=terms.display_qty_lots, stp=codes.STP_CODES[terms.stp], flags=flags)
