"""The read side's fold agrees with the domain's, and trade pairing refuses what is not a trade."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from domain.order import Fill, Order
from projections.folds import OrderState, ProjectionError
from projections.trade_pairing import FillHalf, TradePairer, pair

TERMS: dict[str, Any] = {"symbol": "BTC-USDT", "order_id": 7, "account_id": 1001, "side": "buy", "order_type": "limit",
                         "qty_lots": 30, "price_ticks": 6_000_000, "trigger_price_ticks": 0, "tif": "gtc",
                         "expire_at_ns": 0, "post_only": False, "display_qty_lots": 0, "stp": "none",
                         "hold_asset": "USDT", "hold_per_lot": 6_012_000}


class Plain:
    pass


@pytest.mark.parametrize("outcome", ["new", "accepted", "rejected"])
def test_order_state_starts_where_the_domain_order_starts(outcome: str) -> None:
    domain_state = Plain()
    Order.__init__(domain_state, dict(TERMS), outcome, "post_only_would_take" if outcome == "rejected" else "")  # type: ignore[arg-type]
    state = OrderState(uuid4(), dict(TERMS), outcome, "post_only_would_take" if outcome == "rejected" else "")
    for name, value in vars(domain_state).items():
        assert getattr(state, name) == value, name


def half(trade_id: str, side: str, liquidity: str, price: int = 100, qty: int = 2, position: int = 5) -> FillHalf:
    return FillHalf(trade_id, "BTC-USDT", 1 if side == "buy" else 2, 10 if side == "buy" else 20, side, price, qty, 3,
                    liquidity, 1_000, position, 0)


def test_two_halves_make_one_trade_in_any_order() -> None:
    pairer = TradePairer()
    assert pairer.add(half("BTC-USDT:9", "sell", "maker", position=4), 10) is None
    trade = pairer.add(half("BTC-USDT:9", "buy", "taker", position=6), 10)
    assert trade is not None and not pairer.pending
    assert (trade.number, trade.position, trade.notional, trade.taker_side, trade.buy_account, trade.sell_account) == \
        (9, 6, 2_000, "buy", 10, 20)
    assert trade.row().position == 9


@pytest.mark.parametrize(("first", "second", "message"), [
    (half("BTC-USDT:1", "buy", "taker"), half("BTC-USDT:1", "buy", "maker"), "one buy and one sell"),
    (half("BTC-USDT:1", "buy", "taker"), half("BTC-USDT:1", "sell", "taker"), "one taker and one maker"),
    (half("BTC-USDT:1", "buy", "taker"), half("BTC-USDT:1", "sell", "maker", price=101), "disagree"),
    (half("ETH-USDT:1", "buy", "taker"), half("ETH-USDT:1", "sell", "maker"), "is not BTC-USDT"),
])
def test_halves_that_do_not_make_a_trade_fail_loudly(first: FillHalf, second: FillHalf, message: str) -> None:
    with pytest.raises(ProjectionError, match=message):
        pair(first, second, 10)


def test_a_lost_order_event_is_detected() -> None:
    state = OrderState(uuid4(), dict(TERMS), "accepted", "")
    event = Order.FillsRecorded(originator_id=state.order_uuid, originator_version=3, timestamp=None,  # type: ignore[arg-type]
                                at_ns=1, command_id="c", fills=(Fill("BTC-USDT:1", 6_000_000, 2, 5, "maker"),))
    with pytest.raises(ProjectionError, match="lost or repeated"):
        state.apply(event, 10)
