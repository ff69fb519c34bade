"""One handler per command op, the gtd expiry sweep and the stop-trigger rounds.

Check order for `new` (ENGINE.md lists the reasons; where its page order is not executable the
order below is the one documented in docs/engine.md): duplicate_order_id, invalid_side,
invalid_type, invalid_qty, invalid_price, invalid_trigger_price, invalid_tif, invalid_display_qty,
invalid_stp, missing_expire_at, invalid_expire_at, post_only_not_limit, post_only_invalid_tif,
post_only_would_cross.
"""

from __future__ import annotations

import numpy as np

from engine._jit import compiled
from engine.book_state import BookArrays
from engine.codes import (
    EV_ACCEPTED,
    EV_AMENDED,
    EV_CANCELLED,
    EV_EXPIRED,
    EV_REJECTED,
    EV_TRIGGERED,
    HAS_DISPLAY_QTY,
    HAS_EXPIRE_AT,
    HAS_PRICE,
    HAS_QTY,
    REASON_DUPLICATE_ORDER_ID,
    REASON_INVALID_AMEND,
    REASON_INVALID_DISPLAY_QTY,
    REASON_INVALID_EXPIRE_AT,
    REASON_INVALID_PRICE,
    REASON_INVALID_QTY,
    REASON_INVALID_SIDE,
    REASON_INVALID_STP,
    REASON_INVALID_TIF,
    REASON_INVALID_TRIGGER_PRICE,
    REASON_INVALID_TYPE,
    REASON_MISSING_EXPIRE_AT,
    REASON_NONE,
    REASON_NOT_AMENDABLE,
    REASON_POST_ONLY_INVALID_TIF,
    REASON_POST_ONLY_NOT_LIMIT,
    REASON_POST_ONLY_WOULD_CROSS,
    REASON_UNKNOWN_ORDER,
    REASON_USER,
    SIDE_BUY,
    SIDE_NONE,
    SIDE_SELL,
    STP_DECREMENT,
    STP_NONE,
    TIF_GTC,
    TIF_GTD,
    TYPE_LIMIT,
    TYPE_STOP_LIMIT,
    TYPE_STOP_MARKET,
)
from engine.events import emit
from engine.expiry_heap import heap_pop, heap_push
from engine.hashindex import id_position, live_insert, live_slot
from engine.layout import (
    H_EXPIRE,
    LIST_ROWS,
    NIL,
    O_ACCEPT_NO,
    O_ACCOUNT,
    O_DISPLAY,
    O_EXPIRE,
    O_HIDDEN,
    O_ID,
    O_POST_ONLY,
    O_PRICE,
    O_SIDE,
    O_STATUS,
    O_STP,
    O_TIF,
    O_TRIGGER,
    O_TYPE,
    O_VISIBLE,
    PENDING,
    ROW_FIELDS,
    S_ACCEPT_NO,
    S_CLOCK,
    S_HASH_BITS,
    S_HEAP_SIZE,
    S_LAST_TRADE,
    S_LIVE_BITS,
    S_N_IDS,
    S_N_PENDING,
    ST_RESTING,
    ST_WAITING,
)
from engine.matching import enter_incoming, would_cross
from engine.order_pool import allocate_slot, release_order
from engine.price_levels import remove_from_level
from engine.stop_list import insert_stop, mark_triggered, remove_stop


