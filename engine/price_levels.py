"""Price levels: a dense ladder of ticks around the market, sorted overflow arrays elsewhere.

Prices are arbitrary positive int64, so no dense array can hold them all. A window of `window`
ticks starting at `base` maps price -> level row in O(1) (the `ladder` array), with an occupancy
bitmap and a summary bitmap so the next level in either direction is found in a few word scans.
Levels outside the window live in per-side sorted arrays (keys ascending, best last; key = price
for bids, -price for asks). When too many levels sit outside, the window is re-centred on the
market and every level re-placed (amortised: the threshold doubles with what stays outside).

The best level of each side is kept in state[S_BEST_LEVEL + side]. Bids and asks never share a
price (the book is never crossed), so one ladder serves both sides, and scanning down from a bid
only meets bids, up from an ask only asks.

Each level is a FIFO of order slots linked through O_PREV/O_NEXT.
"""

from __future__ import annotations

import numpy as np

from engine._jit import compiled
from engine.book_state import BookArrays
from engine.codes import SIDE_BUY
from engine.layout import (
    INT64_MAX,
    L_HEAD,
    L_NEXT_FREE,
    L_PRICE,
    L_TAIL,
    LADDER_WORD_BITS,
    LEVEL_IDS,
    LEVEL_KEYS,
    LIST_ROWS,
    NIL,
    O_LEVEL,
    O_NEXT,
    O_PREV,
    O_SIDE,
    REBASE_MIN_OVERFLOW,
    ROW_FIELDS,
    S_BASE,
    S_BEST_LEVEL,
    S_FREE_LEVEL,
    S_LADDER_LEVELS,
    S_N_LEVELS,
    S_N_OVERFLOW,
    S_REBASE_AT,
    S_WINDOW,
)

_WORD_MASK = (1 << LADDER_WORD_BITS) - 1


@compiled
def side_index(side: int) -> int:
    return 0 if side == SIDE_BUY else 1


@compiled
def level_key(side_idx: int, price: int) -> int:
    """Bigger key = better price on that side."""
    return price if side_idx == 0 else -price


# --- bitmaps ------------------------------------------------------------------------------------


@compiled
def _highest_bit(word: int) -> int:
    """Index of the highest set bit of a non-zero 32-bit value."""
    index = 0
    if word >= 1 << 16:
        index += 16
        word >>= 16
    if word >= 1 << 8:
        index += 8
        word >>= 8
    if word >= 1 << 4:
        index += 4
        word >>= 4
    if word >= 1 << 2:
        index += 2
        word >>= 2
    if word >= 1 << 1:
        index += 1
    return index


@compiled
def _lowest_bit(word: int) -> int:
    return _highest_bit(word & -word)


@compiled
def _set_bit(ladder: np.ndarray, window: int, offset: int) -> None:
    bits = window
    summary = window + window // LADDER_WORD_BITS
    word = offset >> 5
    if ladder[bits + word] == 0:
        ladder[summary + (word >> 5)] |= 1 << (word & 31)
    ladder[bits + word] |= 1 << (offset & 31)


@compiled
def _clear_bit(ladder: np.ndarray, window: int, offset: int) -> None:
    bits = window
    summary = window + window // LADDER_WORD_BITS
    word = offset >> 5
    ladder[bits + word] &= _WORD_MASK ^ (1 << (offset & 31))
    if ladder[bits + word] == 0:
        ladder[summary + (word >> 5)] &= _WORD_MASK ^ (1 << (word & 31))


@compiled
def _scan_down(ladder: np.ndarray, window: int, offset: int) -> int:
    """Highest occupied offset <= offset, or -1."""
    bits = window
    summary = window + window // LADDER_WORD_BITS
    word = offset >> 5
    found = ladder[bits + word] & ((2 << (offset & 31)) - 1)
    if found != 0:
        return (word << 5) + _highest_bit(found)
    word -= 1
    if word < 0:
        return -1
    group = word >> 5
    found = ladder[summary + group] & ((2 << (word & 31)) - 1)
    while found == 0:
        group -= 1
        if group < 0:
            return -1
        found = ladder[summary + group]
    word = (group << 5) + _highest_bit(found)
    return (word << 5) + _highest_bit(ladder[bits + word])


