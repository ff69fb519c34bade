"""Reference model of the matching engine: an independent, plain-Python reading of ENGINE.md.

Written for clarity, not speed: orders are small objects, a book side is a dict price -> list of
orders (always iterated through `sorted`), and a FOK dry run matches on a deep copy of the book.
It is never imported by the engine; tests feed the same commands to both and diff the results.

Choices where ENGINE.md is silent (each is marked "SILENT:" where it is implemented):
- Input ENGINE.md has no rejection reason for is not a command at all: `MalformedCommand` (the API's
  exception) when a command is not an object, its `symbol` is not a non-empty string, its `ts` or
  `order_id` (any op) is not an int64 (order_id also >= 0), or, for `new`, its `account_id` is not a
  non-negative int64 or its `post_only` is present and neither true, false nor null. (Adopted after
  comparing with the engine, which does the same; ENGINE.md names no reason for these, and an
  `invalid_op` rejection needs an order_id to carry.) A decreasing ts is not checked: expiry simply
  finds nothing new.
- A field whose value is JSON null counts as missing (so tif/stp fall back to their defaults).
- An integer field is a JSON integer: bool and float (even 5.0) are not integers; int64 bounds apply.
- Check order of `new` rejections: duplicate_order_id, then the "Invalid input" list (invalid_side,
  invalid_type, invalid_qty, invalid_price, invalid_trigger_price, invalid_tif, invalid_display_qty,
  invalid_stp), then missing_expire_at / invalid_expire_at, then post_only_not_limit,
  post_only_invalid_tif, then post_only_would_cross (it needs a valid side and price, so it is last).
  A gtd expire_at beyond int64 is `missing_expire_at` (it is not an int64).
- Check order of `amend`: unknown_order (the id first), invalid_amend, invalid_price, invalid_qty,
  not_amendable, post_only_would_cross.
- An order sent with `display_qty == qty` is a plain order for its whole life: if an amend later raises
  its qty it re-enters fully visible.
- Expiry "acceptance order" is the order of the `accepted` events: an amend re-entry or a stop trigger
  does not change it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

SIDES = ("buy", "sell")
TYPES = ("limit", "market", "stop_limit", "stop_market")
TIFS = ("gtc", "ioc", "fok", "gtd")
STPS = ("none", "cancel_taker", "cancel_maker", "cancel_both", "decrement")

Event = dict[str, Any]
Books = dict[str, Any]


class MalformedCommand(ValueError):
    """Input that cannot become a command at all (same contract as engine.replay.MalformedCommand)."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(f"command {index}: {message}")
        self.index = index
        self.message = message


