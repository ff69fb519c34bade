"""Limit (gtc, ioc) and market orders: price-time priority, maker price, remainders, books form."""

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
    rejected,
    trade,
)


def test_orders_that_do_not_cross_both_rest(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 100, account=1),
        limit(2, "sell", 3, 101, account=2),
    ]
    events = [accepted(1, 1), accepted(2, 2)]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(1, 5, 0)])], asks=[(101, [(2, 3, 0)])])))


def test_full_cross_trades_at_the_makers_price(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1),
        limit(2, "buy", 5, 102, account=2),
    ]
    events = [accepted(1, 1), accepted(2, 2), trade(2, 2, 1, 100, 5, "buy")]
    assert_replay(impl, commands, events, books(X=book()))


def test_gtc_remainder_rests_after_matching(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 3, 100, account=1),
        limit(2, "buy", 5, 101, account=2),
    ]
    events = [accepted(1, 1), accepted(2, 2), trade(2, 2, 1, 100, 3, "buy")]
    assert_replay(impl, commands, events, books(X=book(bids=[(101, [(2, 2, 0)])])))


def test_better_price_first_and_sweep_stops_at_the_limit(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 2, 102, account=1),
        limit(2, "sell", 2, 101, account=2),
        limit(3, "sell", 2, 103, account=3),
        limit(4, "buy", 5, 102, account=4),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        accepted(4, 4),
        trade(4, 4, 2, 101, 2, "buy"),
        trade(4, 4, 1, 102, 2, "buy"),
    ]
    expected_books = books(X=book(bids=[(102, [(4, 1, 0)])], asks=[(103, [(3, 2, 0)])]))
    assert_replay(impl, commands, events, expected_books)


def test_earlier_arrival_first_at_one_price(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 2, 100, account=1),
        limit(2, "sell", 2, 100, account=2),
        limit(3, "sell", 2, 100, account=3),
        limit(4, "buy", 3, 100, account=4),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        accepted(4, 4),
        trade(4, 4, 1, 100, 2, "buy"),
        trade(4, 4, 2, 100, 1, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(2, 1, 0), (3, 2, 0)])])))


def test_sell_taker_sweeps_bids_best_first_and_rests_its_remainder(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 1, 99, account=1),
        limit(2, "buy", 1, 100, account=2),
        limit(3, "buy", 5, 98, account=3),
        limit(4, "sell", 3, 99, account=4),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        accepted(4, 4),
        trade(4, 4, 2, 100, 1, "sell"),
        trade(4, 4, 1, 99, 1, "sell"),
    ]
    expected_books = books(X=book(bids=[(98, [(3, 5, 0)])], asks=[(99, [(4, 1, 0)])]))
    assert_replay(impl, commands, events, expected_books)


def test_books_list_levels_best_first_on_both_sides(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 1, 98, account=1),
        limit(2, "buy", 2, 99, account=1),
        limit(3, "buy", 3, 97, account=1),
        limit(4, "sell", 4, 103, account=2),
        limit(5, "sell", 5, 101, account=2),
        limit(6, "sell", 6, 102, account=2),
        limit(7, "buy", 7, 99, account=3),
    ]
    events = [accepted(i, i) for i in range(1, 8)]
    expected_books = books(
        X=book(
            bids=[(99, [(2, 2, 0), (7, 7, 0)]), (98, [(1, 1, 0)]), (97, [(3, 3, 0)])],
            asks=[(101, [(5, 5, 0)]), (102, [(6, 6, 0)]), (103, [(4, 4, 0)])],
        )
    )
    assert_replay(impl, commands, events, expected_books)


def test_ioc_cancels_its_remainder(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 2, 100, account=1),
        limit(2, "buy", 5, 100, account=2, tif="ioc"),
    ]
    events = [accepted(1, 1), accepted(2, 2), trade(2, 2, 1, 100, 2, "buy"), cancelled(2, 2, 3, "ioc")]
    assert_replay(impl, commands, events, books(X=book()))


def test_ioc_without_a_cross_is_accepted_then_cancelled_whole(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 2, 101, account=1),
        limit(2, "buy", 5, 100, account=2, tif="ioc"),
    ]
    events = [accepted(1, 1), accepted(2, 2), cancelled(2, 2, 5, "ioc")]
    assert_replay(impl, commands, events, books(X=book(asks=[(101, [(1, 2, 0)])])))


def test_fully_filled_ioc_emits_no_cancel(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1),
        limit(2, "buy", 5, 100, account=2, tif="ioc"),
    ]
    events = [accepted(1, 1), accepted(2, 2), trade(2, 2, 1, 100, 5, "buy")]
    assert_replay(impl, commands, events, books(X=book()))


def test_market_order_matches_at_any_price(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 2, 100, account=1),
        limit(2, "sell", 2, 105, account=1),
        market(3, "buy", 3, account=2),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        trade(3, 3, 1, 100, 2, "buy"),
        trade(3, 3, 2, 105, 1, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(105, [(2, 1, 0)])])))