@compiled
def validate_new(command: np.void, clock: int) -> int:
    """The first stateless rejection reason of a new order, or REASON_NONE."""
    side = command["side"]
    order_type = command["type"]
    qty = command["qty"]
    tif = command["tif"]
    flags = command["flags"]
    if side != SIDE_BUY and side != SIDE_SELL:
        return REASON_INVALID_SIDE
    if order_type < TYPE_LIMIT or order_type > TYPE_STOP_MARKET:
        return REASON_INVALID_TYPE
    if qty <= 0:
        return REASON_INVALID_QTY
    has_limit_price = order_type in (TYPE_LIMIT, TYPE_STOP_LIMIT)
    if has_limit_price and command["price"] <= 0:
        return REASON_INVALID_PRICE
    if (order_type in (TYPE_STOP_LIMIT, TYPE_STOP_MARKET)) and command["trigger_price"] <= 0:
        return REASON_INVALID_TRIGGER_PRICE
    # tif applies to limit and stop_limit only: market types ignore it whatever its value
    if has_limit_price and (tif < TIF_GTC or tif > TIF_GTD):
        return REASON_INVALID_TIF
    if (
        order_type == TYPE_LIMIT
        and (tif in (TIF_GTC, TIF_GTD))
        and (flags & HAS_DISPLAY_QTY) != 0
        and (command["display_qty"] <= 0 or command["display_qty"] > qty)
    ):
        return REASON_INVALID_DISPLAY_QTY
    if command["stp"] < STP_NONE or command["stp"] > STP_DECREMENT:
        return REASON_INVALID_STP
    if has_limit_price and tif == TIF_GTD:
        if (flags & HAS_EXPIRE_AT) == 0:
            return REASON_MISSING_EXPIRE_AT
        if command["expire_at"] <= clock:
            return REASON_INVALID_EXPIRE_AT
    if command["post_only"] != 0:
        if order_type != TYPE_LIMIT:
            return REASON_POST_ONLY_NOT_LIMIT
        if tif != TIF_GTC and tif != TIF_GTD:
            return REASON_POST_ONLY_INVALID_TIF
    return REASON_NONE


@compiled
def handle_new(book: BookArrays, events: np.ndarray, seq: int, command: np.void) -> None:
    state = book.state
    orders = book.rows
    order_id = command["order_id"]
    position = id_position(book.ids, state[S_HASH_BITS], order_id)
    if book.ids[position] == order_id:
        emit(events, book.state, seq, EV_REJECTED, order_id, 0, 0, 0, SIDE_NONE, REASON_DUPLICATE_ORDER_ID)
        return
    reason = validate_new(command, state[S_CLOCK])
    if reason != REASON_NONE:
        emit(events, book.state, seq, EV_REJECTED, order_id, 0, 0, 0, SIDE_NONE, reason)
        return
    side = command["side"]
    order_type = command["type"]
    if command["post_only"] != 0 and would_cross(book, side, command["price"]):
        emit(events, book.state, seq, EV_REJECTED, order_id, 0, 0, 0, SIDE_NONE, REASON_POST_ONLY_WOULD_CROSS)
        return

    slot = allocate_slot(book)
    book.ids[position] = order_id
    live_insert(book.live, state[S_LIVE_BITS], order_id, slot)
    state[S_N_IDS] += 1
    state[S_ACCEPT_NO] += 1
    tif = command["tif"]
    stop = order_type in (TYPE_STOP_LIMIT, TYPE_STOP_MARKET)
    display = 0
    if (
        order_type == TYPE_LIMIT
        and (tif in (TIF_GTC, TIF_GTD))
        and (command["flags"] & HAS_DISPLAY_QTY) != 0
        and command["display_qty"] < command["qty"]
    ):
        display = command["display_qty"]
    orders[slot * ROW_FIELDS + O_ID] = order_id
    orders[slot * ROW_FIELDS + O_ACCOUNT] = command["account_id"]
    orders[slot * ROW_FIELDS + O_SIDE] = side
    orders[slot * ROW_FIELDS + O_TYPE] = order_type
    orders[slot * ROW_FIELDS + O_PRICE] = command["price"] if (order_type in (TYPE_LIMIT, TYPE_STOP_LIMIT)) else 0
    orders[slot * ROW_FIELDS + O_TRIGGER] = command["trigger_price"] if stop else 0
    orders[slot * ROW_FIELDS + O_VISIBLE] = command["qty"]
    orders[slot * ROW_FIELDS + O_HIDDEN] = 0
    orders[slot * ROW_FIELDS + O_DISPLAY] = display
    # market types ignore tif; a stop_market never expires while waiting
    orders[slot * ROW_FIELDS + O_TIF] = tif if (order_type in (TYPE_LIMIT, TYPE_STOP_LIMIT)) else TIF_GTC
    orders[slot * ROW_FIELDS + O_EXPIRE] = command["expire_at"] if orders[slot * ROW_FIELDS + O_TIF] == TIF_GTD else 0
    orders[slot * ROW_FIELDS + O_POST_ONLY] = command["post_only"]
    orders[slot * ROW_FIELDS + O_STP] = command["stp"]
    orders[slot * ROW_FIELDS + O_ACCEPT_NO] = state[S_ACCEPT_NO]
    emit(events, state, seq, EV_ACCEPTED, order_id, 0, 0, 0, SIDE_NONE, REASON_NONE)
    if not stop:
        enter_incoming(book, events, seq, slot)
        return
    last_trade = state[S_LAST_TRADE]
    trigger = orders[slot * ROW_FIELDS + O_TRIGGER]
    if last_trade > 0 and (
        (side == SIDE_BUY and last_trade >= trigger) or (side == SIDE_SELL and last_trade <= trigger)
    ):
        mark_triggered(book, slot)  # enters in the first round, right after this command
    else:
        orders[slot * ROW_FIELDS + O_STATUS] = ST_WAITING
        insert_stop(book, slot)
        if orders[slot * ROW_FIELDS + O_TIF] == TIF_GTD:
            heap_push(book, slot, orders[slot * ROW_FIELDS + O_EXPIRE])


