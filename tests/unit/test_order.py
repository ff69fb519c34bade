"""Orders: the lifecycle state table, fills with trade id/price/qty/fee/liquidity."""

from __future__ import annotations

import pytest

from domain import errors
from domain.order import Fill, Order, OrderStatus, OrderTerms

TERMS = OrderTerms(symbol="BTC-USDT", order_id=42, account_id=7, side="buy", order_type="limit", qty_lots=10,
                   price_ticks=6_000_000)


def accepted_order() -> Order:
    order = Order.place(TERMS)
    order.accept()
    return order


def test_placed_order_is_new_then_accepted() -> None:
    order = Order.place(TERMS)
    assert order.order_status is OrderStatus.NEW
    order.accept()
    assert order.order_status is OrderStatus.ACCEPTED and order.is_live


def test_partial_then_full_fill() -> None:
    order = accepted_order()
    order.record_fills((Fill("T1", 6_000_000, 4, 48_000, "taker"),))
    assert order.order_status is OrderStatus.PARTIALLY_FILLED
    assert (order.filled_qty_lots, order.leaves_qty_lots, order.fees_paid) == (4, 6, 48_000)
    order.record_fills((Fill("T2", 5_999_000, 2, 10, "maker"), Fill("T3", 5_999_000, 4, 20, "maker")))
    assert order.order_status is OrderStatus.FILLED
    assert (order.filled_qty_lots, order.leaves_qty_lots) == (10, 0)
    assert order.filled_notional_ticks_lots == 6_000_000 * 4 + 5_999_000 * 6


def test_overfill_is_refused() -> None:
    order = accepted_order()
    with pytest.raises(errors.InvalidFill, match="exceed"):
        order.record_fills((Fill("T1", 6_000_000, 11, 0, "taker"),))
    assert order.filled_qty_lots == 0


def test_fill_needs_known_liquidity_and_positive_values() -> None:
    order = accepted_order()
    with pytest.raises(errors.InvalidFill):
        order.record_fills((Fill("T1", 6_000_000, 1, 0, "sideways"),))
    with pytest.raises(errors.InvalidFill):
        order.record_fills((Fill("T1", 6_000_000, 1, -1, "maker"),))


@pytest.mark.parametrize("final", ["cancel", "expire", "fill"])
def test_terminal_states_accept_nothing_more(final: str) -> None:
    order = accepted_order()
    {"cancel": lambda: order.cancel("user"), "expire": order.expire,
     "fill": lambda: order.record_fills((Fill("T", 1, 10, 0, "maker"),))}[final]()
    for action in (lambda: order.cancel("user"), order.expire, order.accept, lambda: order.reject("x"),
                   lambda: order.record_fills((Fill("T9", 1, 1, 0, "maker"),)), lambda: order.amend(5, 5)):
        with pytest.raises((errors.IllegalTransition, errors.InvalidFill)):
            action()


def test_new_order_cannot_fill_or_cancel_before_acceptance() -> None:
    order = Order.place(TERMS)
    with pytest.raises(errors.IllegalTransition):
        order.record_fills((Fill("T", 1, 1, 0, "maker"),))
    with pytest.raises(errors.IllegalTransition):
        order.cancel("user")
    order.reject("invalid_price")
    assert order.order_status is OrderStatus.REJECTED and order.leaves_qty_lots == 0


def test_cancel_records_the_qty_taken_off() -> None:
    order = accepted_order()
    order.record_fills((Fill("T1", 6_000_000, 3, 0, "maker"),))
    order.cancel("user")
    cancelled = order.pending_events[-1]
    assert isinstance(cancelled, Order.Cancelled) and cancelled.qty_lots == 7 and cancelled.reason == "user"


def test_amend_and_reduce_change_the_open_qty() -> None:
    order = accepted_order()
    order.amend(6_100_000, 15)
    assert (order.price_ticks, order.leaves_qty_lots) == (6_100_000, 15)
    order.reduce(5, "stp")
    assert order.leaves_qty_lots == 10
    with pytest.raises(Exception, match="positive open qty"):
        order.reduce(10, "stp")


def test_an_order_placed_with_the_engines_answer_is_one_event() -> None:
    accepted = Order.place(TERMS, OrderStatus.ACCEPTED)
    assert accepted.order_status is OrderStatus.ACCEPTED and len(accepted.pending_events) == 1
    accepted.record_fills((Fill("T1", 6_000_000, 10, 0, "taker"),))
    assert accepted.order_status is OrderStatus.FILLED
    rejected = Order.place(TERMS, OrderStatus.REJECTED, "post_only_would_cross")
    assert rejected.order_status is OrderStatus.REJECTED and rejected.leaves_qty_lots == 0
    with pytest.raises(Exception, match="only a rejection"):
        Order.place(TERMS, OrderStatus.REJECTED)
    with pytest.raises(Exception, match="new, accepted or rejected"):
        Order.place(TERMS, OrderStatus.FILLED)
