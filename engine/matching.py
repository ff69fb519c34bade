"""Matching one incoming order against the book: trades, self-trade prevention, fok dry run, rest.

The incoming order lives in its own slot with status ST_INCOMING and its whole remaining qty in
O_VISIBLE (an iceberg matches with its full qty; it is split into visible/hidden only when it rests).
"""

from __future__ import annotations

import numpy as np

from engine._jit import compiled
from engine.book_state import BookArrays
from engine.codes import (
    EV_CANCELLED,
    EV_DECREMENTED,
    EV_TRADE,
    REASON_FOK,
    REASON_IOC,
    REASON_NO_LIQUIDITY,
    REASON_STP,
    SIDE_BUY,
    SIDE_NONE,
    STP_CANCEL_BOTH,
    STP_CANCEL_MAKER,
    STP_CANCEL_TAKER,
    STP_NONE,
    TIF_FOK,
    TIF_GTD,
    TIF_IOC,
    TYPE_MARKET,
    TYPE_STOP_MARKET,
)
from engine.events import emit
from engine.expiry_heap import heap_push
from engine.layout import (
    L_HEAD,
    L_PRICE,
    NIL,
    O_ACCOUNT,
    O_DISPLAY,
    O_EXPIRE,
    O_HIDDEN,
    O_ID,
    O_IN_HEAP,
    O_NEXT,
    O_PRICE,
    O_SIDE,
    O_STATUS,
    O_STP,
    O_TIF,
    O_TYPE,
    O_VISIBLE,
    ROW_FIELDS,
    S_BEST_LEVEL,
    S_LAST_TRADE,
    ST_INCOMING,
    ST_RESTING,
)
from engine.order_pool import release_order
from engine.price_levels import (
    append_to_level,
    find_or_add_level,
    move_to_back,
    next_worse_level,
    remove_from_level,
)
from engine.stop_list import trigger_stops

# outcome of match_incoming
MATCH_REMAINDER = 0  # the order still has qty (maybe all of it)
MATCH_FILLED = 1  # fully traded
MATCH_STP_CANCELLED = 2  # self-trade prevention cancelled what was left of it


@compiled
def crosses(side: int, limit_price: int, book_price: int) -> bool:
    """Would an order at limit_price trade with a resting order at book_price?"""
    if side == SIDE_BUY:
        return limit_price >= book_price
    return limit_price <= book_price


@compiled
def would_cross(book: BookArrays, side: int, price: int) -> bool:
    """post_only test: buy price >= best ask, sell price <= best bid."""
    opposite = 1 if side == SIDE_BUY else 0
    best = book.state[S_BEST_LEVEL + opposite]
    if best == NIL:
        return False
    return crosses(side, price, book.rows[best * ROW_FIELDS + L_PRICE])


@compiled
def is_market(order_type: int) -> bool:
    return order_type in (TYPE_MARKET, TYPE_STOP_MARKET)


@compiled
def _saturating_add(total: int, amount: int, cap: int) -> int:
    # Quantities can each be near 2**63: sums are capped at what is needed so they never overflow.
    if amount >= cap - total:
        return cap
    return total + amount


@compiled
def fok_fillable(book: BookArrays, taker: int) -> bool:
    """Dry run of match_incoming on the unchanged book: would it fill the whole qty?

    Within a level the queue is consumed in order and refreshed iceberg slices go to its back, so a
    level with no blocking order contributes all its qty (hidden included), and a level with one
    contributes only the visible qty of the orders ahead of it; matching stops there.
    """
    orders = book.rows
    levels = book.rows
    side = orders[taker * ROW_FIELDS + O_SIDE]
    opposite = 1 if side == SIDE_BUY else 0
    market = is_market(orders[taker * ROW_FIELDS + O_TYPE])
    limit_price = orders[taker * ROW_FIELDS + O_PRICE]
    account = orders[taker * ROW_FIELDS + O_ACCOUNT]
    stp = orders[taker * ROW_FIELDS + O_STP]
    need = orders[taker * ROW_FIELDS + O_VISIBLE]
    found = 0
    level = book.state[S_BEST_LEVEL + opposite]
    while level != NIL:
        price = levels[level * ROW_FIELDS + L_PRICE]
        if not market and not crosses(side, limit_price, price):
            return False
        visible_ahead = found
        level_total = found
        maker = levels[level * ROW_FIELDS + L_HEAD]
        while maker != NIL:
            if stp != STP_NONE and orders[maker * ROW_FIELDS + O_ACCOUNT] == account:
                if stp != STP_CANCEL_MAKER:
                    return bool(visible_ahead >= need)  # matching would stop at this order
                # cancel_maker: the order would be cancelled and not count
            else:
                visible_ahead = _saturating_add(visible_ahead, orders[maker * ROW_FIELDS + O_VISIBLE], need)
                if visible_ahead >= need:
                    return True
                level_total = _saturating_add(
                    level_total, orders[maker * ROW_FIELDS + O_VISIBLE] + orders[maker * ROW_FIELDS + O_HIDDEN], need
                )
            maker = orders[maker * ROW_FIELDS + O_NEXT]
        found = level_total
        if found >= need:
            return True
        level = next_worse_level(book, opposite, price)
    return False