@compiled
def _live_slot(book: BookArrays, order_id: int) -> int:
    return live_slot(book.live, book.state[S_LIVE_BITS], order_id)


@compiled
def handle_cancel(book: BookArrays, events: np.ndarray, seq: int, command: np.void) -> None:
    order_id = command["order_id"]
    slot = _live_slot(book, order_id)
    if slot == NIL:
        emit(events, book.state, seq, EV_REJECTED, order_id, 0, 0, 0, SIDE_NONE, REASON_UNKNOWN_ORDER)
        return
    orders = book.rows
    if orders[slot * ROW_FIELDS + O_STATUS] == ST_WAITING:
        qty = orders[slot * ROW_FIELDS + O_VISIBLE]
        remove_stop(book, slot)
    else:
        qty = orders[slot * ROW_FIELDS + O_VISIBLE] + orders[slot * ROW_FIELDS + O_HIDDEN]
        remove_from_level(book, slot)
    emit(events, book.state, seq, EV_CANCELLED, order_id, 0, 0, qty, SIDE_NONE, REASON_USER)
    release_order(book, slot)


@compiled
def handle_amend(book: BookArrays, events: np.ndarray, seq: int, command: np.void) -> None:
    order_id = command["order_id"]
    slot = _live_slot(book, order_id)
    if slot == NIL:
        emit(events, book.state, seq, EV_REJECTED, order_id, 0, 0, 0, SIDE_NONE, REASON_UNKNOWN_ORDER)
        return
    flags = command["flags"]
    has_price = (flags & HAS_PRICE) != 0
    has_qty = (flags & HAS_QTY) != 0
    if not has_price and not has_qty:
        emit(events, book.state, seq, EV_REJECTED, order_id, 0, 0, 0, SIDE_NONE, REASON_INVALID_AMEND)
        return
    if has_price and command["price"] <= 0:
        emit(events, book.state, seq, EV_REJECTED, order_id, 0, 0, 0, SIDE_NONE, REASON_INVALID_PRICE)
        return
    if has_qty and command["qty"] <= 0:
        emit(events, book.state, seq, EV_REJECTED, order_id, 0, 0, 0, SIDE_NONE, REASON_INVALID_QTY)
        return
    orders = book.rows
    if orders[slot * ROW_FIELDS + O_STATUS] != ST_RESTING:
        emit(events, book.state, seq, EV_REJECTED, order_id, 0, 0, 0, SIDE_NONE, REASON_NOT_AMENDABLE)
        return
    price = orders[slot * ROW_FIELDS + O_PRICE]
    visible = orders[slot * ROW_FIELDS + O_VISIBLE]
    remaining = visible + orders[slot * ROW_FIELDS + O_HIDDEN]
    new_price = command["price"] if has_price else price
    new_qty = command["qty"] if has_qty else remaining
    if (
        new_price != price
        and orders[slot * ROW_FIELDS + O_POST_ONLY] != 0
        and would_cross(book, orders[slot * ROW_FIELDS + O_SIDE], new_price)
    ):
        emit(events, book.state, seq, EV_REJECTED, order_id, 0, 0, 0, SIDE_NONE, REASON_POST_ONLY_WOULD_CROSS)
        return
    emit(events, book.state, seq, EV_AMENDED, order_id, 0, new_price, new_qty, SIDE_NONE, REASON_NONE)
    if new_price == price and new_qty <= remaining:
        # keeps its time priority; an iceberg loses hidden qty first
        new_visible = min(visible, new_qty)
        orders[slot * ROW_FIELDS + O_VISIBLE] = new_visible
        orders[slot * ROW_FIELDS + O_HIDDEN] = new_qty - new_visible
        return
    # re-entry: out of the book, then in again as an incoming order with its own stp, tif, expire_at
    remove_from_level(book, slot)
    orders[slot * ROW_FIELDS + O_PRICE] = new_price
    orders[slot * ROW_FIELDS + O_VISIBLE] = new_qty
    orders[slot * ROW_FIELDS + O_HIDDEN] = 0
    enter_incoming(book, events, seq, slot)


