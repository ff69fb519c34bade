"""gtd orders: expire_at validation and expiry by the book's own logical time before each command."""

from __future__ import annotations

from typing import Any

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
    market,
    rejected,
    stop_limit,
    stop_market,
    trade,
)


def test_gtd_rests_and_expires_before_the_first_command_at_or_after_expire_at(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 100, ts=1, tif="gtd", expire_at=10),
        cancel(99, ts=9),
        cancel(99, ts=10),
    ]
    events = [
        accepted(1, 1),
        rejected(2, 99, "unknown_order"),
        expired(3, 1, 5),
        rejected(3, 99, "unknown_order"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_gtd_still_rests_just_before_expire_at(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 100, ts=1, tif="gtd", expire_at=10),
        cancel(99, ts=9),
    ]
    events = [accepted(1, 1), rejected(2, 99, "unknown_order")]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(1, 5, 0)])])))


def test_missing_or_non_integer_expire_at_is_missing_expire_at(impl: Impl) -> None:
    bad_values: list[Any] = ["10", 10.5, True]
    commands = [limit(1, "buy", 5, 100, ts=1, tif="gtd")]
    commands += [limit(1, "buy", 5, 100, ts=1, tif="gtd", expire_at=value) for value in bad_values]
    events = [rejected(seq, 1, "missing_expire_at") for seq in range(1, 5)]
    assert_replay(impl, commands, events, books(X=book()))


def test_expire_at_not_after_its_own_ts_is_invalid_expire_at(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 100, ts=5, tif="gtd", expire_at=5),
        limit(1, "buy", 5, 100, ts=5, tif="gtd", expire_at=4),
        limit(1, "buy", 5, 100, ts=5, tif="gtd", expire_at=6),
    ]
    events = [rejected(1, 1, "invalid_expire_at"), rejected(2, 1, "invalid_expire_at"), accepted(3, 1)]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(1, 5, 0)])])))


def test_expiries_come_in_expire_at_order_then_acceptance_order(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 1, 100, tif="gtd", expire_at=20),
        limit(2, "buy", 2, 99, tif="gtd", expire_at=15),
        limit(3, "buy", 3, 98, tif="gtd", expire_at=15),
        limit(4, "buy", 4, 97),
        cancel(99, ts=30),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        accepted(3, 3),
        accepted(4, 4),
        expired(5, 2, 2),
        expired(5, 3, 3),
        expired(5, 1, 1),
        rejected(5, 99, "unknown_order"),
    ]
    assert_replay(impl, commands, events, books(X=book(bids=[(97, [(4, 4, 0)])])))


def test_acceptance_order_is_kept_by_an_amend_reentry(impl: Impl) -> None:
    # Order 1 re-enters behind order 2 but was accepted first, so it expires first.
    commands = [
        limit(1, "buy", 1, 100, tif="gtd", expire_at=20),
        limit(2, "buy", 1, 100, tif="gtd", expire_at=20),
        amend(1, qty=2, ts=1),
        cancel(99, ts=20),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        amended(3, 1, 100, 2),
        expired(4, 1, 2),
        expired(4, 2, 1),
        rejected(4, 99, "unknown_order"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_expiry_runs_before_the_command_itself(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1, ts=0, tif="gtd", expire_at=10),
        limit(2, "buy", 5, 100, account=2, ts=10),
    ]
    events = [accepted(1, 1), expired(2, 1, 5), accepted(2, 2)]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(2, 5, 0)])])))


def test_partially_filled_gtd_iceberg_expires_with_visible_plus_hidden(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 10, 100, account=1, ts=0, tif="gtd", expire_at=10, display_qty=3),
        limit(2, "buy", 2, 100, account=2, ts=5),
        limit(3, "buy", 1, 90, account=2, ts=10),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        trade(2, 2, 1, 100, 2, "buy"),
        expired(3, 1, 8),
        accepted(3, 3),
    ]
    assert_replay(impl, commands, events, books(X=book(bids=[(90, [(3, 1, 0)])])))


