"""Fill-or-kill: a dry run of normal matching (STP included) decides all or nothing."""

from __future__ import annotations

from tests.engine.conftest import (
    Impl,
    accepted,
    assert_replay,
    book,
    books,
    cancelled,
    limit,
    rejected,
    trade,
)

RESTING = [
    limit(1, "sell", 2, 100, account=1),
    limit(2, "sell", 3, 101, account=1),
]


def test_fok_that_can_fill_matches_for_real(impl: Impl) -> None:
    commands = [*RESTING, limit(3, "buy", 5, 101, account=2, tif="fok")]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        trade(3, 3, 1, 100, 2, "buy"),
        trade(3, 3, 2, 101, 3, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_fok_short_of_liquidity_is_accepted_then_cancelled_whole(impl: Impl) -> None:
    commands = [*RESTING, limit(3, "buy", 6, 101, account=2, tif="fok")]
    events = [accepted(1, 1), accepted(2, 2), accepted(3, 3), cancelled(3, 3, 6, "fok")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 2, 0)]), (101, [(2, 3, 0)])])))


def test_fok_counts_only_liquidity_within_its_limit_price(impl: Impl) -> None:
    commands = [*RESTING, limit(3, "buy", 5, 100, account=2, tif="fok")]
    events = [accepted(1, 1), accepted(2, 2), accepted(3, 3), cancelled(3, 3, 5, "fok")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 2, 0)]), (101, [(2, 3, 0)])])))


def test_fok_sell_side(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 4, 100, account=1),
        limit(2, "sell", 4, 100, account=2, tif="fok"),
    ]
    events = [accepted(1, 1), accepted(2, 2), trade(2, 2, 1, 100, 4, "sell")]
    assert_replay(impl, commands, events, books(X=book()))


def test_fok_counts_hidden_iceberg_qty(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 10, 100, account=1, display_qty=2),
        limit(2, "buy", 9, 100, account=2, tif="fok"),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        trade(2, 2, 1, 100, 2, "buy"),
        trade(2, 2, 1, 100, 2, "buy"),
        trade(2, 2, 1, 100, 2, "buy"),
        trade(2, 2, 1, 100, 2, "buy"),
        trade(2, 2, 1, 100, 1, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 1, 0)])])))


def test_fok_cancel_maker_does_not_count_own_orders_and_failure_cancels_nothing(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 3, 100, account=1),
        limit(2, "sell", 3, 100, account=2),
        limit(3, "buy", 5, 100, account=1, tif="fok", stp="cancel_maker"),
    ]
    # Only 3 lots of other accounts: the fok fails, and order 1 is NOT cancelled by stp.
    events = [accepted(1, 1), accepted(2, 2), accepted(3, 3), cancelled(3, 3, 5, "fok")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 3, 0), (2, 3, 0)])])))


def test_fok_cancel_maker_that_fills_cancels_own_orders_for_real(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 3, 100, account=1),
        limit(2, "sell", 5, 100, account=2),
        limit(3, "buy", 5, 100, account=1, tif="fok", stp="cancel_maker"),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        cancelled(3, 1, 3, "stp"),
        trade(3, 3, 2, 100, 5, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_fok_cancel_taker_counts_only_liquidity_ahead_of_the_first_own_order(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 2, 100, account=2),
        limit(2, "sell", 1, 100, account=1),
        limit(3, "sell", 10, 100, account=2),
        limit(4, "buy", 3, 100, account=1, tif="fok", stp="cancel_taker"),
    ]
    events = [accepted(1, 1), accepted(2, 2), accepted(3, 3), accepted(4, 4), cancelled(4, 4, 3, "fok")]
    expected_books = books(X=book(asks=[(100, [(1, 2, 0), (2, 1, 0), (3, 10, 0)])]))
    assert_replay(impl, commands, events, expected_books)


def test_fok_cancel_both_fills_from_liquidity_ahead_of_own_order(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 2, 100, account=2),
        limit(2, "sell", 5, 100, account=1),
        limit(3, "buy", 2, 100, account=1, tif="fok", stp="cancel_both"),
    ]
    events = [accepted(1, 1), accepted(2, 2), accepted(3, 3), trade(3, 3, 1, 100, 2, "buy")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(2, 5, 0)])])))


def test_fok_decrement_fills_from_liquidity_ahead_of_own_order(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 3, 100, account=2),
        limit(2, "sell", 1, 100, account=1),
        limit(3, "buy", 3, 100, account=1, tif="fok", stp="decrement"),
    ]
    events = [accepted(1, 1), accepted(2, 2), accepted(3, 3), trade(3, 3, 1, 100, 3, "buy")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(2, 1, 0)])])))


def test_fok_decrement_with_own_order_first_fails_and_decrements_nothing(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1),
        limit(2, "sell", 10, 100, account=2),
        limit(3, "buy", 3, 100, account=1, tif="fok", stp="decrement"),
    ]
    events = [accepted(1, 1), accepted(2, 2), accepted(3, 3), cancelled(3, 3, 3, "fok")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 1, 0), (2, 10, 0)])])))


def test_fok_cancel_taker_follows_matching_order_through_an_iceberg_refresh(impl: Impl) -> None:
    # Matching order at 100: iceberg 1's slice (2), then own order 2 (the refreshed slice of 1 went
    # behind it). Only 2 lots are ahead of the first same-account order, so a fok for 5 fails.
    commands = [
        limit(1, "sell", 10, 100, account=2, display_qty=2),
        limit(2, "sell", 1, 100, account=1),
        limit(3, "buy", 5, 100, account=1, tif="fok", stp="cancel_taker"),
    ]
    events = [accepted(1, 1), accepted(2, 2), accepted(3, 3), cancelled(3, 3, 5, "fok")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 2, 8), (2, 1, 0)])])))


def test_fok_uses_its_id_even_when_killed(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 100, account=1, tif="fok"),
        limit(1, "buy", 5, 100, account=1),
    ]
    events = [accepted(1, 1), cancelled(1, 1, 5, "fok"), rejected(2, 1, "duplicate_order_id")]
    assert_replay(impl, commands, events, books(X=book()))
