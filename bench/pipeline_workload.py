"""The order flow of `tradex bench pipeline`: a seeded, deterministic venue mix, generated before timing.

The venue: the demo seed's assets and instruments (BTC-USDT, ETH-USDT) plus SOL and two more markets,
SOL-USDT and BTC-ETH (a crypto-quoted market). Each market has a starting mid and a share of the flow:

    market     mid          share      market     mid          share
    BTC-USDT   60,000 USDT  40 %       SOL-USDT   150 USDT     20 %
    ETH-USDT    3,000 USDT  30 %       BTC-ETH     20 ETH      10 %

Every command is an order command, drawn with one `random.Random(seed)`:

| share | kind        | what it is                                                                     |
|-------|-------------|--------------------------------------------------------------------------------|
| 55 %  | passive     | gtc limit, 1..30 lots, 1..25 ticks behind the market's mid, never crossing      |
| 30 %  | cancel      | of one of the generator's own believed-open orders of that market (any owner)   |
| 5 %   | amend_price | of a believed-open order: a new passive price, 1..25 ticks behind the mid       |
|       | amend_qty   | (half of the amends) a new open qty of 1..30 lots                               |
| 7 %   | ioc         | ioc limit, 1..20 lots, priced 0..10 ticks through the opposite best             |
| 3 %   | market      | market order, 1..20 lots, protection price 60 ticks through the opposite best  |

Each market's mid is a random walk of +-1 tick per command of that market, held within 200 ticks of its
start. Accounts are drawn uniformly; an account the generator believes has `OPEN_ORDERS_CAP` open orders
(below the venue's limit of 500) is not drawn for new passive orders. When a cancel or an amend is drawn
for a market with no believed-open order, a passive order is generated instead, so the realised mix can
differ slightly from the drawn one; `Workload.mix` counts what was generated.

How the generator knows order ids and which orders are open, without the venue: the venue gives each
market's new orders sequential ids from 1 (`Market.next_order_id + new orders so far in the batch`,
commands/venue.py and domain/market.py), and every PlaceOrder that passes admission uses one up even if
the engine rejects it. Admission cannot refuse these orders (funds are ample, prices and quantities are on
tick and lot inside the band, accounts stay below the open-order limit), so the n-th PlaceOrder of a
market gets id n. Every command is also run through a textbook price-time book per market
(bench/engine_textbook.TextbookBook, the engine benchmark's reference, whose trades match the engine's),
so the generator knows which orders were filled; cancels and amends target orders that are open in that
model. The model's trades are recorded (`Workload.model_trades`), so a run can compare them with the
venue's.

Everything is integers and the seeded generator: the same seed and sizes give the same commands.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from bench.engine_textbook import TextbookBook
from commands import ledger_commands as c
from commands.ledger import Ledger
from commands.order_commands import AmendOrder, CancelOrder, PlaceOrder
from commands.venue import Venue
from domain.values import InstrumentSpec
from infra.seed import load_seed, reference_commands

OrderCommand = PlaceOrder | CancelOrder | AmendOrder

PASSIVE_SHARE: Final = 0.55
CANCEL_SHARE: Final = 0.30
AMEND_SHARE: Final = 0.05
MARKET_SHARE_OF_AGGRESSIVE: Final = 0.30  # the other 70 % of the aggressive 10 % are ioc limits
OPEN_ORDERS_CAP: Final = 400  # per account; the venue's RiskLimits default refuses at 500
MID_RANGE_TICKS: Final = 200
PASSIVE_OFFSET_TICKS: Final = 25
PASSIVE_MAX_LOTS: Final = 30
AGGRESSIVE_MAX_LOTS: Final = 20
IOC_THROUGH_TICKS: Final = 10
PROTECTION_TICKS: Final = 60
KINDS: Final = ("passive", "cancel", "amend_price", "amend_qty", "ioc", "market")

# The two markets added to the demo seed's (the asset SOL with its native 9 decimals).
EXTRA_ASSETS: Final = (c.RegisterAsset("bench:asset:SOL", "SOL", 9),)
EXTRA_INSTRUMENTS: Final = (
    c.ListInstrument("bench:instrument:SOL-USDT", "SOL-USDT", "SOL", "USDT", tick_size=10_000,
                     lot_size=10_000_000, min_qty_lots=1, max_qty_lots=1_000_000, min_price_ticks=100,
                     max_price_ticks=1_000_000, maker_fee_ppm=1_000, taker_fee_ppm=2_000),
    c.ListInstrument("bench:instrument:BTC-ETH", "BTC-ETH", "BTC", "ETH", tick_size=10_000,
                     lot_size=10_000, min_qty_lots=1, max_qty_lots=1_000_000, min_price_ticks=10_000,
                     max_price_ticks=5_000_000, maker_fee_ppm=500, taker_fee_ppm=1_500),
)
MIDS_TICKS: Final = {"BTC-USDT": 6_000_000, "ETH-USDT": 300_000, "SOL-USDT": 15_000, "BTC-ETH": 200_000}
MARKET_WEIGHTS: Final = {"BTC-USDT": 40, "ETH-USDT": 30, "SOL-USDT": 20, "BTC-ETH": 10}


def venue_reference_commands() -> list[c.Command]:
    """Assets and instruments of the bench venue: the demo seed's, then SOL, SOL-USDT and BTC-ETH."""
    seeded = [command for command in reference_commands(load_seed())
              if isinstance(command, c.RegisterAsset | c.ListInstrument)]
    assets = [command for command in seeded if isinstance(command, c.RegisterAsset)]
    instruments = [command for command in seeded if isinstance(command, c.ListInstrument)]
    return [*assets, *EXTRA_ASSETS, *instruments, *EXTRA_INSTRUMENTS]


