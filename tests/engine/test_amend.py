"""Amend: priority-keeping reductions vs re-entry on a price change or a qty increase."""

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
    limit,
    rejected,
    stop_market,
    trade,
)


def test_qty_reduction_keeps_time_priority(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1),
        limit(2, "sell", 5, 100, account=2),
        amend(1, qty=3),
        limit(3, "buy", 4, 100, account=3),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        amended(3, 1, 100, 3),
        accepted(4, 3),
        trade(4, 3, 1, 100, 3, "buy"),
        trade(4, 3, 2, 100, 1, "buy"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(2, 4, 0)])])))


def test_qty_increase_moves_the_order_to_the_back(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1),
        limit(2, "sell", 5, 100, account=2),
        amend(1, qty=6),
    ]
    events = [accepted(1, 1), accepted(2, 2), amended(3, 1, 100, 6)]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(2, 5, 0), (1, 6, 0)])])))


def test_price_change_reenters_at_the_back_of_the_new_price(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 101, account=1),
        limit(2, "sell", 1, 100, account=2),
        amend(2, price=101),
    ]
    events = [accepted(1, 1), accepted(2, 2), amended(3, 2, 101, 1)]
    assert_replay(impl, commands, events, books(X=book(asks=[(101, [(1, 1, 0), (2, 1, 0)])])))


def test_price_change_with_qty_decrease_still_loses_priority(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 101, account=1),
        limit(2, "sell", 5, 100, account=2),
        amend(2, price=101, qty=1),
    ]
    events = [accepted(1, 1), accepted(2, 2), amended(3, 2, 101, 1)]
    assert_replay(impl, commands, events, books(X=book(asks=[(101, [(1, 5, 0), (2, 1, 0)])])))


def test_amend_to_a_crossing_price_trades_as_incoming_after_amended(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 99, account=1),
        limit(2, "sell", 3, 101, account=2),
        amend(2, price=99),
    ]
    events = [accepted(1, 1), accepted(2, 2), amended(3, 2, 99, 3), trade(3, 2, 1, 99, 3, "sell")]
    assert_replay(impl, commands, events, books(X=book(bids=[(99, [(1, 2, 0)])])))


def test_reentered_remainder_rests_at_the_new_price(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 2, 100, account=1),
        limit(2, "sell", 5, 102, account=2),
        amend(2, price=100),
    ]
    events = [accepted(1, 1), accepted(2, 2), amended(3, 2, 100, 5), trade(3, 2, 1, 100, 2, "sell")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(2, 3, 0)])])))


def test_same_price_and_same_qty_is_an_accepted_no_op(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1),
        limit(2, "sell", 5, 100, account=2),
        amend(1, price=100, qty=5),
        amend(1, price=100),
    ]
    events = [accepted(1, 1), accepted(2, 2), amended(3, 1, 100, 5), amended(4, 1, 100, 5)]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 5, 0), (2, 5, 0)])])))


def test_price_equal_to_current_with_smaller_qty_keeps_priority(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 100, account=1),
        limit(2, "buy", 5, 100, account=2),
        amend(1, price=100, qty=2),
    ]
    events = [accepted(1, 1), accepted(2, 2), amended(3, 1, 100, 2)]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(1, 2, 0), (2, 5, 0)])])))


def test_iceberg_reduction_comes_out_of_hidden_first(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 10, 100, account=1, display_qty=3),
        limit(2, "sell", 1, 100, account=2),
        amend(1, qty=5),
        amend(1, qty=2),
    ]
    events = [accepted(1, 1), accepted(2, 2), amended(3, 1, 100, 5), amended(4, 1, 100, 2)]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 2, 0), (2, 1, 0)])])))


def test_iceberg_reduction_snapshot_after_first_step(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 10, 100, account=1, display_qty=3),
        amend(1, qty=5),
    ]
    events = [accepted(1, 1), amended(2, 1, 100, 5)]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 3, 2)])])))


def test_iceberg_qty_increase_reenters_showing_display_qty_again(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 10, 100, account=1, display_qty=3),
        limit(2, "sell", 1, 100, account=2),
        limit(3, "buy", 2, 100, account=3),
        amend(1, qty=12),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        trade(3, 3, 1, 100, 2, "buy"),
        amended(4, 1, 100, 12),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(2, 1, 0), (1, 3, 9)])])))


