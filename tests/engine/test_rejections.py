"""Rejections: duplicate ids, invalid fields (raw JSON values), their check order, malformed input."""

from __future__ import annotations

from typing import Any

import pytest

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
    new,
    rejected,
    stop_limit,
    stop_market,
    trade,
)

INT64_MAX = 2**63 - 1


def test_duplicate_id_of_a_resting_filled_or_cancelled_order_is_rejected(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1),
        limit(1, "sell", 1, 101, account=1),
        limit(2, "buy", 1, 100, account=2),
        limit(2, "buy", 1, 90, account=2),
        limit(3, "buy", 1, 90, account=2),
        cancel(3),
        limit(3, "buy", 1, 90, account=2),
    ]
    events = [
        accepted(1, 1),
        rejected(2, 1, "duplicate_order_id"),
        accepted(3, 2),
        trade(3, 2, 1, 100, 1, "buy"),
        rejected(4, 2, "duplicate_order_id"),
        accepted(5, 3),
        cancelled(6, 3, 1, "user"),
        rejected(7, 3, "duplicate_order_id"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


def test_duplicate_id_is_checked_before_anything_else(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 1, 100),
        new(1, "up", -1, "weird", stp="bogus", tif="never"),
    ]
    events = [accepted(1, 1), rejected(2, 1, "duplicate_order_id")]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(1, 1, 0)])])))


def test_id_of_a_rejected_new_order_may_be_sent_again(impl: Impl) -> None:
    commands = [
        limit(5, "buy", 0, 100),
        limit(5, "buy", 1, 100),
    ]
    events = [rejected(1, 5, "invalid_qty"), accepted(2, 5)]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(5, 1, 0)])])))


def test_id_of_a_waiting_stop_is_used(impl: Impl) -> None:
    commands = [stop_market(1, "buy", 1, 100), limit(1, "buy", 1, 90)]
    events = [accepted(1, 1), rejected(2, 1, "duplicate_order_id")]
    assert_replay(impl, commands, events, books(X=book()))


@pytest.mark.parametrize("side", ["BUY", "bid", "", None, 1, True])
def test_invalid_side(impl: Impl, side: Any) -> None:
    commands = [new(1, side, 1, "limit", price=100)]
    assert_replay(impl, commands, [rejected(1, 1, "invalid_side")], books(X=book()))


def test_missing_side_is_invalid_side(impl: Impl) -> None:
    command = limit(1, "buy", 1, 100)
    del command["side"]
    assert_replay(impl, [command], [rejected(1, 1, "invalid_side")], books(X=book()))


@pytest.mark.parametrize("order_type", ["stop", "LIMIT", "", None, 0])
def test_invalid_type(impl: Impl, order_type: Any) -> None:
    commands = [new(1, "buy", 1, order_type, price=100)]
    assert_replay(impl, commands, [rejected(1, 1, "invalid_type")], books(X=book()))


@pytest.mark.parametrize("qty", [0, -1, 1.5, True, False, "5", None, 2**63, [5]])
def test_invalid_qty(impl: Impl, qty: Any) -> None:
    commands = [limit(1, "buy", qty, 100)]
    assert_replay(impl, commands, [rejected(1, 1, "invalid_qty")], books(X=book()))


@pytest.mark.parametrize("price", [0, -100, 100.5, True, "100", None, 2**63])
def test_invalid_price_on_limit_and_stop_limit(impl: Impl, price: Any) -> None:
    commands = [
        limit(1, "buy", 1, price),
        stop_limit(1, "buy", 1, price, 100),
    ]
    events = [rejected(1, 1, "invalid_price"), rejected(2, 1, "invalid_price")]
    assert_replay(impl, commands, events, books(X=book()))


def test_missing_price_on_a_limit_is_invalid_price(impl: Impl) -> None:
    commands = [new(1, "buy", 1, "limit")]
    assert_replay(impl, commands, [rejected(1, 1, "invalid_price")], books(X=book()))


@pytest.mark.parametrize("trigger_price", [0, -1, 99.5, True, "100", None, 2**63])
def test_invalid_trigger_price_on_stops(impl: Impl, trigger_price: Any) -> None:
    commands = [
        stop_market(1, "buy", 1, trigger_price),
        stop_limit(1, "buy", 1, 100, trigger_price),
    ]
    events = [rejected(1, 1, "invalid_trigger_price"), rejected(2, 1, "invalid_trigger_price")]
    assert_replay(impl, commands, events, books(X=book()))


@pytest.mark.parametrize("tif", ["day", "GTC", "", 1, True])
def test_invalid_tif_on_limit_and_stop_limit(impl: Impl, tif: Any) -> None:
    commands = [
        limit(1, "buy", 1, 100, tif=tif),
        stop_limit(1, "buy", 1, 100, 100, tif=tif),
    ]
    events = [rejected(1, 1, "invalid_tif"), rejected(2, 1, "invalid_tif")]
    assert_replay(impl, commands, events, books(X=book()))