def venue_specs() -> list[InstrumentSpec]:
    """The instruments' specifications, as the ledger will derive them from the listing commands."""
    commands = venue_reference_commands()
    scales = {command.code: command.scale for command in commands if isinstance(command, c.RegisterAsset)}
    return [InstrumentSpec(base_scale=scales[command.base], quote_scale=scales[command.quote], **command.body())
            for command in commands if isinstance(command, c.ListInstrument)]


def venue_assets() -> list[str]:
    return [command.code for command in venue_reference_commands() if isinstance(command, c.RegisterAsset)]


FUNDING_MINOR = 10**13  # of every asset per account: 10^7 USDT, 10^5 BTC; 10^5 accounts still fit int64
SETUP_BATCH = 2_000


def start_bench_venue(ledger: Ledger, accounts: list[int]) -> Venue:
    """The bench venue on `ledger`: reference data, then every account opened, verified and funded (through
    the venue, in batches); raises if any setup command is refused."""
    for command in venue_reference_commands():
        ledger.execute(command)
    venue = Venue(ledger)
    venue.start()
    setup = [*account_commands(accounts), *funding_commands(accounts, FUNDING_MINOR)]
    for start in range(0, len(setup), SETUP_BATCH):
        for outcome in venue.process(setup[start:start + SETUP_BATCH]):
            if not outcome.ok:
                raise RuntimeError(f"setup command {outcome.command_id} refused: {outcome.error}")
    return venue


def funding_commands(accounts: list[int], amount_minor: int) -> list[c.Command]:
    """Deposits of `amount_minor` of every asset to every account (ample for any order of the workload)."""
    return [c.Deposit(f"bench:fund:{account}:{asset}", account, asset, amount_minor)
            for account in accounts for asset in venue_assets()]


def account_commands(accounts: list[int]) -> list[c.Command]:
    """Open and verify every account (each VerifyKyc comes after its OpenAccount)."""
    opened: list[c.Command] = [c.OpenAccount(f"bench:open:{a}", a, {"name": f"bench trader {a}"}) for a in accounts]
    verified: list[c.Command] = [c.VerifyKyc(f"bench:kyc:{a}", a, "bench") for a in accounts]
    return [*opened, *verified]


class _OpenSet:
    """Order ids with O(1) add, remove and uniform random choice."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.positions: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, order_id: int) -> None:
        self.positions[order_id] = len(self.ids)
        self.ids.append(order_id)

    def discard(self, order_id: int) -> None:
        position = self.positions.pop(order_id, None)
        if position is None:
            return
        last = self.ids.pop()
        if last != order_id:
            self.ids[position] = last
            self.positions[last] = position

    def choice(self, rng: random.Random) -> int:
        return self.ids[rng.randrange(len(self.ids))]


@dataclass
class _ModelMarket:
    """One market as the generator sees it: its book model, mid, next order id and open orders."""

    spec: InstrumentSpec
    mid_ticks: int
    book: TextbookBook = field(default_factory=TextbookBook)
    next_order_id: int = 1
    open_ids: _OpenSet = field(default_factory=_OpenSet)
    owners: dict[int, int] = field(default_factory=dict)  # open order id -> account

    def price(self, ticks: int) -> str:
        ticks = min(max(ticks, self.spec.min_price_ticks), self.spec.max_price_ticks)
        return format(self.spec.ticks_to_price(ticks), "f")

    def qty(self, lots: int) -> str:
        return format(self.spec.lots_to_qty(max(lots, self.spec.min_qty_lots)), "f")


@dataclass
class Workload:
    """The pre-generated commands, what kind each is, and what the model predicts about them."""

    seed: int
    accounts: list[int]
    commands: list[OrderCommand]
    kinds: list[str]
    order_ids: list[int]  # per command: the id a place will get, or the id a cancel/amend targets
    model_trades: list[int]  # per command: the model's trades so far, including this command's

    def mix(self, count: int | None = None) -> dict[str, int]:
        """Commands of each kind among the first `count` (all by default)."""
        counted = Counter(self.kinds[: len(self.kinds) if count is None else count])
        return {kind: counted.get(kind, 0) for kind in KINDS}

    def trades_after(self, count: int) -> int:
        """The model's trades after the first `count` commands."""
        return self.model_trades[count - 1] if count > 0 else 0


