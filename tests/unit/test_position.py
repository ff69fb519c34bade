"""Positions: exact integer PnL with the written rounding rule."""

from __future__ import annotations

import random
from fractions import Fraction

from domain.position import Position, PositionFill

TICK_LOT_VALUE = 1  # quote minor units per tick per lot


def fill(side: str, price: int, qty: int, fee: int = 0, trade: str = "T") -> PositionFill:
    return PositionFill(trade, side, price, qty, price * TICK_LOT_VALUE, fee)


def new_position() -> Position:
    return Position(account_id=7, symbol="BTC-USDT", tick_lot_value=TICK_LOT_VALUE)


def test_opening_and_adding_averages_the_entry_price() -> None:
    position = new_position()
    position.apply_fills((fill("buy", 100, 2), fill("buy", 103, 1)))
    assert position.net_qty_lots == 3
    assert position.open_cost == 303
    assert position.average_entry_price_ticks() == Fraction(101)
    assert position.realized_pnl == 0


def test_closing_a_long_realizes_proceeds_minus_cost() -> None:
    position = new_position()
    position.apply_fills((fill("buy", 100, 2, fee=3),))
    position.apply_fills((fill("sell", 110, 2, fee=4),))
    assert (position.net_qty_lots, position.open_cost, position.realized_pnl, position.fees_paid) == (0, 0, 20, 7)


def test_closing_a_short_realizes_entry_minus_exit() -> None:
    position = new_position()
    position.apply_fills((fill("sell", 100, 5),))
    assert position.open_cost == -500 and position.net_qty_lots == -5
    position.apply_fills((fill("buy", 90, 5),))
    assert (position.net_qty_lots, position.realized_pnl) == (0, 50)


def test_partial_close_releases_cost_rounded_down_and_keeps_the_remainder() -> None:
    position = new_position()
    position.apply_fills((fill("buy", 100, 1), fill("buy", 101, 1), fill("buy", 101, 1)))  # cost 302 for 3
    position.apply_fills((fill("sell", 101, 1),))
    # released = floor(302 * 1 / 3) = 100; realized = 101 - 100 = 1; 202 stays for 2 lots
    assert (position.realized_pnl, position.open_cost, position.net_qty_lots) == (1, 202, 2)
    position.apply_fills((fill("sell", 101, 2),))
    assert position.realized_pnl == 303 - 302  # exact once flat


def test_flip_through_zero_opens_the_other_side_at_the_fill_price() -> None:
    position = new_position()
    position.apply_fills((fill("buy", 100, 2),))
    position.apply_fills((fill("sell", 120, 5),))
    assert position.realized_pnl == 40
    assert (position.net_qty_lots, position.open_cost) == (-3, -360)
    assert position.average_entry_price_ticks() == 120


def test_unrealized_pnl_at_a_mark_price() -> None:
    position = new_position()
    position.apply_fills((fill("sell", 100, 4),))
    assert position.unrealized_pnl(90) == 40
    assert position.unrealized_pnl(105) == -20


def test_realized_pnl_equals_cash_flows_whenever_flat() -> None:
    generator = random.Random(2026)
    for _ in range(200):
        position = new_position()
        cash = 0
        for _ in range(generator.randint(1, 12)):
            side = generator.choice(["buy", "sell"])
            price, qty = generator.randint(90, 110), generator.randint(1, 7)
            position.apply_fills((fill(side, price, qty),))
            cash += price * qty if side == "sell" else -price * qty
        # close whatever is open at a final price
        net, price = position.net_qty_lots, generator.randint(90, 110)
        if net:
            position.apply_fills((fill("sell" if net > 0 else "buy", price, abs(net)),))
            cash += price * net
        assert position.net_qty_lots == 0 and position.open_cost == 0
        assert position.realized_pnl == cash
