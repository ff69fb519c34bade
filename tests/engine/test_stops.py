"""Stop orders: trigger list, every trade counts, round-based cascade, priority at entry."""

from __future__ import annotations

from tests.engine.conftest import (
    Impl,
    accepted,
    amend,
    amended,
    assert_replay,
    book,
    books,
    cancel,
    cancelled,
    expired,
    limit,
    rejected,
    stop_limit,
    stop_market,
    trade,
    triggered,
)


def test_buy_stop_triggers_on_a_trade_at_or_above_its_trigger(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1),
        limit(2, "sell", 5, 105, account=1),
        stop_market(3, "buy", 2, 100, account=3),
        limit(4, "buy", 1, 100, account=4),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        accepted(4, 4),
        trade(4, 4, 1, 100, 1, "buy"),
        triggered(4, 3),
        trade(4, 3, 2, 105, 2, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(105, [(2, 3, 0)])])))


def test_sell_stop_triggers_on_a_trade_at_or_below_its_trigger(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 1, 100, account=1),
        limit(2, "buy", 5, 95, account=1),
        stop_market(3, "sell", 2, 100, account=3),
        limit(4, "sell", 1, 100, account=4),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        accepted(4, 4),
        trade(4, 4, 1, 100, 1, "sell"),
        triggered(4, 3),
        trade(4, 3, 2, 95, 2, "sell"),
    ]
    assert_replay(impl, commands, events, books(X=book(bids=[(95, [(2, 3, 0)])])))


def test_stop_waits_unseen_while_the_price_does_not_reach_it(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1),
        stop_market(2, "buy", 2, 101, account=2),
        stop_limit(3, "sell", 2, 90, 99, account=2),
        limit(4, "buy", 1, 100, account=4),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        accepted(4, 4),
        trade(4, 4, 1, 100, 1, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_stop_whose_condition_holds_at_submission_triggers_at_once(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1),
        limit(2, "buy", 1, 100, account=2),
        limit(3, "sell", 2, 101, account=1),
        stop_market(4, "buy", 1, 100, account=4),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        trade(2, 2, 1, 100, 1, "buy"),
        accepted(3, 3),
        accepted(4, 4),
        triggered(4, 4),
        trade(4, 4, 3, 101, 1, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(101, [(3, 1, 0)])])))


def test_stop_without_a_last_trade_price_waits(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 2, 100, account=1),
        stop_market(2, "buy", 1, 1, account=2),
        limit(3, "sell", 1, 50, account=1, ts=1),
        limit(4, "buy", 1, 50, account=3, ts=2),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        accepted(4, 4),
        trade(4, 4, 3, 50, 1, "buy"),
        triggered(4, 2),
        trade(4, 2, 1, 100, 1, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 1, 0)])])))


def test_triggered_stop_limit_rests_as_a_plain_limit(impl: Impl) -> None:
    # display_qty does not apply to stops: it rests fully visible.
    commands = [
        limit(1, "sell", 1, 100, account=1),
        limit(2, "sell", 1, 102, account=1),
        stop_limit(3, "buy", 5, 101, 100, account=3, display_qty=1),
        limit(4, "buy", 1, 100, account=4),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        accepted(4, 4),
        trade(4, 4, 1, 100, 1, "buy"),
        triggered(4, 3),
    ]
    assert_replay(impl, commands, events, books(X=book(bids=[(101, [(3, 5, 0)])], asks=[(102, [(2, 1, 0)])])))


def test_triggered_stop_limit_ioc_cancels_its_remainder(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1),
        limit(2, "sell", 1, 101, account=1),
        stop_limit(3, "buy", 5, 101, 100, account=3, tif="ioc"),
        limit(4, "buy", 1, 100, account=4),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        accepted(4, 4),
        trade(4, 4, 1, 100, 1, "buy"),
        triggered(4, 3),
        trade(4, 3, 2, 101, 1, "buy"),
        cancelled(4, 3, 4, "ioc"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_triggered_stop_limit_fok_that_cannot_fill_is_cancelled(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1),
        limit(2, "sell", 1, 101, account=1),
        stop_limit(3, "buy", 5, 101, 100, account=3, tif="fok"),
        limit(4, "buy", 1, 100, account=4),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        accepted(4, 4),
        trade(4, 4, 1, 100, 1, "buy"),
        triggered(4, 3),
        cancelled(4, 3, 5, "fok"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(101, [(2, 1, 0)])])))


