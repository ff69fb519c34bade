"""Iceberg orders: visible slice, refresh to the back of the queue, hidden quantity."""

from __future__ import annotations

from tests.engine.conftest import (
    Impl,
    accepted,
    assert_replay,
    book,
    books,
    cancel,
    cancelled,
    limit,
    market,
    trade,
)


def test_iceberg_rests_showing_only_its_display_qty(impl: Impl) -> None:
    commands = [limit(1, "sell", 10, 100, display_qty=3)]
    assert_replay(impl, commands, [accepted(1, 1)], books(X=book(asks=[(100, [(1, 3, 7)])])))


def test_display_qty_equal_to_qty_is_a_plain_order(impl: Impl) -> None:
    commands = [limit(1, "sell", 5, 100, display_qty=5)]
    assert_replay(impl, commands, [accepted(1, 1)], books(X=book(asks=[(100, [(1, 5, 0)])])))


def test_partial_fill_of_the_visible_slice_keeps_place_without_refresh(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 10, 100, account=1, display_qty=3),
        limit(2, "sell", 4, 100, account=2),
        limit(3, "buy", 2, 100, account=3),
    ]
    events = [accepted(1, 1), accepted(2, 2), accepted(3, 3), trade(3, 3, 1, 100, 2, "buy")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 1, 7), (2, 4, 0)])])))


def test_refreshed_slice_goes_to_the_back_of_the_queue(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 10, 100, account=1, display_qty=3),
        limit(2, "sell", 5, 100, account=2),
        limit(3, "buy", 4, 100, account=3),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        trade(3, 3, 1, 100, 3, "buy"),
        trade(3, 3, 2, 100, 1, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(2, 4, 0), (1, 3, 4)])])))


def test_incoming_order_keeps_matching_the_refreshed_slice_while_it_is_best(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 10, 100, account=1, display_qty=3),
        limit(2, "buy", 8, 100, account=2),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        trade(2, 2, 1, 100, 3, "buy"),
        trade(2, 2, 1, 100, 3, "buy"),
        trade(2, 2, 1, 100, 2, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 1, 1)])])))


def test_last_slice_is_the_remaining_qty_and_a_swept_iceberg_leaves(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 7, 100, account=1, display_qty=3),
        limit(2, "buy", 10, 100, account=2),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        trade(2, 2, 1, 100, 3, "buy"),
        trade(2, 2, 1, 100, 3, "buy"),
        trade(2, 2, 1, 100, 1, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(2, 3, 0)])])))


def test_sweep_continues_to_the_next_level_after_the_iceberg(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 6, 100, account=1, display_qty=2),
        limit(2, "sell", 5, 101, account=2),
        limit(3, "buy", 9, 101, account=3),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        trade(3, 3, 1, 100, 2, "buy"),
        trade(3, 3, 1, 100, 2, "buy"),
        trade(3, 3, 1, 100, 2, "buy"),
        trade(3, 3, 2, 101, 3, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(101, [(2, 2, 0)])])))


def test_two_icebergs_at_one_price_alternate(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 4, 100, account=1, display_qty=2),
        limit(2, "sell", 4, 100, account=2, display_qty=2),
        limit(3, "buy", 6, 100, account=3),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        trade(3, 3, 1, 100, 2, "buy"),
        trade(3, 3, 2, 100, 2, "buy"),
        trade(3, 3, 1, 100, 2, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(2, 2, 0)])])))


def test_bid_iceberg_refreshes_against_a_market_sell(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 100, account=1, display_qty=2),
        market(2, "sell", 3, account=2),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        trade(2, 2, 1, 100, 2, "sell"),
        trade(2, 2, 1, 100, 1, "sell"),
    ]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(1, 1, 1)])])))


def test_display_qty_is_ignored_on_ioc_and_fok_limits(impl: Impl) -> None:
    # display_qty does not apply to ioc/fok limits, so even an invalid value is not a rejection.
    commands = [
        limit(1, "sell", 2, 100, account=1),
        limit(2, "buy", 5, 100, account=2, tif="ioc", display_qty=0),
        limit(3, "buy", 1, 100, account=2, tif="fok", display_qty=99),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        trade(2, 2, 1, 100, 2, "buy"),
        cancelled(2, 2, 3, "ioc"),
        accepted(3, 3),
        cancelled(3, 3, 1, "fok"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_cancel_of_an_iceberg_removes_visible_and_hidden(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 9, 100, display_qty=4),
        cancel(1),
    ]
    events = [accepted(1, 1), cancelled(2, 1, 9, "user")]
    assert_replay(impl, commands, events, books(X=book()))


def test_incoming_iceberg_matches_its_full_qty_then_rests_a_slice(impl: Impl) -> None:
    # Display applies only to what rests: the incoming iceberg trades its whole quantity.
    commands = [
        limit(1, "sell", 5, 100, account=1),
        limit(2, "buy", 12, 100, account=2, display_qty=3),
    ]
    events = [accepted(1, 1), accepted(2, 2), trade(2, 2, 1, 100, 5, "buy")]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(2, 3, 4)])])))
