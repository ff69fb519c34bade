"""The API's fold of the log (queries/live_state.py): the messages it emits carry the same fields as the
views the read models answer with, and decimal texts follow an instrument's current spec."""

from __future__ import annotations

from typing import Any

from domain.instrument import Instrument
from domain.order import Fill, Order, OrderTerms
from queries.live_state import LiveState, account_channel, market_channel
from queries.views import FillView, TradeView
from tests.unit.test_values import BTC_USDT


def fold(state: LiveState, position: int, *aggregates: Any) -> list[tuple[str, dict[str, Any]]]:
    """Apply the aggregates' pending events from `position` on; every (channel, message) they caused."""
    messages: list[tuple[str, dict[str, Any]]] = []
    for event in (event for aggregate in aggregates for event in aggregate.collect_events()):
        for channel, channel_messages in state.apply(position, event).items():
            messages.extend((channel, message) for message in channel_messages)
        position += 1
    return messages


def fields(message: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in message.items() if key != "type"}


def terms(order_id: int, side: str = "buy") -> OrderTerms:
    return OrderTerms(symbol="BTC-USDT", order_id=order_id, account_id=7, side=side, order_type="limit",
                      qty_lots=10, price_ticks=6_000_000)


def test_price_texts_follow_a_tick_size_change() -> None:
    state = LiveState()
    instrument = Instrument.from_spec(BTC_USDT)
    fold(state, 1, instrument)
    [(_, before)] = fold(state, 2, Order.place(terms(1)))
    instrument.change({"tick_size": 20_000})
    fold(state, 3, instrument)
    [(_, after)] = fold(state, 4, Order.place(terms(2)))

    assert (before["price"], before["qty"]) == ("60000.000000", "0.00100000")
    assert after["price"] == "120000.000000"  # the same price in ticks, at the new tick size


def test_fill_and_trade_messages_are_the_views_fields() -> None:
    state = LiveState()
    fold(state, 1, Instrument.from_spec(BTC_USDT))
    order = Order.place(terms(1))
    order.accept()
    order.record_fills((Fill("BTC-USDT:1", 6_000_000, 4, 48_000, "taker"),))
    messages = fold(state, 2, order)

    [(fill_channel, fill)] = [(c, m) for c, m in messages if m["type"] == "fill"]
    [(trade_channel, trade)] = [(c, m) for c, m in messages if m["type"] == "trade"]
    assert (fill_channel, trade_channel) == (account_channel(7), market_channel("BTC-USDT"))
    assert FillView(**fields(fill)) == FillView.model_construct(**state.fills_by_account[7].rows[0])
    assert FillView(**fields(fill)).qty == "0.00040000" and fill["fee_minor"] == 48_000
    assert TradeView(**fields(trade)) == TradeView.model_construct(**state.trades_by_symbol["BTC-USDT"].rows[0])
    assert trade["taker_side"] == "buy" and trade["price"] == "60000.000000"