@compiled
def _scan_up(ladder: np.ndarray, window: int, offset: int) -> int:
    """Lowest occupied offset >= offset, or -1."""
    bits = window
    summary = window + window // LADDER_WORD_BITS
    words = window // LADDER_WORD_BITS
    word = offset >> 5
    found = ladder[bits + word] & ((_WORD_MASK >> (offset & 31)) << (offset & 31))
    if found != 0:
        return (word << 5) + _lowest_bit(found)
    word += 1
    if word >= words:
        return -1
    group = word >> 5
    found = ladder[summary + group] & ((_WORD_MASK >> (word & 31)) << (word & 31))
    groups = words // LADDER_WORD_BITS
    while found == 0:
        group += 1
        if group >= groups:
            return -1
        found = ladder[summary + group]
    word = (group << 5) + _lowest_bit(found)
    return (word << 5) + _lowest_bit(ladder[bits + word])


# --- level placement ----------------------------------------------------------------------------


@compiled
def _in_window(state: np.ndarray, price: int) -> bool:
    base = state[S_BASE]
    return bool(price >= base and price - base < state[S_WINDOW])


@compiled
def _window_base(price: int, window: int) -> int:
    """Base that centres the window on price, kept inside [1, INT64_MAX - window + 1]."""
    base = price - window // 2
    base = max(base, 1)
    return min(base, INT64_MAX - window + 1)


@compiled
def _bisect_left(lists: np.ndarray, row: int, count: int, key: int) -> int:
    low = 0
    high = count
    while low < high:
        middle = (low + high) >> 1
        if lists[middle * LIST_ROWS + row] < key:
            low = middle + 1
        else:
            high = middle
    return low


@compiled
def _overflow_find(book: BookArrays, side_idx: int, price: int) -> int:
    lists = book.lists
    count = book.state[S_N_OVERFLOW + side_idx]
    key = level_key(side_idx, price)
    position = _bisect_left(lists, LEVEL_KEYS + side_idx, count, key)
    if position < count and lists[position * LIST_ROWS + LEVEL_KEYS + side_idx] == key:
        return int(lists[position * LIST_ROWS + LEVEL_IDS + side_idx])
    return NIL


@compiled
def _overflow_insert(book: BookArrays, side_idx: int, level: int) -> None:
    lists = book.lists
    keys_row = LEVEL_KEYS + side_idx
    ids_row = LEVEL_IDS + side_idx
    count = book.state[S_N_OVERFLOW + side_idx]
    key = level_key(side_idx, book.rows[level * ROW_FIELDS + L_PRICE])
    position = _bisect_left(lists, keys_row, count, key)
    for i in range(count, position, -1):
        lists[i * LIST_ROWS + keys_row] = lists[(i - 1) * LIST_ROWS + keys_row]
        lists[i * LIST_ROWS + ids_row] = lists[(i - 1) * LIST_ROWS + ids_row]
    lists[position * LIST_ROWS + keys_row] = key
    lists[position * LIST_ROWS + ids_row] = level
    book.state[S_N_OVERFLOW + side_idx] = count + 1


@compiled
def _overflow_remove(book: BookArrays, side_idx: int, level: int) -> None:
    lists = book.lists
    keys_row = LEVEL_KEYS + side_idx
    ids_row = LEVEL_IDS + side_idx
    count = book.state[S_N_OVERFLOW + side_idx]
    position = _bisect_left(lists, keys_row, count, level_key(side_idx, book.rows[level * ROW_FIELDS + L_PRICE]))
    for i in range(position, count - 1):
        lists[i * LIST_ROWS + keys_row] = lists[(i + 1) * LIST_ROWS + keys_row]
        lists[i * LIST_ROWS + ids_row] = lists[(i + 1) * LIST_ROWS + ids_row]
    book.state[S_N_OVERFLOW + side_idx] = count - 1


