"""The pure candle functions: hand-computed candles across every edge, and roll-up == direct computation."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.market_data import (
    INTERVALS,
    NS_PER_DAY,
    Candle,
    Interval,
    TradeRow,
    all_candles,
    candles,
    merge,
    roll_up,
)
from tests.projections.conftest import DAY0_NS, random_trades, trade
from tests.projections.hand_trades import ALL_TRADES, EXPECTED, EXPECTED_1M_BEFORE_LATE, FIRST_BATCH


def _sorted(values: dict[tuple[str, int], Candle]) -> list[Candle]:
    return [values[key] for key in sorted(values)]


@pytest.mark.parametrize("interval", INTERVALS, ids=lambda interval: interval.value)
def test_hand_computed_candles_direct_and_hierarchical(interval: Interval) -> None:
    assert _sorted(candles(ALL_TRADES, interval)) == EXPECTED[interval]
    assert _sorted(all_candles(ALL_TRADES)[interval]) == EXPECTED[interval]


def test_first_batch_alone_then_late_trades_merged_in() -> None:
    before = candles(FIRST_BATCH, Interval.M1)
    for key, expected in EXPECTED_1M_BEFORE_LATE.items():
        assert before[key] == expected
    late = candles(ALL_TRADES[len(FIRST_BATCH):], Interval.M1)
    merged = dict(before)
    for key, candle in late.items():
        merged[key] = merge(merged[key], candle) if key in merged else candle
    assert _sorted(merged) == EXPECTED[Interval.M1]


def test_buckets_are_utc_and_epoch_aligned() -> None:
    assert Interval.D1.bucket_start_ns(DAY0_NS) == DAY0_NS
    assert Interval.D1.bucket_start_ns(DAY0_NS - 1) == DAY0_NS - NS_PER_DAY
    assert Interval.H1.bucket_start_ns(DAY0_NS + 3_599_999_999_999) == DAY0_NS
    assert [interval.source for interval in INTERVALS] == [None, Interval.M1, Interval.M5, Interval.H1]
    assert [interval.value for interval in INTERVALS] == ["1m", "5m", "1h", "1d"]


def test_roll_up_refuses_the_wrong_level() -> None:
    minutes = candles(ALL_TRADES, Interval.M1)
    with pytest.raises(ValueError):
        roll_up(minutes, Interval.H1)
    with pytest.raises(ValueError):
        roll_up(minutes, Interval.M1)


def test_trade_rows_are_checked() -> None:
    with pytest.raises(ValueError):
        trade(1, "BTC-USDT", DAY0_NS, 0, 1)
    with pytest.raises(ValueError):
        trade(1, "BTC-USDT", DAY0_NS, 1, -1)
    with pytest.raises(ValueError):
        trade(1, "BTC-USDT", -1, 1, 1)
    with pytest.raises(ValueError):
        trade(0, "BTC-USDT", DAY0_NS, 1, 1)
    with pytest.raises(ValueError):
        trade(1, "BTC-USDT", DAY0_NS, 1, 1, taker_side="bid")


def test_random_trade_set_roll_up_equals_direct_computation() -> None:
    trades = random_trades(seed=7, count=3_000)
    hierarchical = all_candles(trades)
    for interval in INTERVALS:
        assert hierarchical[interval] == candles(trades, interval)
    shuffled = list(trades)
    random.Random(3).shuffle(shuffled)
    assert all_candles(shuffled) == hierarchical  # arrival order does not matter


trade_rows = st.builds(
    lambda position_ts, price, qty: TradeRow(position_ts[0], f"X:{position_ts[0]}", "X", position_ts[1], price, qty,
                                             price * qty, "buy", 1, 2, 1, 2),
    st.tuples(st.integers(1, 10**6), st.integers(DAY0_NS - NS_PER_DAY, DAY0_NS + NS_PER_DAY)),
    st.integers(1, 10**6),
    st.integers(1, 10**4),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(trade_rows, min_size=1, max_size=40, unique_by=lambda row: row.position))
def test_property_hierarchy_equals_direct_for_any_trade_set(trades: list[TradeRow]) -> None:
    hierarchical = all_candles(trades)
    for interval in INTERVALS:
        direct = candles(trades, interval)
        assert hierarchical[interval] == direct
        for candle in direct.values():
            members = [t for t in trades if interval.bucket_start_ns(t.ts_ns) == candle.bucket_start_ns]
            first = min(members, key=lambda t: t.order_key)
            last = max(members, key=lambda t: t.order_key)
            assert (candle.open_ticks, candle.close_ticks) == (first.price_ticks, last.price_ticks)
            assert candle.volume_lots == sum(t.qty_lots for t in members)
