"""A seeded synthetic market: market makers quoting around a drifting mid, takers crossing, cancels,
amends, and now and then the rarer order kinds (stops, icebergs, fok, gtd, post-only, self-trade modes).

It only generates commands; it tracks which orders it believes are open from the venue's acks, so
cancels and amends mostly target live orders (and sometimes dead ones, which the venue refuses).
Everything is drawn from one random.Random(seed): the same seed gives the same commands.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from commands import ledger_commands as c
from commands.order_commands import AmendOrder, CancelOrder, PlaceOrder
from domain.values import InstrumentSpec


@dataclass(frozen=True)
class SimulatedMarket:
    spec: InstrumentSpec
    mid_ticks: int


@dataclass
class MarketSimulation:
    markets: list[SimulatedMarket]
    accounts: list[int]
    seed: int = 7
    exotic_share: float = 0.15  # share of orders of the rarer kinds
    stp_modes: tuple[str, ...] = ("cancel_taker", "cancel_both", "decrement")  # of the self-trade orders
    rng: random.Random = field(init=False)
    open_orders: dict[tuple[str, int], int] = field(default_factory=dict)  # (symbol, order id) -> account
    counter: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.mids = {m.spec.symbol: m.mid_ticks for m in self.markets}

    def funding(self, quote_amount: int, base_amount: int) -> Iterator[c.Command]:
        """Deposits that give every account quote and base of every market."""
        assets: dict[str, int] = {}
        for market in self.markets:
            assets[market.spec.quote] = quote_amount
            assets[market.spec.base] = base_amount
        for account in self.accounts:
            for asset, amount in sorted(assets.items()):
                yield c.Deposit(f"sim:{self.seed}:fund:{account}:{asset}", account, asset, amount)

    def _id(self, kind: str) -> str:
        self.counter += 1
        return f"sim:{self.seed}:{self.counter}:{kind}"

    def _price(self, spec: InstrumentSpec, ticks: int) -> str:
        ticks = min(max(ticks, spec.min_price_ticks), spec.max_price_ticks)
        return format(spec.ticks_to_price(ticks), "f")

    def _qty(self, spec: InstrumentSpec, lots: int) -> str:
        return format(spec.lots_to_qty(max(lots, spec.min_qty_lots)), "f")

    def next_batch(self, size: int, now_ns: int) -> list[c.Command]:
        return [self.next_command(now_ns) for _ in range(size)]

    def next_command(self, now_ns: int) -> c.Command:
        rng = self.rng
        market = rng.choice(self.markets)
        spec, symbol = market.spec, market.spec.symbol
        self.mids[symbol] = max(spec.min_price_ticks + 50, self.mids[symbol] + rng.randint(-2, 2))
        mid = self.mids[symbol]
        account = rng.choice(self.accounts)
        roll = rng.random()
        live = [key for key, owner in self.open_orders.items() if key[0] == symbol]
        if roll < 0.12 and live:
            key = rng.choice(live)
            return CancelOrder(self._id("cancel"), self.open_orders[key], symbol, key[1])
        if roll < 0.20 and live:
            key = rng.choice(live)
            if rng.random() < 0.5:
                return AmendOrder(self._id("amend"), self.open_orders[key], symbol, key[1],
                                  price=self._price(spec, mid + rng.randint(-20, 20)))
            return AmendOrder(self._id("amend"), self.open_orders[key], symbol, key[1],
                              qty=self._qty(spec, rng.randint(1, 40)))
        side = rng.choice(["buy", "sell"])
        lots = rng.randint(1, 30)
        if roll < 0.55:  # a market maker's passive quote
            offset = rng.randint(1, 25)
            price = mid - offset if side == "buy" else mid + offset
            return PlaceOrder(self._id("quote"), account, symbol, side, "limit", self._qty(spec, lots),
                              price=self._price(spec, price), stp=rng.choice(["none", "cancel_maker"]))
        if rng.random() < self.exotic_share:
            return self._exotic(account, spec, side, lots, mid, now_ns)
        if roll < 0.85:  # a taker crossing the spread
            price = mid + rng.randint(0, 30) if side == "buy" else mid - rng.randint(0, 30)
            return PlaceOrder(self._id("take"), account, symbol, side, "limit", self._qty(spec, lots),
                              price=self._price(spec, price), tif=rng.choice(["gtc", "ioc", "ioc"]))
        protection = mid + 60 if side == "buy" else mid - 60
        return PlaceOrder(self._id("market"), account, symbol, side, "market", self._qty(spec, lots),
                          protection_price=self._price(spec, protection))

    def _exotic(self, account: int, spec: InstrumentSpec, side: str, lots: int, mid: int,
                now_ns: int) -> PlaceOrder:
        rng, symbol = self.rng, spec.symbol
        kind = rng.choice(["fok", "gtd", "post_only", "iceberg", "stop_limit", "stop_market", "stp"])
        away = rng.randint(0, 20)
        price = mid + away if side == "buy" else mid - away
        common: dict[str, Any] = {"price": self._price(spec, price)}
        if kind == "fok":
            common["tif"] = "fok"
        elif kind == "gtd":
            common["tif"] = "gtd"
            common["expire_at_ns"] = now_ns + rng.randint(1, 5) * 1_000_000
        elif kind == "post_only":
            common["post_only"] = True
            common["price"] = self._price(spec, mid - 30 if side == "buy" else mid + 30)
        elif kind == "iceberg":
            common["display_qty"] = self._qty(spec, max(1, lots // 3))
        elif kind == "stp":
            common["stp"] = rng.choice(self.stp_modes)
        if kind in ("stop_limit", "stop_market"):
            trigger = mid + rng.randint(1, 10) if side == "buy" else mid - rng.randint(1, 10)
            extra: dict[str, Any] = {"trigger_price": self._price(spec, trigger)}
            if kind == "stop_limit":
                extra["price"] = self._price(spec, trigger + (5 if side == "buy" else -5))
            else:
                extra["protection_price"] = self._price(spec, trigger + (60 if side == "buy" else -60))
            return PlaceOrder(self._id(kind), account, symbol, side, kind, self._qty(spec, lots), **extra)
        return PlaceOrder(self._id(kind), account, symbol, side, "limit", self._qty(spec, lots), **common)

    def acknowledge(self, command: c.Command, result: dict[str, Any] | None) -> None:
        """Learn from an ack which orders are open (the venue's result carries the order's status)."""
        if result is None or not isinstance(command, PlaceOrder | CancelOrder | AmendOrder):
            return
        key = (str(result.get("symbol")), int(result.get("order_id", 0)))
        if result.get("status") in ("accepted", "partially_filled", "new"):
            self.open_orders[key] = command.account_id
        else:
            self.open_orders.pop(key, None)