@compiled
def _place(book: BookArrays, side_idx: int, level: int) -> None:
    """Index a level row at its price: in the ladder if inside the window, else in the overflow."""
    state = book.state
    price = book.rows[level * ROW_FIELDS + L_PRICE]
    if _in_window(state, price):
        offset = price - state[S_BASE]
        book.ladder[offset] = level
        _set_bit(book.ladder, state[S_WINDOW], offset)
        state[S_LADDER_LEVELS] += 1
    else:
        _overflow_insert(book, side_idx, level)


@compiled
def next_worse_level(book: BookArrays, side_idx: int, price: int) -> int:
    """The best level of this side strictly worse than `price`, or NIL."""
    state = book.state
    base = state[S_BASE]
    window = state[S_WINDOW]
    candidate = NIL
    if side_idx == 0:  # bids: worse is lower
        if price > base and state[S_LADDER_LEVELS] > 0:
            start = min(price - 1 - base, window - 1)
            offset = _scan_down(book.ladder, window, start)
            if offset >= 0:
                candidate = book.ladder[offset]
    elif state[S_LADDER_LEVELS] > 0 and (price < base or price - base < window - 1):
        start = 0 if price < base else price + 1 - base
        offset = _scan_up(book.ladder, window, start)
        if offset >= 0:
            candidate = book.ladder[offset]
    count = state[S_N_OVERFLOW + side_idx]
    if count > 0:
        position = _bisect_left(book.lists, LEVEL_KEYS + side_idx, count, level_key(side_idx, price)) - 1
        if position >= 0:
            other = book.lists[position * LIST_ROWS + LEVEL_IDS + side_idx]
            if candidate == NIL or level_key(side_idx, book.rows[other * ROW_FIELDS + L_PRICE]) > level_key(
                side_idx, book.rows[candidate * ROW_FIELDS + L_PRICE]
            ):
                candidate = other
    return candidate