class Rejected(Exception):
    """Internal: a command is rejected with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_int64(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX


def is_positive_int64(value: object) -> bool:
    return is_int64(value) and value > 0  # type: ignore[operator]


def is_id(value: object) -> bool:
    return is_int64(value) and value >= 0  # type: ignore[operator]


@dataclass
class Order:
    order_id: int
    account_id: int
    side: str
    kind: str  # limit | market | stop_limit | stop_market
    qty: int  # the quantity at submission (a waiting stop's quantity)
    price: int | None  # None for market and stop_market
    trigger_price: int | None
    tif: str  # meaningful for limit and stop_limit only
    expire_at: int | None  # set only for limit/stop_limit with tif gtd
    post_only: bool
    display_qty: int | None  # None: plain order
    stp: str
    acceptance: int  # position of its `accepted` event in the book: expiry tie-break
    remaining: int = 0  # while incoming: what is left to match
    visible: int = 0  # while resting
    hidden: int = 0  # while resting

    @property
    def total(self) -> int:
        return self.visible + self.hidden

    def show(self, remaining: int) -> None:
        """Set visible/hidden for a resting order from its total remaining qty."""
        self.visible = remaining if self.display_qty is None else min(self.display_qty, remaining)
        self.hidden = remaining - self.visible


@dataclass
class Book:
    symbol: str
    bids: dict[int, list[Order]] = field(default_factory=dict)
    asks: dict[int, list[Order]] = field(default_factory=dict)
    waiting_stops: list[Order] = field(default_factory=list)  # in acceptance order
    live: dict[int, Order] = field(default_factory=dict)  # resting orders and waiting stops by id
    used_ids: set[int] = field(default_factory=set)  # every id ever accepted in this book
    last_trade_price: int | None = None
    acceptances: int = 0
    triggered: list[Order] = field(default_factory=list)  # triggered, not yet entered
    out: list[Event] = field(default_factory=list)
    seq: int = 0

    # ------------------------------------------------------------------ events
    def emit(self, kind: str, **fields: Any) -> None:
        event: Event = {"seq": self.seq, "symbol": self.symbol, "type": kind}
        event.update(fields)
        self.out.append(event)

    def accepted(self, order_id: int) -> None:
        self.emit("accepted", order_id=order_id)

    def rejected(self, order_id: int, reason: str) -> None:
        self.emit("rejected", order_id=order_id, reason=reason)

    def trade(self, taker: Order, maker: Order, price: int, qty: int) -> None:
        self.emit(
            "trade",
            taker_order_id=taker.order_id,
            maker_order_id=maker.order_id,
            price=price,
            qty=qty,
            taker_side=taker.side,
        )

    def cancelled(self, order_id: int, qty: int, reason: str) -> None:
        self.emit("cancelled", order_id=order_id, qty=qty, reason=reason)

    # ------------------------------------------------------------------ book structure
    def side_levels(self, side: str) -> dict[int, list[Order]]:
        return self.bids if side == "buy" else self.asks

    def opposite_levels(self, side: str) -> dict[int, list[Order]]:
        return self.asks if side == "buy" else self.bids

    def best_price(self, levels: dict[int, list[Order]], side: str) -> int | None:
        """Best price of the resting side `side` (bids: highest, asks: lowest)."""
        if not levels:
            return None
        return max(levels) if side == "buy" else min(levels)

    def best_opposite(self, side: str) -> int | None:
        return self.best_price(self.opposite_levels(side), "sell" if side == "buy" else "buy")

    def crosses(self, side: str, price: int) -> bool:
        best = self.best_opposite(side)
        if best is None:
            return False
        return price >= best if side == "buy" else price <= best

    def rest(self, order: Order, remaining: int) -> None:
        order.show(remaining)
        self.side_levels(order.side).setdefault(order.price, []).append(order)  # type: ignore[arg-type]
        self.live[order.order_id] = order

    def unlink(self, order: Order) -> None:
        """Take a resting order out of its level and of the live index."""
        levels = self.side_levels(order.side)
        level = levels[order.price]  # type: ignore[index]
        level.remove(order)
        if not level:
            del levels[order.price]  # type: ignore[arg-type]
        del self.live[order.order_id]

    def remove_live(self, order: Order) -> int:
        """Take a live order (resting or waiting stop) away; return the qty taken off."""
        if order in self.waiting_stops:
            self.waiting_stops.remove(order)
            del self.live[order.order_id]
            return order.qty
        qty = order.total
        self.unlink(order)
        return qty

    def books_view(self) -> dict[str, list[Any]]:
        def side_view(levels: dict[int, list[Order]], descending: bool) -> list[Any]:
            return [
                [price, [[o.order_id, o.visible, o.hidden] for o in levels[price]]]
                for price in sorted(levels, reverse=descending)
            ]

        return {"bids": side_view(self.bids, True), "asks": side_view(self.asks, False)}

    # ------------------------------------------------------------------ commands
    def process(self, seq: int, command: Mapping[str, Any]) -> None:
        """One command that passed `check_well_formed`."""
        self.seq = seq
        ts: int = command["ts"]
        order_id: int = command["order_id"]
        self.expire(ts)
        op = command.get("op")
        if op == "new":
            self.new(command, order_id, ts)
        elif op == "cancel":
            self.cancel(order_id)
        elif op == "amend":
            self.amend(command, order_id)
        else:
            self.rejected(order_id, "invalid_op")
        self.run_triggered_stops()

    def expire(self, ts: int) -> None:
        due = [o for o in self.live.values() if o.expire_at is not None and o.expire_at <= ts]
        for order in sorted(due, key=lambda o: (o.expire_at, o.acceptance)):
            self.emit("expired", order_id=order.order_id, qty=self.remove_live(order))

    def cancel(self, order_id: int) -> None:
        order = self.live.get(order_id)
        if order is None:
            self.rejected(order_id, "unknown_order")
            return
        self.cancelled(order.order_id, self.remove_live(order), "user")

    def amend(self, command: Mapping[str, Any], order_id: int) -> None:
        order = self.live.get(order_id)
        price = command.get("price")
        qty = command.get("qty")
        # SILENT: the order of amend checks (the id first, then the order ENGINE.md lists them).
        reason = None
        if order is None:
            reason = "unknown_order"
        elif price is None and qty is None:
            reason = "invalid_amend"
        elif price is not None and not is_positive_int64(price):
            reason = "invalid_price"
        elif qty is not None and not is_positive_int64(qty):
            reason = "invalid_qty"
        elif order in self.waiting_stops:
            reason = "not_amendable"
        if reason is not None:
            self.rejected(order_id, reason)
            return
        assert order is not None and order.price is not None
        new_price = order.price if price is None else price
        new_qty = order.total if qty is None else qty
        if new_price == order.price and new_qty <= order.total:
            # Keeps time priority; an iceberg loses hidden qty first.
            order.visible = min(order.visible, new_qty)
            order.hidden = new_qty - order.visible
            self.emit("amended", order_id=order.order_id, price=new_price, qty=new_qty)
            return
        if order.post_only and self.crosses(order.side, new_price):
            self.rejected(order.order_id, "post_only_would_cross")
            return
        self.unlink(order)
        self.emit("amended", order_id=order.order_id, price=new_price, qty=new_qty)
        order.price = new_price
        order.remaining = new_qty
        self.enter(order)

    def new(self, command: Mapping[str, Any], order_id: int, ts: int) -> None:
        try:
            order = self.validate_new(command, order_id, ts)
        except Rejected as rejection:
            self.rejected(order_id, rejection.reason)
            return
        self.used_ids.add(order.order_id)
        self.acceptances += 1
        order.acceptance = self.acceptances
        self.accepted(order.order_id)
        if order.kind in ("stop_limit", "stop_market"):
            if self.last_trade_price is not None and self.stop_condition(order, self.last_trade_price):
                self.triggered.append(order)
            else:
                self.waiting_stops.append(order)
                self.live[order.order_id] = order
            return
        self.enter(order)

    def validate_new(self, c: Mapping[str, Any], order_id: int, ts: int) -> Order:
        if order_id in self.used_ids:
            raise Rejected("duplicate_order_id")
        account_id: int = c["account_id"]
        # Raw JSON values until validated, hence Any.
        side: Any = c.get("side")
        if side not in SIDES:
            raise Rejected("invalid_side")
        kind: Any = c.get("type")
        if kind not in TYPES:
            raise Rejected("invalid_type")
        qty: Any = c.get("qty")
        if not is_positive_int64(qty):
            raise Rejected("invalid_qty")
        is_limit_like = kind in ("limit", "stop_limit")
        price: Any = c.get("price") if is_limit_like else None
        if is_limit_like and not is_positive_int64(price):
            raise Rejected("invalid_price")
        trigger_price: Any = c.get("trigger_price") if kind in ("stop_limit", "stop_market") else None
        if kind in ("stop_limit", "stop_market") and not is_positive_int64(trigger_price):
            raise Rejected("invalid_trigger_price")
        tif: Any = "gtc"
        if is_limit_like:
            tif = c.get("tif") if c.get("tif") is not None else "gtc"
            if tif not in TIFS:
                raise Rejected("invalid_tif")
        # display_qty applies to gtc/gtd limits only.
        display_qty: Any = c.get("display_qty") if kind == "limit" and tif in ("gtc", "gtd") else None
        if display_qty is not None and not (is_positive_int64(display_qty) and display_qty <= qty):
            raise Rejected("invalid_display_qty")
        if display_qty == qty:
            display_qty = None  # "display_qty == qty is a plain order"
        stp: Any = c.get("stp") if c.get("stp") is not None else "none"
        if stp not in STPS:
            raise Rejected("invalid_stp")
        expire_at: Any = None
        if is_limit_like and tif == "gtd":
            expire_at = c.get("expire_at")
            if not is_int64(expire_at):
                raise Rejected("missing_expire_at")
            if expire_at <= ts:
                raise Rejected("invalid_expire_at")
        post_only = c.get("post_only") is True
        if post_only and kind != "limit":
            raise Rejected("post_only_not_limit")
        if post_only and tif not in ("gtc", "gtd"):
            raise Rejected("post_only_invalid_tif")
        if post_only and self.crosses(side, price):
            raise Rejected("post_only_would_cross")
        return Order(
            order_id=order_id,
            account_id=account_id,
            side=side,
            kind=kind,
            qty=qty,
            price=price,
            trigger_price=trigger_price,
            tif=tif,
            expire_at=expire_at,
            post_only=post_only,
            display_qty=display_qty,
            stp=stp,
            acceptance=0,
            remaining=qty,
        )

    # ------------------------------------------------------------------ matching
    def enter(self, order: Order) -> None:
        """An incoming order (new, amend re-entry or triggered stop) meets the book."""
        is_fok = order.tif == "fok" and order.kind in ("limit", "stop_limit")
        if is_fok and not self.fok_would_fill(order):
            self.cancelled(order.order_id, order.remaining, "fok")
            return
        self.match(order)
        if order.remaining == 0:
            return
        if order.kind in ("market", "stop_market"):
            self.cancelled(order.order_id, order.remaining, "no_liquidity")
        elif order.tif == "ioc":
            self.cancelled(order.order_id, order.remaining, "ioc")
        else:
            assert order.tif in ("gtc", "gtd"), "a fok that passed its dry run is filled"
            self.rest(order, order.remaining)

    def fok_would_fill(self, order: Order) -> bool:
        """Dry run of normal matching, STP included, on a copy of the book."""
        out, self.out = self.out, []  # do not copy the whole event history
        trial = copy.deepcopy(self)
        self.out = out
        taker = copy.deepcopy(order)
        trial.match(taker)
        filled: int = sum(e["qty"] for e in trial.out if e["type"] == "trade")
        return filled == order.remaining

    def match(self, taker: Order) -> None:
        opposite = self.opposite_levels(taker.side)
        while taker.remaining > 0:
            best = self.best_opposite(taker.side)
            if best is None:
                return
            if taker.price is not None and taker.kind in ("limit", "stop_limit"):
                limit_ok = taker.price >= best if taker.side == "buy" else taker.price <= best
                if not limit_ok:
                    return
            level = opposite[best]
            maker = level[0]
            if maker.account_id == taker.account_id and taker.stp != "none":
                if not self.self_trade(taker, maker):
                    return
                continue
            qty = min(taker.remaining, maker.visible)
            self.trade(taker, maker, best, qty)
            taker.remaining -= qty
            maker.visible -= qty
            if maker.visible == 0:
                level.pop(0)
                if maker.hidden > 0:
                    # Iceberg refresh: new visible slice at the back of the queue at its price.
                    maker.show(maker.hidden)
                    level.append(maker)
                else:
                    del self.live[maker.order_id]
                if not level:
                    del opposite[best]
            self.on_trade(best)

    def self_trade(self, taker: Order, maker: Order) -> bool:
        """Apply the taker's STP against a same-account maker. Return True to keep matching."""
        if taker.stp == "cancel_taker":
            self.cancelled(taker.order_id, taker.remaining, "stp")
            taker.remaining = 0
            return False
        if taker.stp == "cancel_maker":
            self.cancelled(maker.order_id, self.remove_live(maker), "stp")
            return True
        if taker.stp == "cancel_both":
            self.cancelled(maker.order_id, self.remove_live(maker), "stp")
            self.cancelled(taker.order_id, taker.remaining, "stp")
            taker.remaining = 0
            return False
        assert taker.stp == "decrement"
        amount = min(taker.remaining, maker.total)
        from_hidden = min(amount, maker.hidden)
        maker.hidden -= from_hidden
        maker.visible -= amount - from_hidden
        taker.remaining -= amount
        if maker.total == 0:
            self.unlink(maker)
            self.cancelled(maker.order_id, amount, "stp")
        if taker.remaining == 0:
            self.cancelled(taker.order_id, amount, "stp")
            return False
        return True

    # ------------------------------------------------------------------ stops
    @staticmethod
    def stop_condition(stop: Order, trade_price: int) -> bool:
        assert stop.trigger_price is not None
        if stop.side == "buy":
            return trade_price >= stop.trigger_price
        return trade_price <= stop.trigger_price

    def on_trade(self, price: int) -> None:
        self.last_trade_price = price
        for stop in list(self.waiting_stops):
            if self.stop_condition(stop, price):
                self.waiting_stops.remove(stop)
                del self.live[stop.order_id]
                self.triggered.append(stop)

    def run_triggered_stops(self) -> None:
        while self.triggered:
            this_round = sorted(
                (s for s in self.triggered if s.side == "buy"),
                key=lambda s: (s.trigger_price, s.acceptance),
            ) + sorted(
                (s for s in self.triggered if s.side == "sell"),
                key=lambda s: (-s.trigger_price, s.acceptance),  # type: ignore[operator]
            )
            self.triggered = []  # stops triggered by this round's trades wait for the next round
            for stop in this_round:
                self.emit("triggered", order_id=stop.order_id)
                stop.remaining = stop.qty
                self.enter(stop)


