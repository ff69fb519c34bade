"""Market data read model, pure part: trade rows, OHLCV candles and their hierarchical roll-up.

No I/O and no clock. Everything is an integer: timestamps are UTC nanoseconds since the epoch, prices
are ticks, quantities are lots, notionals are quote minor units.

Candle rules (the same in every store: the pure functions here, the plain-PostgreSQL tables in
`projections.pg_market_data`, the TimescaleDB continuous aggregates in `projections.timescale`):

- a trade belongs to the bucket `ts_ns - ts_ns % length_ns` of each interval (UTC, aligned on the
  epoch, so a day starts at 00:00 UTC);
- trades are ordered by `(ts_ns, position)`: `position` (the trade's log notification id) breaks
  ties between trades with the same timestamp, so the order is total and replay-independent;
- open = price of the first trade in that order, close = price of the last; high/low are the
  extremes; volume, notional and trade count are sums;
- the candle records the key `(ts_ns, position)` of its first and of its last trade, which is what
  makes merging exact: two candles of the same bucket (or the candles of adjacent child buckets)
  combine by comparing those keys, whatever order the trades arrived in (late data included);
- a bucket with no trade has no candle (no forward-filled empty candles).

5m candles are rolled up from 1m, 1h from 5m and 1d from 1h (`roll_up`); the result equals the
direct computation over the trades (`candles`), which the tests check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from itertools import pairwise

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_HOUR = 60 * NS_PER_MINUTE
NS_PER_DAY = 24 * NS_PER_HOUR

TAKER_SIDES = ("buy", "sell")


class Interval(Enum):
    """A candle interval: its name is its value ("1m"), its length in ns, the finer interval it rolls up from."""

    M1 = "1m"
    M5 = "5m"
    H1 = "1h"
    D1 = "1d"

    @property
    def length_ns(self) -> int:
        return _LENGTH_NS[self]

    @property
    def source(self) -> Interval | None:
        """The finer interval this one is rolled up from (None for 1m, which is built from trades)."""
        return _SOURCE[self]

    def bucket_start_ns(self, ts_ns: int) -> int:
        """Start (UTC ns) of the bucket holding `ts_ns`."""
        return ts_ns - ts_ns % self.length_ns


_LENGTH_NS = {Interval.M1: NS_PER_MINUTE, Interval.M5: 5 * NS_PER_MINUTE, Interval.H1: NS_PER_HOUR,
              Interval.D1: NS_PER_DAY}
_SOURCE: dict[Interval, Interval | None] = {Interval.M1: None, Interval.M5: Interval.M1, Interval.H1: Interval.M5,
                                            Interval.D1: Interval.H1}
INTERVALS: tuple[Interval, ...] = (Interval.M1, Interval.M5, Interval.H1, Interval.D1)


@dataclass(frozen=True, slots=True)
class TradeRow:
    """One trade as the read side stores it; built by the event handlers from the ledger's trade events.

    `position` is the notification id of the event that recorded the trade (unique, increasing in log
    order); `notional` is in quote minor units (qty x price x the instrument's tick-lot value).
    """

    position: int
    trade_id: str  # "BTC-USDT:17"
    symbol: str
    ts_ns: int  # UTC nanoseconds
    price_ticks: int
    qty_lots: int
    notional: int  # quote minor units
    taker_side: str  # "buy" or "sell"
    buy_account: int
    sell_account: int
    buy_order_id: int
    sell_order_id: int

    def __post_init__(self) -> None:
        # Checked here, before anything is written: a bad row must fail loudly, not skew a candle.
        if self.position <= 0:
            raise ValueError(f"trade {self.trade_id}: position must be positive, got {self.position}")
        if self.ts_ns < 0:
            raise ValueError(f"trade {self.trade_id}: ts_ns must be a non-negative UTC ns time, got {self.ts_ns}")
        if self.price_ticks <= 0 or self.qty_lots <= 0 or self.notional < 0:
            raise ValueError(f"trade {self.trade_id}: price and qty must be positive and notional non-negative")
        if self.taker_side not in TAKER_SIDES:
            raise ValueError(f"trade {self.trade_id}: taker_side must be 'buy' or 'sell', got {self.taker_side!r}")

    @property
    def order_key(self) -> tuple[int, int]:
        """The total order of trades within a candle: time, then log position."""
        return (self.ts_ns, self.position)


@dataclass(frozen=True, slots=True)
class Candle:
    """OHLCV of one symbol in one bucket of one interval; integers only.

    `first_ts_ns`/`first_position` identify the opening trade and `last_ts_ns`/`last_position` the
    closing one (the trades with the smallest and the largest `(ts_ns, position)`).
    """

    symbol: str
    interval: Interval
    bucket_start_ns: int
    open_ticks: int
    high_ticks: int
    low_ticks: int
    close_ticks: int
    volume_lots: int
    notional: int  # quote minor units
    trade_count: int
    first_ts_ns: int
    first_position: int
    last_ts_ns: int
    last_position: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.symbol, self.bucket_start_ns)

    @property
    def first_key(self) -> tuple[int, int]:
        return (self.first_ts_ns, self.first_position)

    @property
    def last_key(self) -> tuple[int, int]:
        return (self.last_ts_ns, self.last_position)


CandleKey = tuple[str, int]  # (symbol, bucket_start_ns)


def candle_of_trade(trade: TradeRow, interval: Interval) -> Candle:
    """The candle of a single trade."""
    return Candle(trade.symbol, interval, interval.bucket_start_ns(trade.ts_ns), trade.price_ticks,
                  trade.price_ticks, trade.price_ticks, trade.price_ticks, trade.qty_lots, trade.notional, 1,
                  trade.ts_ns, trade.position, trade.ts_ns, trade.position)


def merge(a: Candle, b: Candle, interval: Interval | None = None) -> Candle:
    """Combine two candles of the same symbol into one covering both (of `interval`, default a's).

    Exact and order-independent (commutative and associative): open and close come from the candle
    with the smaller first key and the larger last key. Used both to fold trades into a bucket and
    to roll child buckets up into their parent.
    """
    if a.symbol != b.symbol:
        raise ValueError(f"cannot merge candles of {a.symbol} and {b.symbol}")
    target = interval or a.interval
    first = a if a.first_key <= b.first_key else b
    last = a if a.last_key >= b.last_key else b
    return Candle(
        symbol=a.symbol,
        interval=target,
        bucket_start_ns=target.bucket_start_ns(a.bucket_start_ns),
        open_ticks=first.open_ticks,
        high_ticks=max(a.high_ticks, b.high_ticks),
        low_ticks=min(a.low_ticks, b.low_ticks),
        close_ticks=last.close_ticks,
        volume_lots=a.volume_lots + b.volume_lots,
        notional=a.notional + b.notional,
        trade_count=a.trade_count + b.trade_count,
        first_ts_ns=first.first_ts_ns,
        first_position=first.first_position,
        last_ts_ns=last.last_ts_ns,
        last_position=last.last_position,
    )


def candles(trades: Iterable[TradeRow], interval: Interval) -> dict[CandleKey, Candle]:
    """Direct computation: the candles of `interval` for a set of trades, keyed by (symbol, bucket start).

    The trades may come in any order; the result depends only on the set. A trade given twice (same
    position) counts twice: deduplication is the stores' job, not this function's.
    """
    result: dict[CandleKey, Candle] = {}
    for trade in trades:
        single = candle_of_trade(trade, interval)
        existing = result.get(single.key)
        result[single.key] = single if existing is None else merge(existing, single)
    return result


def roll_up(children: Mapping[CandleKey, Candle] | Iterable[Candle], interval: Interval) -> dict[CandleKey, Candle]:
    """Candles of `interval` built from the candles of its source interval (5m from 1m, 1h from 5m, 1d from 1h)."""
    source = interval.source
    if source is None:
        raise ValueError(f"{interval.value} candles are built from trades, not rolled up")
    values = children.values() if isinstance(children, Mapping) else children
    result: dict[CandleKey, Candle] = {}
    for child in values:
        if child.interval is not source:
            raise ValueError(f"{interval.value} rolls up from {source.value} candles, got {child.interval.value}")
        key = (child.symbol, interval.bucket_start_ns(child.bucket_start_ns))
        existing = result.get(key)
        if existing is None:
            result[key] = replace(child, interval=interval, bucket_start_ns=key[1])
        else:
            result[key] = merge(existing, child, interval)
    return result


def all_candles(trades: Iterable[TradeRow]) -> dict[Interval, dict[CandleKey, Candle]]:
    """Every interval's candles, built hierarchically: 1m from the trades, then each level from the one below."""
    levels: dict[Interval, dict[CandleKey, Candle]] = {Interval.M1: candles(trades, Interval.M1)}
    for source, interval in pairwise(INTERVALS):  # finest first: each from the one below
        levels[interval] = roll_up(levels[source], interval)
    return levels