def test_triggered_stop_market_without_liquidity_is_cancelled(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1),
        stop_market(2, "buy", 3, 100, account=2),
        limit(3, "buy", 1, 100, account=3),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        trade(3, 3, 1, 100, 1, "buy"),
        triggered(3, 2),
        cancelled(3, 2, 3, "no_liquidity"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_a_trade_in_the_middle_of_a_sweep_triggers_and_the_stop_enters_after_the_command(
    impl: Impl,
) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1),
        limit(2, "sell", 1, 101, account=1),
        limit(3, "sell", 5, 102, account=1),
        stop_market(4, "buy", 1, 101, account=4),
        limit(5, "buy", 3, 102, account=5),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        accepted(4, 4),
        accepted(5, 5),
        trade(5, 5, 1, 100, 1, "buy"),
        trade(5, 5, 2, 101, 1, "buy"),
        trade(5, 5, 3, 102, 1, "buy"),
        triggered(5, 4),
        trade(5, 4, 3, 102, 1, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(102, [(3, 3, 0)])])))


def test_triggered_stop_queues_behind_the_triggering_orders_remainder(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1),
        stop_limit(2, "buy", 1, 100, 100, account=2),
        limit(3, "buy", 3, 100, account=3),
        limit(4, "sell", 2, 100, account=4),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        trade(3, 3, 1, 100, 1, "buy"),
        triggered(3, 2),
        accepted(4, 4),
        trade(4, 4, 3, 100, 2, "sell"),
    ]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(2, 1, 0)])])))


def test_stops_of_a_round_enter_buys_by_ascending_trigger_then_sells_by_descending(impl: Impl) -> None:
    # The triggered stop-limits do not cross (bids at 50, asks at 150): they rest in entry order.
    commands = [
        stop_limit(11, "buy", 1, 50, 100, account=9),
        stop_limit(12, "buy", 1, 50, 99, account=9),
        stop_limit(13, "buy", 1, 50, 100, account=9),
        stop_limit(21, "sell", 1, 150, 100, account=9),
        stop_limit(22, "sell", 1, 150, 101, account=9),
        stop_limit(23, "sell", 1, 150, 101, account=9),
        limit(1, "sell", 1, 100, account=1),
        limit(2, "buy", 1, 100, account=2),
    ]
    events = [
        accepted(1, 11),
        accepted(2, 12),
        accepted(3, 13),
        accepted(4, 21),
        accepted(5, 22),
        accepted(6, 23),
        accepted(7, 1),
        accepted(8, 2),
        trade(8, 2, 1, 100, 1, "buy"),
        triggered(8, 12),
        triggered(8, 11),
        triggered(8, 13),
        triggered(8, 22),
        triggered(8, 23),
        triggered(8, 21),
    ]
    expected_books = books(
        X=book(
            bids=[(50, [(12, 1, 0), (11, 1, 0), (13, 1, 0)])],
            asks=[(150, [(22, 1, 0), (23, 1, 0), (21, 1, 0)])],
        )
    )
    assert_replay(impl, commands, events, expected_books)


def test_stops_triggered_by_a_round_enter_in_the_next_round(impl: Impl) -> None:
    # Trade at 100 triggers buy 11 and sell 12. 11 trades at 101 and so triggers buy 13, which must
    # wait for the next round: it enters after 12 even though buys enter before sells.
    commands = [
        limit(1, "sell", 1, 100, account=1),
        limit(2, "sell", 1, 101, account=1),
        limit(3, "sell", 5, 102, account=1),
        limit(4, "buy", 5, 99, account=1),
        stop_market(11, "buy", 1, 100, account=5),
        stop_market(12, "sell", 1, 100, account=6),
        stop_market(13, "buy", 1, 101, account=7),
        limit(8, "buy", 1, 100, account=8),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        accepted(4, 4),
        accepted(5, 11),
        accepted(6, 12),
        accepted(7, 13),
        accepted(8, 8),
        trade(8, 8, 1, 100, 1, "buy"),
        triggered(8, 11),
        trade(8, 11, 2, 101, 1, "buy"),
        triggered(8, 12),
        trade(8, 12, 4, 99, 1, "sell"),
        triggered(8, 13),
        trade(8, 13, 3, 102, 1, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(bids=[(99, [(4, 4, 0)])], asks=[(102, [(3, 4, 0)])])))