def test_each_book_sees_only_its_own_timestamps(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 100, ts=0, tif="gtd", expire_at=10, symbol="A"),
        cancel(99, ts=50, symbol="B"),
        cancel(99, ts=50, symbol="A"),
    ]
    events = [
        accepted(1, 1, symbol="A"),
        rejected(2, 99, "unknown_order", symbol="B"),
        expired(3, 1, 5, symbol="A"),
        rejected(3, 99, "unknown_order", symbol="A"),
    ]
    assert_replay(impl, commands, events, books(A=book(), B=book()))


def test_book_time_alone_does_not_expire_until_a_command_arrives(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 100, ts=0, tif="gtd", expire_at=10, symbol="A"),
        cancel(99, ts=50, symbol="B"),
    ]
    events = [accepted(1, 1, symbol="A"), rejected(2, 99, "unknown_order", symbol="B")]
    assert_replay(impl, commands, events, books(A=book(bids=[(100, [(1, 5, 0)])]), B=book()))


def test_expiry_runs_even_before_a_rejected_or_invalid_op_command(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 100, ts=0, tif="gtd", expire_at=10),
        {"symbol": "X", "op": "replace", "order_id": 7, "ts": 10},
    ]
    events = [accepted(1, 1), expired(2, 1, 5), rejected(2, 7, "invalid_op")]
    assert_replay(impl, commands, events, books(X=book()))


def test_waiting_gtd_stop_limit_expires(impl: Impl) -> None:
    commands = [
        stop_limit(1, "buy", 4, 105, 110, ts=0, tif="gtd", expire_at=10),
        cancel(99, ts=12),
        cancel(1, ts=13),
    ]
    events = [
        accepted(1, 1),
        expired(2, 1, 4),
        rejected(2, 99, "unknown_order"),
        rejected(3, 1, "unknown_order"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_stop_market_ignores_tif_gtd_and_never_expires(impl: Impl) -> None:
    commands = [
        stop_market(1, "buy", 4, 110, ts=0, tif="gtd"),  # no expire_at: fine, tif is ignored
        stop_market(2, "sell", 4, 90, ts=0, tif="gtd", expire_at=5),
        cancel(99, ts=1000),
        cancel(1, ts=1000),
        cancel(2, ts=1000),
    ]
    events = [
        accepted(1, 1),
        accepted(2, 2),
        rejected(3, 99, "unknown_order"),
        cancelled(4, 1, 4, "user"),
        cancelled(5, 2, 4, "user"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_market_with_tif_gtd_needs_no_expire_at(impl: Impl) -> None:
    commands = [market(1, "buy", 2, ts=0, tif="gtd")]
    events = [accepted(1, 1), cancelled(1, 1, 2, "no_liquidity")]
    assert_replay(impl, commands, events, books(X=book()))


def test_amend_reentry_keeps_expire_at(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 101, ts=0, tif="gtd", expire_at=10),
        amend(1, price=102, ts=1),
        cancel(99, ts=10),
    ]
    events = [
        accepted(1, 1),
        amended(2, 1, 102, 5),
        expired(3, 1, 5),
        rejected(3, 99, "unknown_order"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_cancelled_gtd_order_does_not_expire_later(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 101, ts=0, tif="gtd", expire_at=10),
        cancel(1, ts=2),
        cancel(99, ts=20),
    ]
    events = [accepted(1, 1), cancelled(2, 1, 5, "user"), rejected(3, 99, "unknown_order")]
    assert_replay(impl, commands, events, books(X=book()))


def test_gtc_order_never_expires(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 101, ts=0, expire_at=1),
        cancel(99, ts=10**18),
    ]
    events = [accepted(1, 1), rejected(2, 99, "unknown_order")]
    assert_replay(impl, commands, events, books(X=book(asks=[(101, [(1, 5, 0)])])))