def test_amend_qty_is_the_new_remaining_after_partial_fills(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 10, 100, account=1),
        limit(3, "sell", 1, 100, account=3),
        limit(2, "buy", 4, 100, account=2),
        amend(1, qty=6),  # equal to the remaining 6: a no-op that keeps priority
        amend(1, qty=7),  # an increase: re-entry at the back
    ]
    events = [
        accepted(1, 1),
        accepted(2, 3),
        accepted(3, 2),
        trade(3, 2, 1, 100, 4, "buy"),
        amended(4, 1, 100, 6),
        amended(5, 1, 100, 7),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(3, 1, 0), (1, 7, 0)])])))


def test_amend_price_and_qty_together(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 101, account=1),
        amend(1, price=102, qty=2),
    ]
    events = [accepted(1, 1), amended(2, 1, 102, 2)]
    assert_replay(impl, commands, events, books(X=book(asks=[(102, [(1, 2, 0)])])))


def test_amend_rejections(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 100, account=1),
        amend(1),  # neither price nor qty
        amend(1, price=0),
        amend(1, price=-3),
        amend(1, qty=0),
        amend(1, qty=-1),
        amend(1, qty=True),  # a bool is not an integer
        amend(1, price=0, qty=0),  # price is listed first
        amend(42, qty=1),
    ]
    events = [
        accepted(1, 1),
        rejected(2, 1, "invalid_amend"),
        rejected(3, 1, "invalid_price"),
        rejected(4, 1, "invalid_price"),
        rejected(5, 1, "invalid_qty"),
        rejected(6, 1, "invalid_qty"),
        rejected(7, 1, "invalid_qty"),
        rejected(8, 1, "invalid_price"),
        rejected(9, 42, "unknown_order"),
    ]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(1, 5, 0)])])))


def test_amend_checks_the_id_first(impl: Impl) -> None:
    # "for cancel and amend the id is checked first": unknown_order beats invalid_amend/invalid_price.
    commands = [amend(5), amend(5, price=0)]
    events = [rejected(1, 5, "unknown_order"), rejected(2, 5, "unknown_order")]
    assert_replay(impl, commands, events, books(X=book()))


def test_amend_of_a_filled_or_cancelled_order_is_unknown(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1),
        limit(2, "buy", 1, 100, account=2),
        amend(1, qty=1),
        limit(3, "buy", 1, 90, account=2),
        cancel(3),
        amend(3, price=91),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        trade(2, 2, 1, 100, 1, "buy"),
        rejected(3, 1, "unknown_order"),
        accepted(4, 3),
        cancelled(5, 3, 1, "user"),
        rejected(6, 3, "unknown_order"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_waiting_stop_is_not_amendable(impl: Impl) -> None:
    commands = [
        stop_market(1, "buy", 5, 110),
        amend(1, qty=3),
        cancel(1),
    ]
    events = [accepted(1, 1), rejected(2, 1, "not_amendable"), cancelled(3, 1, 5, "user")]
    assert_replay(impl, commands, events, books(X=book()))


def test_post_only_amended_to_a_crossing_price_is_rejected_and_stays(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 100, account=1),
        limit(2, "sell", 5, 102, account=2, post_only=True),
        amend(2, price=100),
        amend(2, price=101),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        rejected(3, 2, "post_only_would_cross"),
        amended(4, 2, 101, 5),
    ]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(1, 5, 0)])], asks=[(101, [(2, 5, 0)])])))


def test_post_only_rejected_amend_leaves_qty_and_priority_unchanged(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 100, account=1),
        limit(2, "sell", 5, 102, account=2, post_only=True),
        limit(3, "sell", 5, 102, account=3),
        amend(2, price=99, qty=1),
    ]
    events = [accepted(1, 1), accepted(2, 2), accepted(3, 3), rejected(4, 2, "post_only_would_cross")]
    expected_books = books(X=book(bids=[(100, [(1, 5, 0)])], asks=[(102, [(2, 5, 0), (3, 5, 0)])]))
    assert_replay(impl, commands, events, expected_books)


def test_reentry_uses_the_orders_own_stp(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 99, account=1),
        limit(2, "sell", 3, 101, account=1, stp="cancel_taker"),
        amend(2, price=99),
        amend(2, qty=1),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        amended(3, 2, 99, 3),
        cancelled(3, 2, 3, "stp"),
        rejected(4, 2, "unknown_order"),
    ]
    assert_replay(impl, commands, events, books(X=book(bids=[(99, [(1, 5, 0)])])))


def test_plain_order_sent_with_display_equal_to_qty_stays_plain_after_increase(impl: Impl) -> None:
    # "display_qty == qty is a plain order": raising its qty re-enters it fully visible.
    commands = [
        limit(1, "buy", 4, 100, display_qty=4),
        amend(1, qty=9),
    ]
    events = [accepted(1, 1), amended(2, 1, 100, 9)]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(1, 9, 0)])])))
