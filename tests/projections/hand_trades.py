"""A small hand-made trade set across every bucket and hierarchy edge, and its candles computed by hand.

BTC-USDT trades (tick_lot_value 10, so notional = price x qty x 10), D = 2026-01-01T00:00:00Z, M = 1 min:

    pos  time                       price qty  notional  note
      1  D - 1 ns (Dec 31 23:59:59.999999999) 100 1   1000  previous day, minute, 5m and hour
      2  D + 1 s                      101   2    2020
      3  D + 1 min - 1 ns              99   3    2970  last ns of the first minute
      4  D + 1 min                    105   1    1050  same ns as 5 and 12: order by position
      5  D + 1 min                    104   1    1040
      6  D + 5 min - 1 ns              98   4    3920  last ns of the first 5m bucket
      7  D + 5 min                    110   2    2200  first ns of the second 5m bucket
      8  D + 1 h - 1 ns               111   1    1110  last ns of the first hour
      9  D + 1 h                      120   5    6000  first ns of the second hour
     10  D (exactly), LATE             97   2    1940  arrives after the candles exist; becomes the open
                                                     of its minute, 5m, hour and day
     12  D + 1 min, LATE              103   1    1030  same ns as 4 and 5 but a later position: the new close

ETH-USDT: position 11 at D + 30 s, price 50, qty 1 (notional 500): same buckets, another symbol.
The first batch is every trade but 10 and 12; the second batch (late data) is 10 and 12.
"""

from __future__ import annotations

from projections.market_data import NS_PER_DAY, NS_PER_HOUR, NS_PER_MINUTE, NS_PER_SECOND, Candle, Interval
from tests.projections.conftest import DAY0_NS, trade

D, M, H = DAY0_NS, NS_PER_MINUTE, NS_PER_HOUR
BTC, ETH = "BTC-USDT", "ETH-USDT"

FIRST_BATCH = [
    trade(1, BTC, D - 1, 100, 1),
    trade(2, BTC, D + NS_PER_SECOND, 101, 2),
    trade(3, BTC, D + M - 1, 99, 3),
    trade(4, BTC, D + M, 105, 1),
    trade(5, BTC, D + M, 104, 1),
    trade(6, BTC, D + 5 * M - 1, 98, 4),
    trade(7, BTC, D + 5 * M, 110, 2),
    trade(8, BTC, D + H - 1, 111, 1),
    trade(9, BTC, D + H, 120, 5),
    trade(11, ETH, D + 30 * NS_PER_SECOND, 50, 1),
]
LATE_BATCH = [
    trade(10, BTC, D, 97, 2),
    trade(12, BTC, D + M, 103, 1),
]
ALL_TRADES = FIRST_BATCH + LATE_BATCH


def _c(symbol: str, interval: Interval, bucket: int, ohlc: tuple[int, int, int, int], volume: int, notional: int,
       count: int, first: tuple[int, int], last: tuple[int, int]) -> Candle:
    return Candle(symbol, interval, bucket, *ohlc, volume, notional, count, *first, *last)


def _single(symbol: str, interval: Interval, bucket: int, price: int, qty: int, ts: int, position: int) -> Candle:
    return _c(symbol, interval, bucket, (price, price, price, price), qty, price * qty * 10, 1, (ts, position),
              (ts, position))


m1, m5, h1, d1 = Interval.M1, Interval.M5, Interval.H1, Interval.D1

EXPECTED: dict[Interval, list[Candle]] = {
    m1: [
        _single(BTC, m1, D - M, 100, 1, D - 1, 1),
        _c(BTC, m1, D, (97, 101, 97, 99), 7, 6930, 3, (D, 10), (D + M - 1, 3)),
        _c(BTC, m1, D + M, (105, 105, 103, 103), 3, 3120, 3, (D + M, 4), (D + M, 12)),
        _single(BTC, m1, D + 4 * M, 98, 4, D + 5 * M - 1, 6),
        _single(BTC, m1, D + 5 * M, 110, 2, D + 5 * M, 7),
        _single(BTC, m1, D + 59 * M, 111, 1, D + H - 1, 8),
        _single(BTC, m1, D + H, 120, 5, D + H, 9),
        _single(ETH, m1, D, 50, 1, D + 30 * NS_PER_SECOND, 11),
    ],
    m5: [
        _single(BTC, m5, D - 5 * M, 100, 1, D - 1, 1),
        _c(BTC, m5, D, (97, 105, 97, 98), 14, 13970, 7, (D, 10), (D + 5 * M - 1, 6)),
        _single(BTC, m5, D + 5 * M, 110, 2, D + 5 * M, 7),
        _single(BTC, m5, D + 55 * M, 111, 1, D + H - 1, 8),
        _single(BTC, m5, D + H, 120, 5, D + H, 9),
        _single(ETH, m5, D, 50, 1, D + 30 * NS_PER_SECOND, 11),
    ],
    h1: [
        _single(BTC, h1, D - H, 100, 1, D - 1, 1),
        _c(BTC, h1, D, (97, 111, 97, 111), 17, 17280, 9, (D, 10), (D + H - 1, 8)),
        _single(BTC, h1, D + H, 120, 5, D + H, 9),
        _single(ETH, h1, D, 50, 1, D + 30 * NS_PER_SECOND, 11),
    ],
    d1: [
        _single(BTC, d1, D - NS_PER_DAY, 100, 1, D - 1, 1),
        _c(BTC, d1, D, (97, 120, 97, 120), 22, 23280, 10, (D, 10), (D + H, 9)),
        _single(ETH, d1, D, 50, 1, D + 30 * NS_PER_SECOND, 11),
    ],
}

# Before the late batch: what the candles of the first batch alone are (checked for the 1m level).
EXPECTED_1M_BEFORE_LATE = {
    (BTC, D): _c(BTC, m1, D, (101, 101, 99, 99), 5, 4990, 2, (D + NS_PER_SECOND, 2), (D + M - 1, 3)),
    (BTC, D + M): _c(BTC, m1, D + M, (105, 105, 104, 104), 2, 2090, 2, (D + M, 4), (D + M, 5)),
}