@compiled
def run_expiries(book: BookArrays, events: np.ndarray, seq: int) -> None:
    """Expire every gtd order with expire_at <= the clock, by expire_at then acceptance order."""
    state = book.state
    orders = book.rows
    clock = state[S_CLOCK]
    while state[S_HEAP_SIZE] > 0 and book.rows[0 * ROW_FIELDS + H_EXPIRE] <= clock:
        slot, accept_no = heap_pop(book)
        status = orders[slot * ROW_FIELDS + O_STATUS]
        if orders[slot * ROW_FIELDS + O_ACCEPT_NO] != accept_no or (status != ST_RESTING and status != ST_WAITING):
            continue  # stale entry: that order already died
        if status == ST_RESTING:
            qty = orders[slot * ROW_FIELDS + O_VISIBLE] + orders[slot * ROW_FIELDS + O_HIDDEN]
            remove_from_level(book, slot)
        else:
            qty = orders[slot * ROW_FIELDS + O_VISIBLE]
            remove_stop(book, slot)
        emit(events, state, seq, EV_EXPIRED, orders[slot * ROW_FIELDS + O_ID], 0, 0, qty, SIDE_NONE, REASON_NONE)
        release_order(book, slot)


@compiled
def run_stop_rounds(book: BookArrays, events: np.ndarray, seq: int) -> None:
    """Triggered stops enter one at a time, buys then sells; those they trigger wait a round."""
    state = book.state
    buy_start = 0
    sell_start = 0
    while True:
        buy_end = state[S_N_PENDING]
        sell_end = state[S_N_PENDING + 1]
        if buy_end == buy_start and sell_end == sell_start:
            break
        for i in range(buy_start, buy_end):
            _enter_triggered(book, events, seq, book.lists[i * LIST_ROWS + PENDING])
        for i in range(sell_start, sell_end):
            _enter_triggered(book, events, seq, book.lists[i * LIST_ROWS + PENDING + 1])
        buy_start = buy_end
        sell_start = sell_end
    state[S_N_PENDING] = 0
    state[S_N_PENDING + 1] = 0


@compiled
def _enter_triggered(book: BookArrays, events: np.ndarray, seq: int, slot: int) -> None:
    emit(events, book.state, seq, EV_TRIGGERED, book.rows[slot * ROW_FIELDS + O_ID], 0, 0, 0, SIDE_NONE, REASON_NONE)
    enter_incoming(book, events, seq, slot)
