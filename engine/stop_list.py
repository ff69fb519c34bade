"""Waiting stop orders, per side, in the order they trigger.

Each side is an array sorted descending by (key, arrival) so the stop that triggers first is last:
key = trigger for buys (lowest trigger first) and -trigger for sells (highest first); arrival (the
acceptance number) breaks ties, earliest first. A trade at price p triggers exactly a suffix
(buys with trigger <= p, sells with trigger >= p), popped from the end. Successive trades of one
command pop suffixes in that same order, so the pending list of a round is already in ENGINE.md's
entry order (ascending trigger for buys, descending for sells, ties by arrival): no sort needed.
"""

from __future__ import annotations

import numpy as np

from engine._jit import compiled
from engine.book_state import BookArrays
from engine.codes import SIDE_BUY
from engine.layout import (
    LIST_ROWS,
    O_ACCEPT_NO,
    O_SIDE,
    O_STATUS,
    O_TRIGGER,
    PENDING,
    ROW_FIELDS,
    S_N_PENDING,
    S_N_STOPS,
    ST_TRIGGERED,
    STOP_ARRIVALS,
    STOP_KEYS,
    STOP_SLOTS,
)


@compiled
def _stop_key(side_idx: int, trigger: int) -> int:
    return trigger if side_idx == 0 else -trigger


@compiled
def _position(lists: np.ndarray, side_idx: int, count: int, key: int, arrival: int) -> int:
    """First index whose (key, arrival) is not greater than the given one (descending order)."""
    low = 0
    high = count
    while low < high:
        middle = (low + high) >> 1
        middle_key = lists[middle * LIST_ROWS + STOP_KEYS + side_idx]
        if middle_key > key or (middle_key == key and lists[middle * LIST_ROWS + STOP_ARRIVALS + side_idx] > arrival):
            low = middle + 1
        else:
            high = middle
    return low


@compiled
def insert_stop(book: BookArrays, slot: int) -> None:
    orders = book.rows
    side_idx = 0 if orders[slot * ROW_FIELDS + O_SIDE] == SIDE_BUY else 1
    key = _stop_key(side_idx, orders[slot * ROW_FIELDS + O_TRIGGER])
    arrival = orders[slot * ROW_FIELDS + O_ACCEPT_NO]
    count = book.state[S_N_STOPS + side_idx]
    lists = book.lists
    position = _position(lists, side_idx, count, key, arrival)
    for row in (STOP_KEYS + side_idx, STOP_ARRIVALS + side_idx, STOP_SLOTS + side_idx):
        for i in range(count, position, -1):
            lists[i * LIST_ROWS + row] = lists[(i - 1) * LIST_ROWS + row]
    lists[position * LIST_ROWS + STOP_KEYS + side_idx] = key
    lists[position * LIST_ROWS + STOP_ARRIVALS + side_idx] = arrival
    lists[position * LIST_ROWS + STOP_SLOTS + side_idx] = slot
    book.state[S_N_STOPS + side_idx] = count + 1


@compiled
def remove_stop(book: BookArrays, slot: int) -> None:
    """Take a waiting stop out of the trigger list (cancel or expiry)."""
    orders = book.rows
    side_idx = 0 if orders[slot * ROW_FIELDS + O_SIDE] == SIDE_BUY else 1
    key = _stop_key(side_idx, orders[slot * ROW_FIELDS + O_TRIGGER])
    count = book.state[S_N_STOPS + side_idx]
    lists = book.lists
    position = _position(lists, side_idx, count, key, orders[slot * ROW_FIELDS + O_ACCEPT_NO])
    for row in (STOP_KEYS + side_idx, STOP_ARRIVALS + side_idx, STOP_SLOTS + side_idx):
        for i in range(position, count - 1):
            lists[i * LIST_ROWS + row] = lists[(i + 1) * LIST_ROWS + row]
    book.state[S_N_STOPS + side_idx] = count - 1


@compiled
def mark_triggered(book: BookArrays, slot: int) -> None:
    """Queue a stop for the next round of the current command."""
    side_idx = 0 if book.rows[slot * ROW_FIELDS + O_SIDE] == SIDE_BUY else 1
    book.rows[slot * ROW_FIELDS + O_STATUS] = ST_TRIGGERED
    count = book.state[S_N_PENDING + side_idx]
    book.lists[count * LIST_ROWS + PENDING + side_idx] = slot
    book.state[S_N_PENDING + side_idx] = count + 1


@compiled
def trigger_stops(book: BookArrays, trade_price: int) -> None:
    """A trade printed at trade_price: move every stop it triggers to the pending lists."""
    state = book.state
    lists = book.lists
    count = state[S_N_STOPS]
    while count > 0 and lists[(count - 1) * LIST_ROWS + STOP_KEYS] <= trade_price:
        count -= 1
        mark_triggered(book, lists[count * LIST_ROWS + STOP_SLOTS])
    state[S_N_STOPS] = count
    count = state[S_N_STOPS + 1]
    while count > 0 and lists[(count - 1) * LIST_ROWS + STOP_KEYS + 1] <= -trade_price:
        count -= 1
        mark_triggered(book, lists[count * LIST_ROWS + STOP_SLOTS + 1])
    state[S_N_STOPS + 1] = count