@pytest.mark.parametrize("display_qty", [0, -1, 11, 2.5, True, "3"])
def test_invalid_display_qty_on_gtc_and_gtd_limits(impl: Impl, display_qty: Any) -> None:
    commands = [
        limit(1, "buy", 10, 100, display_qty=display_qty),
        limit(1, "buy", 10, 100, display_qty=display_qty, tif="gtd", expire_at=5),
    ]
    events = [rejected(1, 1, "invalid_display_qty"), rejected(2, 1, "invalid_display_qty")]
    assert_replay(impl, commands, events, books(X=book()))


@pytest.mark.parametrize("stp", ["cancel", "CANCEL_TAKER", "", 0, True])
def test_invalid_stp(impl: Impl, stp: Any) -> None:
    commands = [
        limit(1, "buy", 1, 100, stp=stp),
        stop_market(1, "buy", 1, 100, stp=stp),
    ]
    events = [rejected(1, 1, "invalid_stp"), rejected(2, 1, "invalid_stp")]
    assert_replay(impl, commands, events, books(X=book()))


def test_invalid_field_checks_run_in_the_listed_order(impl: Impl) -> None:
    # side, type, qty, price, trigger_price, tif, display_qty, stp: each command breaks one field and
    # every field after it, so the first broken field in that order is the reason.
    commands = [
        new(1, "x", 0, "x", price=0, trigger_price=0, tif="x", display_qty=0, stp="x"),
        new(1, "buy", 0, "x", price=0, trigger_price=0, tif="x", display_qty=0, stp="x"),
        new(1, "buy", 0, "stop_limit", price=0, trigger_price=0, tif="x", display_qty=0, stp="x"),
        new(1, "buy", 1, "stop_limit", price=0, trigger_price=0, tif="x", display_qty=0, stp="x"),
        new(1, "buy", 1, "stop_limit", price=1, trigger_price=0, tif="x", display_qty=0, stp="x"),
        new(1, "buy", 1, "limit", price=1, tif="x", display_qty=0, stp="x"),
        new(1, "buy", 1, "limit", price=1, tif="gtc", display_qty=0, stp="x"),
        new(1, "buy", 1, "limit", price=1, tif="gtc", display_qty=1, stp="x"),
    ]
    reasons = [
        "invalid_side",
        "invalid_type",
        "invalid_qty",
        "invalid_price",
        "invalid_trigger_price",
        "invalid_tif",
        "invalid_display_qty",
        "invalid_stp",
    ]
    events = [rejected(seq, 1, reason) for seq, reason in enumerate(reasons, start=1)]
    assert_replay(impl, commands, events, books(X=book()))


def test_expire_at_and_post_only_rules_come_after_the_invalid_input_list(impl: Impl) -> None:
    # Reading of "checks run in the order this page lists them": the "Invalid input" list is the field
    # validation order; the gtd expire_at rules and the post_only rules (which need a valid type and
    # tif) follow it, and post_only_would_cross (which needs a valid side and price) comes last.
    commands = [
        limit(1, "sell", 1, 100, account=9),
        limit(2, "buy", 1, 100, tif="gtd", stp="x"),  # expire_at missing too
        limit(2, "buy", 1, 100, tif="gtd", display_qty=0),  # expire_at missing too
        limit(2, "buy", 0, 100, tif="ioc", post_only=True),
        limit(2, "buy", 1, 100, tif="gtd", post_only=True),  # would also cross
        limit(2, "buy", 1, 100, tif="gtd", expire_at=0, post_only=True),  # would also cross
        new(2, "buy", 1, "market", tif="gtd", post_only=True),  # tif ignored: no expire_at needed
        limit(2, "buy", 1, 100, tif="fok", post_only=True, stp="cancel_both"),  # would also cross
    ]
    events = [
        accepted(1, 1),
        rejected(2, 2, "invalid_stp"),
        rejected(3, 2, "invalid_display_qty"),
        rejected(4, 2, "invalid_qty"),
        rejected(5, 2, "missing_expire_at"),
        rejected(6, 2, "invalid_expire_at"),
        rejected(7, 2, "post_only_not_limit"),
        rejected(8, 2, "post_only_invalid_tif"),
    ]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 1, 0)])])))


def test_gtd_stop_limit_needs_a_valid_expire_at(impl: Impl) -> None:
    commands = [
        stop_limit(1, "buy", 1, 100, 105, ts=5, tif="gtd"),
        stop_limit(1, "buy", 1, 100, 105, ts=5, tif="gtd", expire_at=5),
        stop_limit(1, "buy", 1, 100, 105, ts=5, tif="gtd", expire_at=6),
    ]
    events = [rejected(1, 1, "missing_expire_at"), rejected(2, 1, "invalid_expire_at"), accepted(3, 1)]
    assert_replay(impl, commands, events, books(X=book()))