class WorkloadGenerator:
    """Draws the commands one by one and keeps the book model, ids and open orders up to date."""

    def __init__(self, accounts: list[int], seed: int) -> None:
        if not accounts:
            raise ValueError("the workload needs at least one account")
        self.rng = random.Random(seed)
        self.seed = seed
        self.accounts = accounts
        self.markets = {spec.symbol: _ModelMarket(spec, MIDS_TICKS[spec.symbol]) for spec in venue_specs()}
        self.symbols = list(MARKET_WEIGHTS)
        self.weights = [MARKET_WEIGHTS[symbol] for symbol in self.symbols]
        self.open_per_account: Counter[int] = Counter()
        self.trades = 0
        self.number = 0

    def generate(self, count: int) -> Workload:
        commands: list[OrderCommand] = []
        kinds: list[str] = []
        order_ids: list[int] = []
        model_trades: list[int] = []
        for _ in range(count):
            command, kind, order_id = self.next_command()
            commands.append(command)
            kinds.append(kind)
            order_ids.append(order_id)
            model_trades.append(self.trades)
        return Workload(self.seed, self.accounts, commands, kinds, order_ids, model_trades)

    def next_command(self) -> tuple[OrderCommand, str, int]:
        rng = self.rng
        market = self.markets[rng.choices(self.symbols, self.weights)[0]]
        start = MIDS_TICKS[market.spec.symbol]
        market.mid_ticks = min(max(market.mid_ticks + rng.randint(-1, 1), start - MID_RANGE_TICKS),
                               start + MID_RANGE_TICKS)
        roll = rng.random()
        self.number += 1
        if roll < PASSIVE_SHARE:
            return self._passive(market)
        if roll < PASSIVE_SHARE + CANCEL_SHARE:
            return self._cancel(market) if market.open_ids else self._passive(market)
        if roll < PASSIVE_SHARE + CANCEL_SHARE + AMEND_SHARE:
            return self._amend(market) if market.open_ids else self._passive(market)
        return self._aggressive(market)

    def _command_id(self, kind: str) -> str:
        return f"bench:{self.seed}:{self.number}:{kind}"

    # ---- the kinds -----------------------------------------------------------------------------
    def _passive(self, market: _ModelMarket) -> tuple[OrderCommand, str, int]:
        account = self._account_with_room()
        if account is None:  # every account is at the cap: free room instead
            return self._cancel(market) if market.open_ids else self._aggressive(market)
        is_buy = self.rng.random() < 0.5
        price = self._passive_price(market, is_buy)
        lots = self.rng.randint(1, PASSIVE_MAX_LOTS)
        command = PlaceOrder(self._command_id("passive"), account, market.spec.symbol, "buy" if is_buy else "sell",
                             "limit", market.qty(lots), price=market.price(price))
        return command, "passive", self._place(market, account, is_buy, price, lots, ioc=False)

    def _cancel(self, market: _ModelMarket) -> tuple[OrderCommand, str, int]:
        order_id = market.open_ids.choice(self.rng)
        account = market.owners[order_id]
        market.book.cancel(order_id)
        self._closed(market, order_id)
        return CancelOrder(self._command_id("cancel"), account, market.spec.symbol, order_id), "cancel", order_id

    def _amend(self, market: _ModelMarket) -> tuple[OrderCommand, str, int]:
        order_id = market.open_ids.choice(self.rng)
        account = market.owners[order_id]
        resting = market.book.orders[order_id]
        symbol = market.spec.symbol
        if self.rng.random() < 0.5:
            price = self._passive_price(market, resting.is_buy)
            if price != resting.price:
                command = AmendOrder(self._command_id("amend"), account, symbol, order_id, price=market.price(price))
                self._run(market, lambda: market.book.amend(order_id, price=price), order_id)
                return command, "amend_price", order_id
        lots = self.rng.randint(1, PASSIVE_MAX_LOTS)
        if lots == resting.qty:
            lots = lots + 1 if lots < PASSIVE_MAX_LOTS else lots - 1
        command = AmendOrder(self._command_id("amend"), account, symbol, order_id, qty=market.qty(lots))
        self._run(market, lambda: market.book.amend(order_id, qty=lots), order_id)
        return command, "amend_qty", order_id

    def _aggressive(self, market: _ModelMarket) -> tuple[OrderCommand, str, int]:
        rng, symbol = self.rng, market.spec.symbol
        account = self.accounts[rng.randrange(len(self.accounts))]
        is_buy = rng.random() < 0.5
        side = "buy" if is_buy else "sell"
        lots = rng.randint(1, AGGRESSIVE_MAX_LOTS)
        opposite = market.book.best_ask() if is_buy else market.book.best_bid()
        reference = opposite or market.mid_ticks
        direction = 1 if is_buy else -1
        if rng.random() < MARKET_SHARE_OF_AGGRESSIVE:
            protection = self._in_band(market, reference + direction * PROTECTION_TICKS)
            command = PlaceOrder(self._command_id("market"), account, symbol, side, "market", market.qty(lots),
                                 protection_price=market.price(protection))
            return command, "market", self._place(market, account, is_buy, protection, lots, ioc=True)
        price = self._in_band(market, reference + direction * rng.randint(0, IOC_THROUGH_TICKS))
        command = PlaceOrder(self._command_id("ioc"), account, symbol, side, "limit", market.qty(lots),
                             price=market.price(price), tif="ioc")
        return command, "ioc", self._place(market, account, is_buy, price, lots, ioc=True)

    # ---- the model -----------------------------------------------------------------------------
    def _account_with_room(self) -> int | None:
        for _ in range(32):
            account = self.accounts[self.rng.randrange(len(self.accounts))]
            if self.open_per_account[account] < OPEN_ORDERS_CAP:
                return account
        roomy = [account for account in self.accounts if self.open_per_account[account] < OPEN_ORDERS_CAP]
        return self.rng.choice(roomy) if roomy else None

    def _passive_price(self, market: _ModelMarket, is_buy: bool) -> int:
        """1..25 ticks behind the mid, and never crossing the model's opposite best."""
        offset = self.rng.randint(1, PASSIVE_OFFSET_TICKS)
        if is_buy:
            best_ask = market.book.best_ask()
            price = market.mid_ticks - offset
            price = min(price, best_ask - 1) if best_ask else price
        else:
            best_bid = market.book.best_bid()
            price = market.mid_ticks + offset
            price = max(price, best_bid + 1) if best_bid else price
        return self._in_band(market, price)

    @staticmethod
    def _in_band(market: _ModelMarket, ticks: int) -> int:
        return min(max(ticks, market.spec.min_price_ticks), market.spec.max_price_ticks)

    def _place(self, market: _ModelMarket, account: int, is_buy: bool, price: int, lots: int, ioc: bool) -> int:
        order_id = market.next_order_id
        market.next_order_id += 1
        market.owners[order_id] = account
        market.open_ids.add(order_id)
        self.open_per_account[account] += 1
        self._run(market, lambda: market.book.new_limit(order_id, account, is_buy, price, lots, ioc), order_id)
        return order_id

    def _run(self, market: _ModelMarket, step: Callable[[], object], order_id: int) -> None:
        """Run one model step; forget the orders it filled (makers, and the incoming one if it did not rest)."""
        book = market.book
        before = len(book.trades)
        step()
        for _, maker_id, _, _ in book.trades[before:]:
            if maker_id not in book.orders:
                self._closed(market, maker_id)
        if order_id not in book.orders:
            self._closed(market, order_id)
        self.trades += len(book.trades) - before
        del book.trades[:]  # the count is all the workload keeps

    def _closed(self, market: _ModelMarket, order_id: int) -> None:
        account = market.owners.pop(order_id, None)
        if account is not None:
            market.open_ids.discard(order_id)
            self.open_per_account[account] -= 1


def generate(accounts: list[int], count: int, seed: int) -> Workload:
    """`count` order commands for `accounts`, the same for the same arguments."""
    return WorkloadGenerator(accounts, seed).generate(count)