@compiled
def _cancel_resting(book: BookArrays, events: np.ndarray, seq: int, maker: int, qty: int) -> None:
    emit(events, book.state, seq, EV_CANCELLED, book.rows[maker * ROW_FIELDS + O_ID], 0, 0, qty, SIDE_NONE, REASON_STP)
    remove_from_level(book, maker)
    release_order(book, maker)


@compiled
def match_incoming(book: BookArrays, events: np.ndarray, seq: int, taker: int) -> int:
    """Trade the incoming order against the opposite side, best price first, FIFO within a price."""
    orders = book.rows
    levels = book.rows
    state = book.state
    side = orders[taker * ROW_FIELDS + O_SIDE]
    opposite = 1 if side == SIDE_BUY else 0
    market = is_market(orders[taker * ROW_FIELDS + O_TYPE])
    limit_price = orders[taker * ROW_FIELDS + O_PRICE]
    account = orders[taker * ROW_FIELDS + O_ACCOUNT]
    stp = orders[taker * ROW_FIELDS + O_STP]
    taker_id = orders[taker * ROW_FIELDS + O_ID]
    remaining = orders[taker * ROW_FIELDS + O_VISIBLE]
    while remaining > 0:
        level = state[S_BEST_LEVEL + opposite]
        if level == NIL:
            break
        price = levels[level * ROW_FIELDS + L_PRICE]
        if not market and not crosses(side, limit_price, price):
            break
        maker = levels[level * ROW_FIELDS + L_HEAD]
        while remaining > 0 and maker != NIL:
            if stp != STP_NONE and orders[maker * ROW_FIELDS + O_ACCOUNT] == account:
                if stp == STP_CANCEL_TAKER:
                    emit(events, state, seq, EV_CANCELLED, taker_id, 0, 0, remaining, SIDE_NONE, REASON_STP)
                    orders[taker * ROW_FIELDS + O_VISIBLE] = 0
                    return MATCH_STP_CANCELLED
                following = orders[maker * ROW_FIELDS + O_NEXT]
                maker_total = orders[maker * ROW_FIELDS + O_VISIBLE] + orders[maker * ROW_FIELDS + O_HIDDEN]
                if stp == STP_CANCEL_MAKER:
                    _cancel_resting(book, events, seq, maker, maker_total)
                    maker = following
                    continue
                if stp == STP_CANCEL_BOTH:
                    _cancel_resting(book, events, seq, maker, maker_total)
                    emit(events, state, seq, EV_CANCELLED, taker_id, 0, 0, remaining, SIDE_NONE, REASON_STP)
                    orders[taker * ROW_FIELDS + O_VISIBLE] = 0
                    return MATCH_STP_CANCELLED
                # decrement: both lose the smaller remaining, no trade; the maker's hidden goes first
                decrement = min(remaining, maker_total)
                remaining -= decrement
                if decrement == maker_total:
                    _cancel_resting(book, events, seq, maker, decrement)
                    maker = following
                else:
                    from_hidden = min(orders[maker * ROW_FIELDS + O_HIDDEN], decrement)
                    orders[maker * ROW_FIELDS + O_HIDDEN] -= from_hidden
                    orders[maker * ROW_FIELDS + O_VISIBLE] -= decrement - from_hidden
                    emit(
                        events, state, seq, EV_DECREMENTED, orders[maker * ROW_FIELDS + O_ID], 0, 0,
                        decrement, SIDE_NONE, REASON_STP,
                    )  # fmt: skip
                if remaining > 0:
                    emit(events, state, seq, EV_DECREMENTED, taker_id, 0, 0, decrement, SIDE_NONE, REASON_STP)
                else:
                    emit(events, state, seq, EV_CANCELLED, taker_id, 0, 0, decrement, SIDE_NONE, REASON_STP)
                    orders[taker * ROW_FIELDS + O_VISIBLE] = 0
                    return MATCH_STP_CANCELLED
                continue
            visible = orders[maker * ROW_FIELDS + O_VISIBLE]
            qty = min(remaining, visible)
            emit(events, state, seq, EV_TRADE, taker_id, orders[maker * ROW_FIELDS + O_ID], price, qty, side, 0)
            remaining -= qty
            visible -= qty
            orders[maker * ROW_FIELDS + O_VISIBLE] = visible
            state[S_LAST_TRADE] = price
            trigger_stops(book, price)
            if visible == 0:
                hidden = orders[maker * ROW_FIELDS + O_HIDDEN]
                if hidden > 0:
                    # iceberg refresh: a new slice at the back of the queue at the same price
                    refill = min(orders[maker * ROW_FIELDS + O_DISPLAY], hidden)
                    orders[maker * ROW_FIELDS + O_VISIBLE] = refill
                    orders[maker * ROW_FIELDS + O_HIDDEN] = hidden - refill
                    move_to_back(book, maker)
                    maker = levels[level * ROW_FIELDS + L_HEAD]
                else:
                    following = orders[maker * ROW_FIELDS + O_NEXT]
                    remove_from_level(book, maker)
                    release_order(book, maker)
                    maker = following
    orders[taker * ROW_FIELDS + O_VISIBLE] = remaining
    if remaining == 0:
        return MATCH_FILLED
    return MATCH_REMAINDER