@compiled
def _rebase(book: BookArrays) -> None:
    """Re-centre the window between the best bid and ask and re-place every level."""
    state = book.state
    rows = book.rows
    window = state[S_WINDOW]
    collected = np.empty((2, max(state[S_N_LEVELS], state[S_N_LEVELS + 1])), dtype=np.int64)
    for side_idx in range(2):
        level = state[S_BEST_LEVEL + side_idx]
        k = 0
        while level != NIL:
            collected[side_idx, k] = level
            k += 1
            level = next_worse_level(book, side_idx, rows[level * ROW_FIELDS + L_PRICE])
    best_bid = state[S_BEST_LEVEL]
    best_ask = state[S_BEST_LEVEL + 1]
    if best_bid != NIL and best_ask != NIL:
        centre = rows[best_bid * ROW_FIELDS + L_PRICE] // 2 + rows[best_ask * ROW_FIELDS + L_PRICE] // 2
    elif best_bid != NIL:
        centre = rows[best_bid * ROW_FIELDS + L_PRICE]
    else:
        centre = rows[best_ask * ROW_FIELDS + L_PRICE]
    for i in range(window):
        book.ladder[i] = NIL
    for i in range(window, window + window // LADDER_WORD_BITS + window // (LADDER_WORD_BITS * LADDER_WORD_BITS)):
        book.ladder[i] = 0
    state[S_LADDER_LEVELS] = 0
    state[S_N_OVERFLOW] = 0
    state[S_N_OVERFLOW + 1] = 0
    state[S_BASE] = _window_base(centre, window)
    for side_idx in range(2):
        # worst first = ascending keys, so overflow inserts append at the end
        for k in range(state[S_N_LEVELS + side_idx] - 1, -1, -1):
            _place(book, side_idx, collected[side_idx, k])
    state[S_REBASE_AT] = max(REBASE_MIN_OVERFLOW, 2 * (state[S_N_OVERFLOW] + state[S_N_OVERFLOW + 1]))


@compiled
def find_or_add_level(book: BookArrays, side_idx: int, price: int) -> int:
    """The level row for `price` on this side, created (empty) if there is none."""
    state = book.state
    rows = book.rows
    if state[S_N_LEVELS] + state[S_N_LEVELS + 1] == 0:
        state[S_BASE] = _window_base(price, state[S_WINDOW])  # an empty book centres the window freely
    in_window = _in_window(state, price)
    level = book.ladder[price - state[S_BASE]] if in_window else _overflow_find(book, side_idx, price)
    if level != NIL:
        return level
    level = state[S_FREE_LEVEL]
    if level == NIL:  # cannot happen: level rows = order slots >= resting orders
        raise RuntimeError("engine invariant broken: no free price level row")
    state[S_FREE_LEVEL] = rows[level * ROW_FIELDS + L_NEXT_FREE]
    rows[level * ROW_FIELDS + L_PRICE] = price
    rows[level * ROW_FIELDS + L_HEAD] = NIL
    rows[level * ROW_FIELDS + L_TAIL] = NIL
    _place(book, side_idx, level)
    state[S_N_LEVELS + side_idx] += 1
    best = state[S_BEST_LEVEL + side_idx]
    if best == NIL or level_key(side_idx, price) > level_key(side_idx, rows[best * ROW_FIELDS + L_PRICE]):
        state[S_BEST_LEVEL + side_idx] = level
    if not in_window and state[S_N_OVERFLOW] + state[S_N_OVERFLOW + 1] > state[S_REBASE_AT]:
        _rebase(book)
    return int(level)


@compiled
def remove_level(book: BookArrays, side_idx: int, level: int) -> None:
    """Drop an empty level from its side and free its row."""
    state = book.state
    rows = book.rows
    price = rows[level * ROW_FIELDS + L_PRICE]
    if _in_window(state, price):
        offset = price - state[S_BASE]
        book.ladder[offset] = NIL
        _clear_bit(book.ladder, state[S_WINDOW], offset)
        state[S_LADDER_LEVELS] -= 1
    else:
        _overflow_remove(book, side_idx, level)
    state[S_N_LEVELS + side_idx] -= 1
    rows[level * ROW_FIELDS + L_NEXT_FREE] = state[S_FREE_LEVEL]
    state[S_FREE_LEVEL] = level
    if state[S_BEST_LEVEL + side_idx] == level:
        state[S_BEST_LEVEL + side_idx] = next_worse_level(book, side_idx, price)


# --- queues -------------------------------------------------------------------------------------


@compiled
def append_to_level(book: BookArrays, level: int, slot: int) -> None:
    """Put the order at the back of the level's queue."""
    rows = book.rows
    tail = rows[level * ROW_FIELDS + L_TAIL]
    rows[slot * ROW_FIELDS + O_PREV] = tail
    rows[slot * ROW_FIELDS + O_NEXT] = NIL
    rows[slot * ROW_FIELDS + O_LEVEL] = level
    if tail == NIL:
        rows[level * ROW_FIELDS + L_HEAD] = slot
    else:
        rows[tail * ROW_FIELDS + O_NEXT] = slot
    rows[level * ROW_FIELDS + L_TAIL] = slot


@compiled
def _unlink(book: BookArrays, level: int, slot: int) -> None:
    rows = book.rows
    previous = rows[slot * ROW_FIELDS + O_PREV]
    following = rows[slot * ROW_FIELDS + O_NEXT]
    if previous == NIL:
        rows[level * ROW_FIELDS + L_HEAD] = following
    else:
        rows[previous * ROW_FIELDS + O_NEXT] = following
    if following == NIL:
        rows[level * ROW_FIELDS + L_TAIL] = previous
    else:
        rows[following * ROW_FIELDS + O_PREV] = previous


@compiled
def remove_from_level(book: BookArrays, slot: int) -> None:
    """Take a resting order out of its queue; an emptied level leaves the side."""
    level = book.rows[slot * ROW_FIELDS + O_LEVEL]
    _unlink(book, level, slot)
    if book.rows[level * ROW_FIELDS + L_HEAD] == NIL:
        remove_level(book, side_index(book.rows[slot * ROW_FIELDS + O_SIDE]), level)


@compiled
def move_to_back(book: BookArrays, slot: int) -> None:
    """Iceberg refresh: the order loses its time priority within its level."""
    level = book.rows[slot * ROW_FIELDS + O_LEVEL]
    if book.rows[level * ROW_FIELDS + L_TAIL] == slot:
        return
    _unlink(book, level, slot)
    append_to_level(book, level, slot)