def test_cascade_of_sell_stops_through_falling_prices(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 1, 100, account=1),
        limit(2, "buy", 1, 98, account=1),
        limit(3, "buy", 1, 96, account=1),
        stop_market(11, "sell", 1, 98, account=5),
        stop_market(12, "sell", 1, 100, account=6),
        limit(9, "sell", 1, 100, account=9),
    ]
    # 9 trades at 100: triggers 12 (trigger 100), not 11 (98). 12 trades at 98: triggers 11.
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        accepted(4, 11),
        accepted(5, 12),
        accepted(6, 9),
        trade(6, 9, 1, 100, 1, "sell"),
        triggered(6, 12),
        trade(6, 12, 2, 98, 1, "sell"),
        triggered(6, 11),
        trade(6, 11, 3, 96, 1, "sell"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_cancelled_stop_no_longer_triggers(impl: Impl) -> None:
    commands = [
        stop_market(1, "buy", 2, 100, account=1),
        cancel(1),
        limit(2, "sell", 3, 100, account=2),
        limit(3, "buy", 1, 100, account=3),
    ]
    events = [
        accepted(1, 1),
        cancelled(2, 1, 2, "user"),
        accepted(3, 2),
        accepted(4, 3),
        trade(4, 3, 2, 100, 1, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(2, 2, 0)])])))


def test_triggered_stop_keeps_its_stp(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=2),
        limit(2, "sell", 5, 101, account=1),
        stop_market(3, "buy", 2, 100, account=1, stp="cancel_taker"),
        limit(4, "buy", 1, 100, account=4),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        accepted(4, 4),
        trade(4, 4, 1, 100, 1, "buy"),
        triggered(4, 3),
        cancelled(4, 3, 2, "stp"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(101, [(2, 5, 0)])])))


def test_failed_fok_trades_nothing_and_so_triggers_nothing(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1),
        stop_market(2, "buy", 1, 100, account=2),
        limit(3, "buy", 2, 100, account=3, tif="fok"),
        cancel(2),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        cancelled(3, 3, 2, "fok"),
        cancelled(4, 2, 1, "user"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 1, 0)])])))


def test_amend_reentry_trades_trigger_stops(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 1, 99, account=1),
        limit(3, "buy", 5, 98, account=3),
        stop_market(2, "sell", 1, 99, account=2),
        limit(4, "sell", 1, 101, account=4),
        amend(4, price=99),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 3),
        accepted(3, 2),
        accepted(4, 4),
        amended(5, 4, 99, 1),
        trade(5, 4, 1, 99, 1, "sell"),
        triggered(5, 2),
        trade(5, 2, 3, 98, 1, "sell"),
    ]
    assert_replay(impl, commands, events, books(X=book(bids=[(98, [(3, 4, 0)])])))


def test_triggered_resting_stop_limit_can_be_amended_and_cancelled(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1),
        stop_limit(2, "buy", 3, 90, 100, account=2),
        limit(3, "buy", 1, 100, account=3),
        amend(2, qty=2),
        cancel(2),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        trade(3, 3, 1, 100, 1, "buy"),
        triggered(3, 2),
        amended(4, 2, 90, 2),
        cancelled(5, 2, 2, "user"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_triggered_gtd_stop_limit_rests_and_then_expires(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1, ts=0),
        stop_limit(2, "buy", 3, 90, 100, account=2, ts=0, tif="gtd", expire_at=50),
        limit(3, "buy", 1, 100, account=3, ts=10),
        cancel(99, ts=50),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        trade(3, 3, 1, 100, 1, "buy"),
        triggered(3, 2),
        expired(4, 2, 3),
        rejected(4, 99, "unknown_order"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_stop_ignored_fields_and_waiting_stops_are_not_in_the_books(impl: Impl) -> None:
    # tif does not apply to stop_market and display_qty does not apply to stops.
    commands = [
        stop_market(1, "buy", 2, 110, tif="bogus", display_qty=0, price="junk"),
        stop_limit(2, "sell", 2, 90, 95, display_qty=0),
        limit(3, "buy", 1, 100, account=3),
    ]
    events = [accepted(1, 1), accepted(2, 2), accepted(3, 3)]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(3, 1, 0)])])))


def test_triggered_stop_gets_no_second_accepted_and_keeps_its_id(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1),
        stop_limit(2, "buy", 1, 100, 100, account=2),
        limit(3, "buy", 1, 100, account=3),
        limit(2, "buy", 1, 100, account=2),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        trade(3, 3, 1, 100, 1, "buy"),
        triggered(3, 2),
        rejected(4, 2, "duplicate_order_id"),
    ]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(2, 1, 0)])])))