def test_invalid_op(impl: Impl) -> None:
    commands: list[dict[str, Any]] = [
        {"symbol": "X", "op": "modify", "order_id": 3, "ts": 0},
        {"symbol": "X", "op": "NEW", "order_id": 4, "ts": 0},
        {"symbol": "X", "order_id": 5, "ts": 0},
        limit(3, "buy", 1, 100),
    ]
    events = [
        rejected(1, 3, "invalid_op"),
        rejected(2, 4, "invalid_op"),
        rejected(3, 5, "invalid_op"),
        accepted(4, 3),
    ]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(3, 1, 0)])])))


def test_rejected_order_neither_rests_nor_trades(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 5, 100, account=1),
        limit(2, "buy", 5, 100, account=2, stp="sometimes"),
        limit(3, "buy", 5, 100, account=2, tif="gtd", expire_at=0),
    ]
    events = [accepted(1, 1), rejected(2, 2, "invalid_stp"), rejected(3, 3, "invalid_expire_at")]
    assert_replay(impl, commands, events, books(X=book(asks=[(100, [(1, 5, 0)])])))


def test_int64_bounds_for_price(impl: Impl) -> None:
    commands = [limit(1, "buy", 1, 2**63), amend(1, price=INT64_MAX + 1)]
    events = [rejected(1, 1, "invalid_price"), rejected(2, 1, "unknown_order")]
    assert_replay(impl, commands, events, books(X=book()))


def test_cancel_and_amend_of_an_unknown_id(impl: Impl) -> None:
    commands = [cancel(8), amend(8, qty=1), limit(8, "buy", 0, 100), cancel(8)]
    events = [
        rejected(1, 8, "unknown_order"),
        rejected(2, 8, "unknown_order"),
        rejected(3, 8, "invalid_qty"),
        rejected(4, 8, "unknown_order"),
    ]
    assert_replay(impl, commands, events, books(X=book()))


@pytest.mark.parametrize(
    ("commands", "bad_index"),
    [
        ([{"symbol": "X", "op": "cancel", "order_id": 1, "ts": 0}, ["not", "an", "object"]], 1),
        ([{"symbol": "X", "op": "cancel", "order_id": 1, "ts": 0}, "text"], 1),
        ([{"op": "cancel", "order_id": 1, "ts": 0}], 0),
        ([{"symbol": "X", "op": "cancel", "order_id": 1, "ts": 0}] * 2 + [{"symbol": 5, "op": "cancel"}], 2),
        ([{"symbol": None, "op": "cancel", "order_id": 1, "ts": 0}], 0),
    ],
)
def test_input_that_cannot_become_a_command_raises_malformed_command(
    impl: Impl, commands: list[Any], bad_index: int
) -> None:
    with pytest.raises(impl.malformed) as raised:
        impl.replay(commands)
    assert isinstance(raised.value, ValueError)
    assert raised.value.index == bad_index  # type: ignore[attr-defined]


GOOD = limit(1, "buy", 1, 100)


@pytest.mark.parametrize(
    "bad",
    [
        {**GOOD, "symbol": ""},
        {**GOOD, "ts": None},
        {**GOOD, "ts": "5"},
        {**GOOD, "ts": True},
        {**GOOD, "ts": 2**63},
        {**GOOD, "order_id": -1},
        {**GOOD, "order_id": "7"},
        {**GOOD, "order_id": 2**63},
        {**GOOD, "order_id": None},
        {**GOOD, "account_id": -1},
        {**GOOD, "account_id": False},
        {**GOOD, "post_only": 1},
        {**GOOD, "post_only": "yes"},
        cancel("7"),
        amend(-7, qty=1),
        {"symbol": "X", "op": "replace", "ts": 0},
    ],
)
def test_fields_without_a_rejection_reason_make_the_command_malformed(impl: Impl, bad: dict[str, Any]) -> None:
    # Project rule where ENGINE.md is silent: ts, order_id and (for new) account_id and post_only have no
    # rejection reason, so a command that breaks them cannot become a command: MalformedCommand.
    with pytest.raises(impl.malformed) as raised:
        impl.replay([cancel(9), GOOD, bad])
    assert raised.value.index == 2  # type: ignore[attr-defined]


def test_account_id_and_post_only_do_not_apply_to_cancel_and_amend(impl: Impl) -> None:
    commands = [
        limit(1, "buy", 2, 100),
        {**cancel(5), "account_id": "nobody", "post_only": "maybe"},
        {**amend(1, qty=1), "account_id": -4, "post_only": 3},
    ]
    events = [accepted(1, 1), rejected(2, 5, "unknown_order"), amended(3, 1, 100, 1)]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(1, 1, 0)])])))


def test_null_optional_fields_count_as_missing(impl: Impl) -> None:
    commands = [
        limit(1, "sell", 1, 100, account=1, tif=None, stp=None, post_only=None, display_qty=None),
        limit(2, "buy", 2, 100, account=1, tif=None, stp=None),
    ]
    events = [accepted(1, 1), accepted(2, 2), trade(2, 2, 1, 100, 1, "buy")]
    assert_replay(impl, commands, events, books(X=book(bids=[(100, [(2, 1, 0)])])))