def check_well_formed(index: int, command: object) -> Mapping[str, Any]:
    """SILENT: what cannot be expressed as an ENGINE.md command or rejection is MalformedCommand."""
    if not isinstance(command, Mapping):
        raise MalformedCommand(index, "not a JSON object")
    symbol = command.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise MalformedCommand(index, "'symbol' must be a non-empty string")
    if not is_int64(command.get("ts")):
        raise MalformedCommand(index, "'ts' must be an int64")
    if not is_id(command.get("order_id")):
        raise MalformedCommand(index, "'order_id' must be a non-negative int64")
    if command.get("op") == "new":
        if not is_id(command.get("account_id")):
            raise MalformedCommand(index, "'account_id' must be a non-negative int64")
        post_only = command.get("post_only")
        if post_only is not None and not isinstance(post_only, bool):
            raise MalformedCommand(index, "'post_only' must be true or false")
    return command


def replay_commands(commands: Iterable[Mapping[str, Any]]) -> tuple[list[Event], Books]:
    """Same contract as engine.replay.replay_commands."""
    books: dict[str, Book] = {}
    events: list[Event] = []
    for index, raw in enumerate(commands):
        command = check_well_formed(index, raw)
        symbol: str = command["symbol"]
        book = books.setdefault(symbol, Book(symbol))
        book.out = events
        book.process(index + 1, command)
    return events, {symbol: books[symbol].books_view() for symbol in sorted(books)}