def test_market_remainder_is_cancelled_no_liquidity(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 2, 100, account=1),
        market(2, "sell", 5, account=2),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        trade(2, 2, 1, 100, 2, "sell"),
        cancelled(2, 2, 3, "no_liquidity"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_market_order_on_an_empty_book_is_accepted_then_cancelled(impl: Impl) -> None:
    commands = [market(1, "buy", 4)]
    events = [accepted(1, 1), cancelled(1, 1, 4, "no_liquidity")]
    assert_replay(impl, commands, events, books(X=book()))


def test_market_order_ignores_price_tif_display_qty_and_trigger_price(impl: Impl) -> None:
    # price, trigger_price, tif (even gtd without expire_at) and display_qty do not apply to market orders.
    commands = [
        limit(1, "sell", 3, 100, account=1),
        market(2, "buy", 3, account=2, price="junk", tif="gtd", display_qty=0, trigger_price=0),
        market(3, "buy", 1, account=2, tif="nonsense", price=-5),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        trade(2, 2, 1, 100, 3, "buy"),
        accepted(3, 3),
        cancelled(3, 3, 1, "no_liquidity"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_limit_order_ignores_trigger_price_and_gtc_ignores_expire_at(impl: Impl) -> None:
    commands = [limit(1, "buy", 1, 100, trigger_price="junk", expire_at="junk", tif="gtc")]
    assert_replay(impl, commands, [accepted(1, 1)], books(X=book(bids=[(100, [(1, 1, 0)])])))


def test_tif_defaults_to_gtc_and_stp_to_none(impl: Impl) -> None:
    # No tif: the remainder rests. No stp: the same account trades with itself.
    commands = [
        limit(1, "sell", 1, 100, account=7),
        limit(2, "buy", 3, 100, account=7),
    ]
    events = [accepted(1, 1), accepted(2, 2), trade(2, 2, 1, 100, 1, "buy")]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(2, 2, 0)])])))


def test_cancel_takes_the_resting_remainder_off(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1),
        limit(2, "buy", 2, 100, account=2),
        cancel(1),
        cancel(1),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        trade(2, 2, 1, 100, 2, "buy"),
        cancelled(3, 1, 3, "user"),
        rejected(4, 1, "unknown_order"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_cancel_of_a_filled_or_never_seen_id_is_unknown_order(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1),
        limit(2, "buy", 1, 100, account=2),
        cancel(1),
        cancel(2),
        cancel(77),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        trade(2, 2, 1, 100, 1, "buy"),
        rejected(3, 1, "unknown_order"),
        rejected(4, 2, "unknown_order"),
        rejected(5, 77, "unknown_order"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_books_are_per_symbol_and_symbols_are_sorted(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, symbol="B"),
        limit(1, "buy", 1, 100, symbol="A"),  # same id, other book: fine; other book: no trade
        cancel(9, symbol="C"),  # a book that only ever saw a rejected command is still present
    ]
    events = [
        accepted(1, 1, symbol="B"),
        accepted(2, 1, symbol="A"),
        rejected(3, 9, "unknown_order", symbol="C"),
    ]
    expected_books = books(
        A=book(bids=[(100, [(1, 1, 0)])]),
        B=book(asks=[(100, [(1, 1, 0)])]),
        C=book(),
    )
    assert_replay(impl, commands, events, expected_books)


def test_seq_counts_commands_across_all_symbols(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, symbol="B"),
        limit(1, "sell", 1, 100, symbol="A"),
        limit(2, "buy", 1, 100, symbol="B", account=2),
    ]
    events = [
        accepted(1, 1, symbol="B"),
        accepted(2, 1, symbol="A"),
        accepted(3, 2, symbol="B"),
        trade(3, 2, 1, 100, 1, "buy", symbol="B"),
    ]
    assert_replay(impl, commands, events, books(A=book(asks=[(100, [(1, 1, 0)])]), B=book()))


def test_zero_is_a_valid_order_id_and_account_id(impl: Impl) -> None:
    commands = [
        limit(0, "sell", 1, 100, account=0),
        limit(1, "buy", 1, 100, account=1),
    ]
    events = [accepted(1, 0), accepted(2, 1), trade(2, 1, 0, 100, 1, "buy")]
    assert_replay(impl, commands, events, books(X=book()))


def test_int64_max_quantity_is_valid(impl: Impl) -> None:
    int64_max = 2**63 - 1
    commands = [
        limit(1, "sell", 5, 100, account=1),
        market(2, "buy", int64_max, account=2),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        trade(2, 2, 1, 100, 5, "buy"),
        cancelled(2, 2, int64_max - 5, "no_liquidity"),
    ]
    assert_replay(impl, commands, events, books(X=book()))
