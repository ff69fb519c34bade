"""Post-only: limit gtc/gtd only; rejected if it would trade on arrival, whatever the accounts."""

from __future__ import annotations

from tests.engine.conftest import (
    Impl,
    accepted,
    assert_replay,
    book,
    books,
    limit,
    market,
    rejected,
    stop_limit,
    trade,
)


def test_post_only_that_does_not_cross_rests(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 101, account=1),
        limit(2, "buy", 5, 100, account=2, post_only=True),
        limit(3, "sell", 5, 102, account=2, post_only=True, tif="gtd", expire_at=50),
    ]
    events = [accepted(1, 1), accepted(2, 2), accepted(3, 3)]
    expected_books = books(X=book(bids=[(100, [(2, 5, 0)])], asks=[(101, [(1, 5, 0)]), (102, [(3, 5, 0)])]))
    assert_replay(impl, commands, events, expected_books)


def test_post_only_buy_at_the_best_ask_is_rejected(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 101, account=1),
        limit(2, "buy", 5, 101, account=2, post_only=True),
    ]
    events = [accepted(1, 1), rejected(2, 2, "post_only_would_cross")]
    assert_replay(impl, commands, events, books(X=book(asks=[(101, [(1, 5, 0)])])))


def test_post_only_sell_at_or_below_the_best_bid_is_rejected(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 100, account=1),
        limit(2, "sell", 5, 99, account=2, post_only=True),
        limit(3, "sell", 5, 100, account=2, post_only=True),
    ]
    events = [
        accepted(1, 1),
        rejected(2, 2, "post_only_would_cross"),
        rejected(3, 3, "post_only_would_cross"),
    ]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(1, 5, 0)])])))


def test_post_only_would_cross_whatever_the_account_and_stp(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1),
        limit(2, "buy", 5, 100, account=1, post_only=True, stp="cancel_maker"),
    ]
    events = [accepted(1, 1), rejected(2, 2, "post_only_would_cross")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 5, 0)])])))


def test_post_only_on_market_or_stop_is_post_only_not_limit(impl: Impl) -> None:
    commands = [
        market(1, "buy", 5, post_only=True),
        stop_limit(2, "buy", 5, 100, 100, post_only=True),
    ]
    events = [rejected(1, 1, "post_only_not_limit"), rejected(2, 2, "post_only_not_limit")]
    assert_replay(impl, commands, events, books(X=book()))


def test_post_only_with_ioc_or_fok_is_post_only_invalid_tif(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 5, 100, post_only=True, tif="ioc"),
        limit(2, "buy", 5, 100, post_only=True, tif="fok"),
    ]
    events = [rejected(1, 1, "post_only_invalid_tif"), rejected(2, 2, "post_only_invalid_tif")]
    assert_replay(impl, commands, events, books(X=book()))


def test_post_only_not_limit_is_checked_before_post_only_invalid_tif(impl: Impl) -> None:
    commands = [stop_limit(1, "buy", 5, 100, 100, post_only=True, tif="ioc")]
    assert_replay(impl, commands, [rejected(1, 1, "post_only_not_limit")], books(X=book()))


def test_rejected_post_only_id_can_be_sent_again(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1),
        limit(2, "buy", 5, 100, account=2, post_only=True),
        limit(2, "buy", 5, 99, account=2, post_only=True),
    ]
    events = [accepted(1, 1), rejected(2, 2, "post_only_would_cross"), accepted(3, 2)]
    assert_replay(impl, commands, events, books(X=book(bids=[(99, [(2, 5, 0)])], asks=[(100, [(1, 5, 0)])])))


def test_post_only_iceberg_rests_with_its_display(impl: Impl) -> None:
    commands = [limit(1, "buy", 9, 100, post_only=True, display_qty=2)]
    assert_replay(impl, commands, [accepted(1, 1)], books(X=book(bids=[(100, [(1, 2, 7)])])))


def test_post_only_false_trades_normally(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1),
        limit(2, "buy", 5, 100, account=2, post_only=False),
    ]
    events = [accepted(1, 1), accepted(2, 2), trade(2, 2, 1, 100, 5, "buy")]
    assert_replay(impl, commands, events, books(X=book()))


def test_post_only_checks_the_best_opposite_price_not_only_its_own_level(impl: Impl) -> None:
    # Best ask 100 < 102: a post-only buy at 101 would trade with it.
    commands = [
        limit(1, "sell", 1, 102, account=1),
        limit(2, "sell", 1, 100, account=1),
        limit(3, "buy", 1, 101, account=2, post_only=True),
    ]
    events = [accepted(1, 1), accepted(2, 2), rejected(3, 3, "post_only_would_cross")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(2, 1, 0)]), (102, [(1, 1, 0)])])))