@compiled
def rest_order(book: BookArrays, slot: int) -> None:
    """Put the incoming remainder at the back of its price level (an iceberg shows one slice)."""
    orders = book.rows
    remaining = orders[slot * ROW_FIELDS + O_VISIBLE]
    display = orders[slot * ROW_FIELDS + O_DISPLAY]
    if 0 < display < remaining:
        orders[slot * ROW_FIELDS + O_VISIBLE] = display
        orders[slot * ROW_FIELDS + O_HIDDEN] = remaining - display
    else:
        orders[slot * ROW_FIELDS + O_HIDDEN] = 0
    side_idx = 0 if orders[slot * ROW_FIELDS + O_SIDE] == SIDE_BUY else 1
    level = find_or_add_level(book, side_idx, orders[slot * ROW_FIELDS + O_PRICE])
    append_to_level(book, level, slot)
    orders[slot * ROW_FIELDS + O_STATUS] = ST_RESTING
    if orders[slot * ROW_FIELDS + O_TIF] == TIF_GTD and orders[slot * ROW_FIELDS + O_IN_HEAP] == 0:
        heap_push(book, slot, orders[slot * ROW_FIELDS + O_EXPIRE])


@compiled
def enter_incoming(book: BookArrays, events: np.ndarray, seq: int, slot: int) -> None:
    """Everything that happens to an order entering the book (new, re-entered by amend, or a
    triggered stop): fok dry run, matching, then the remainder rests or is cancelled."""
    orders = book.rows
    state = book.state
    orders[slot * ROW_FIELDS + O_STATUS] = ST_INCOMING
    market = is_market(orders[slot * ROW_FIELDS + O_TYPE])
    tif = orders[slot * ROW_FIELDS + O_TIF]
    order_id = orders[slot * ROW_FIELDS + O_ID]
    if not market and tif == TIF_FOK and not fok_fillable(book, slot):
        emit(
            events,
            state,
            seq,
            EV_CANCELLED,
            order_id,
            0,
            0,
            orders[slot * ROW_FIELDS + O_VISIBLE],
            SIDE_NONE,
            REASON_FOK,
        )
        release_order(book, slot)
        return
    outcome = match_incoming(book, events, seq, slot)
    if outcome != MATCH_REMAINDER:
        release_order(book, slot)
        return
    remaining = orders[slot * ROW_FIELDS + O_VISIBLE]
    if market:
        reason = REASON_NO_LIQUIDITY
    elif tif == TIF_IOC:
        reason = REASON_IOC
    elif tif == TIF_FOK:
        reason = REASON_FOK  # unreachable: the dry run guaranteed a full fill
    else:
        rest_order(book, slot)
        return
    emit(events, state, seq, EV_CANCELLED, order_id, 0, 0, remaining, SIDE_NONE, reason)
    release_order(book, slot)
