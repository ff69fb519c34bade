"""Self-trade prevention: the incoming order's stp decides, all five modes."""

from __future__ import annotations

from tests.engine.conftest import (
    Impl,
    accepted,
    assert_replay,
    book,
    books,
    cancelled,
    limit,
    market,
    trade,
)


def test_stp_none_lets_the_same_account_trade(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1),
        limit(2, "buy", 5, 100, account=1, stp="none"),
    ]
    events = [accepted(1, 1), accepted(2, 2), trade(2, 2, 1, 100, 5, "buy")]
    assert_replay(impl, commands, events, books(X=book()))


def test_cancel_taker_cancels_the_incoming_remainder_and_keeps_the_resting_order(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1),
        limit(2, "buy", 3, 100, account=1, stp="cancel_taker"),
    ]
    events = [accepted(1, 1), accepted(2, 2), cancelled(2, 2, 3, "stp")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 5, 0)])])))


def test_cancel_taker_after_trading_with_other_accounts(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 2, 100, account=2),
        limit(2, "sell", 5, 101, account=1),
        limit(3, "buy", 5, 101, account=1, stp="cancel_taker"),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        trade(3, 3, 1, 100, 2, "buy"),
        cancelled(3, 3, 3, "stp"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(101, [(2, 5, 0)])])))


def test_cancel_maker_cancels_the_resting_order_and_keeps_matching(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 2, 100, account=1),
        limit(2, "sell", 3, 100, account=2),
        limit(3, "buy", 4, 100, account=1, stp="cancel_maker"),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        cancelled(3, 1, 2, "stp"),
        trade(3, 3, 2, 100, 3, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(3, 1, 0)])])))


def test_cancel_maker_cancels_an_iceberg_with_its_hidden_qty(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 10, 100, account=1, display_qty=3),
        limit(2, "buy", 2, 100, account=1, stp="cancel_maker"),
    ]
    events = [accepted(1, 1), accepted(2, 2), cancelled(2, 1, 10, "stp")]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(2, 2, 0)])])))


def test_cancel_both_cancels_resting_first_then_incoming(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1),
        limit(2, "sell", 5, 100, account=2),
        limit(3, "buy", 3, 100, account=1, stp="cancel_both"),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        cancelled(3, 1, 5, "stp"),
        cancelled(3, 3, 3, "stp"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(2, 5, 0)])])))


def test_decrement_smaller_incoming_is_cancelled_and_resting_keeps_its_place(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1),
        limit(2, "sell", 5, 100, account=2),
        limit(3, "buy", 3, 100, account=1, stp="decrement"),
    ]
    events = [accepted(1, 1), accepted(2, 2), accepted(3, 3), cancelled(3, 3, 3, "stp")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 2, 0), (2, 5, 0)])])))


def test_decrement_smaller_resting_is_cancelled_and_incoming_keeps_matching(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 2, 100, account=1),
        limit(2, "sell", 5, 100, account=2),
        limit(3, "buy", 5, 100, account=1, stp="decrement"),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        cancelled(3, 1, 2, "stp"),
        trade(3, 3, 2, 100, 3, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(2, 2, 0)])])))


def test_decrement_equal_cancels_both_resting_first(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 4, 100, account=1),
        limit(2, "buy", 4, 100, account=1, stp="decrement"),
    ]
    events = [accepted(1, 1), accepted(2, 2), cancelled(2, 1, 4, "stp"), cancelled(2, 2, 4, "stp")]
    assert_replay(impl, commands, events, books(X=book()))


def test_decrement_takes_an_icebergs_hidden_qty_first(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 10, 100, account=1, display_qty=3),
        limit(2, "buy", 5, 100, account=1, stp="decrement"),
    ]
    events = [accepted(1, 1), accepted(2, 2), cancelled(2, 2, 5, "stp")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 3, 2)])])))


def test_decrement_beyond_the_hidden_qty_reduces_the_visible_slice(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 10, 100, account=1, display_qty=4),
        limit(2, "buy", 8, 100, account=1, stp="decrement"),
    ]
    events = [accepted(1, 1), accepted(2, 2), cancelled(2, 2, 8, "stp")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 2, 0)])])))


def test_decrement_survivor_rests_its_remainder(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 2, 100, account=1),
        limit(2, "buy", 5, 100, account=1, stp="decrement"),
    ]
    events = [accepted(1, 1), accepted(2, 2), cancelled(2, 1, 2, "stp")]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(2, 3, 0)])])))


def test_decrement_then_ioc_cancels_the_rest(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 2, 100, account=1),
        limit(2, "buy", 5, 100, account=1, stp="decrement", tif="ioc"),
    ]
    events = [accepted(1, 1), accepted(2, 2), cancelled(2, 1, 2, "stp"), cancelled(2, 2, 3, "ioc")]
    assert_replay(impl, commands, events, books(X=book()))


def test_stp_applies_only_to_orders_that_would_trade(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 101, account=1),
        limit(2, "buy", 5, 100, account=1, stp="cancel_both"),
    ]
    events = [accepted(1, 1), accepted(2, 2)]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(2, 5, 0)])], asks=[(101, [(1, 5, 0)])])))


def test_the_resting_orders_stp_does_not_matter(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1, stp="cancel_both"),
        limit(2, "buy", 5, 100, account=1, stp="none"),
    ]
    events = [accepted(1, 1), accepted(2, 2), trade(2, 2, 1, 100, 5, "buy")]
    assert_replay(impl, commands, events, books(X=book()))


def test_stp_ignores_other_accounts(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 2, 100, account=2),
        limit(2, "buy", 2, 100, account=1, stp="cancel_both"),
    ]
    events = [accepted(1, 1), accepted(2, 2), trade(2, 2, 1, 100, 2, "buy")]
    assert_replay(impl, commands, events, books(X=book()))


def test_market_cancel_taker_leaves_nothing_for_no_liquidity(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1),
        market(2, "buy", 3, account=1, stp="cancel_taker"),
    ]
    events = [accepted(1, 1), accepted(2, 2), cancelled(2, 2, 3, "stp")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 5, 0)])])))


def test_market_cancel_maker_then_no_liquidity(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 2, 100, account=1),
        limit(2, "buy", 1, 99, account=2),
        market(3, "sell", 5, account=1, stp="cancel_maker"),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        cancelled(3, 1, 2, "stp"),
        trade(3, 3, 2, 99, 1, "sell"),
        cancelled(3, 3, 4, "no_liquidity"),
    ]
    assert_replay(impl, commands, events, books(X=book()))
