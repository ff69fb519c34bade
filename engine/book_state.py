"""The arrays of one book (`BookArrays`), their allocation and their growth.

All state of a book lives in six preallocated int64 arrays (see engine.layout), so a snapshot is a
copy of them and a restore gives back exactly the same book. Capacity grows by doubling *between*
commands (never inside one), up to the BookConfig bounds, so small books stay small and no command
is half-applied.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from engine.hashindex import rehash_live
from engine.layout import (
    HASH_EMPTY,
    INT64_MIN,
    L_NEXT_FREE,
    LADDER_WORD_BITS,
    LIST_ROWS,
    LIVE_KEYS,
    LIVE_SLOTS,
    NIL,
    O_NEXT,
    REBASE_MIN_OVERFLOW,
    ROW_FIELDS,
    S_BASE,
    S_BEST_LEVEL,
    S_CAPACITY,
    S_CLOCK,
    S_FREE_LEVEL,
    S_FREE_SLOT,
    S_HASH_BITS,
    S_LIVE_BITS,
    S_MAX_IDS,
    S_REBASE_AT,
    S_WINDOW,
    STATE_FIELDS,
)


class BookArrays(NamedTuple):
    """Everything one order book knows, indexed by engine.layout constants. Compiled code gets the
    same tuple with every member turned into a raw pointer indexed flat (see batch._pointers)."""

    rows: np.ndarray  # (capacity, ROW_FIELDS): order slot r, price level r, heap entry r
    lists: np.ndarray  # (capacity, LIST_ROWS): per-side sorted level and stop arrays, pending stops
    ids: np.ndarray  # (2**bits,) every id ever accepted (duplicate detection)
    live: np.ndarray  # (2**live_bits, 2) live order id -> slot
    ladder: np.ndarray  # (window + bitmaps,): price window -> level row, see engine.price_levels
    state: np.ndarray  # (STATE_FIELDS,) scalars, see layout.S_*


ARRAY_NAMES: tuple[str, ...] = BookArrays._fields


def _chain_free(rows: np.ndarray, column: int, start: int, stop: int, tail: int = NIL) -> None:
    """Link rows start..stop-1 into a free list in ascending order (deterministic reuse order),
    followed by the list starting at `tail`."""
    rows[start : stop - 1, column] = np.arange(start + 1, stop, dtype=np.int64)
    rows[stop - 1, column] = tail


def live_bits_for(capacity: int) -> int:
    """The live id table keeps at most one live order per two entries."""
    return max(4, (2 * capacity - 1).bit_length())


def _empty_live(bits: int) -> np.ndarray:
    live = np.empty((1 << bits, 2), dtype=np.int64)
    live[:, LIVE_KEYS] = HASH_EMPTY
    live[:, LIVE_SLOTS] = NIL
    return live


def ladder_size(window: int) -> int:
    return window + window // LADDER_WORD_BITS + window // (LADDER_WORD_BITS * LADDER_WORD_BITS)


def allocate(capacity: int, hash_bits: int, max_order_ids: int, window: int) -> BookArrays:
    """A fresh, empty book with room for `capacity` live orders, 2**hash_bits id table entries and
    a ladder window of `window` ticks."""
    rows = np.zeros((capacity, ROW_FIELDS), dtype=np.int64)
    _chain_free(rows, O_NEXT, 0, capacity)
    _chain_free(rows, L_NEXT_FREE, 0, capacity)
    live_bits = live_bits_for(capacity)
    state = np.zeros(STATE_FIELDS, dtype=np.int64)
    state[S_CAPACITY] = capacity
    state[S_FREE_SLOT] = 0
    state[S_FREE_LEVEL] = 0
    state[S_HASH_BITS] = hash_bits
    state[S_LIVE_BITS] = live_bits
    state[S_MAX_IDS] = max_order_ids
    state[S_CLOCK] = INT64_MIN
    state[S_BEST_LEVEL] = NIL
    state[S_BEST_LEVEL + 1] = NIL
    state[S_WINDOW] = window
    state[S_BASE] = 1
    state[S_REBASE_AT] = REBASE_MIN_OVERFLOW
    ladder = np.zeros(ladder_size(window), dtype=np.int64)
    ladder[:window] = NIL
    return BookArrays(
        rows=rows,
        lists=np.zeros((capacity, LIST_ROWS), dtype=np.int64),
        ids=np.full(1 << hash_bits, HASH_EMPTY, dtype=np.int64),
        live=_empty_live(live_bits),
        ladder=ladder,
        state=state,
    )


def grow_rows(arrays: BookArrays, new_capacity: int) -> BookArrays:
    """Copy into arrays with `new_capacity` rows. Only called when the free slot list is empty."""
    old_capacity = int(arrays.state[S_CAPACITY])
    if new_capacity <= old_capacity:
        raise ValueError("grow_rows must grow")
    rows = np.zeros((new_capacity, ROW_FIELDS), dtype=np.int64)
    rows[:old_capacity] = arrays.rows
    # The new rows go in front of what is still free: the slot list is empty when the pool grows,
    # but the level list need not be (waiting stops hold slots and no level).
    _chain_free(rows, O_NEXT, old_capacity, new_capacity, int(arrays.state[S_FREE_SLOT]))
    _chain_free(rows, L_NEXT_FREE, old_capacity, new_capacity, int(arrays.state[S_FREE_LEVEL]))
    lists = np.zeros((new_capacity, LIST_ROWS), dtype=np.int64)
    lists[:old_capacity] = arrays.lists
    state = arrays.state.copy()
    state[S_CAPACITY] = new_capacity
    state[S_FREE_SLOT] = old_capacity
    state[S_FREE_LEVEL] = old_capacity
    live_bits = live_bits_for(new_capacity)
    live = _empty_live(live_bits)
    rehash_live(arrays.live.reshape(-1), live.reshape(-1), live_bits)
    state[S_LIVE_BITS] = live_bits
    return arrays._replace(rows=rows, lists=lists, live=live, state=state)


def check_arrays(arrays: BookArrays) -> None:
    """Refuse arrays whose shapes disagree with their own state: compiled code indexes them through
    raw pointers, so a bad snapshot must fail here rather than read or write out of bounds."""
    state = arrays.state
    if state.dtype != np.int64 or state.shape != (STATE_FIELDS,):
        raise ValueError("book state must be int64 of shape (STATE_FIELDS,)")
    capacity = int(state[S_CAPACITY])
    window = int(state[S_WINDOW])
    expected = {
        "rows": (capacity, ROW_FIELDS),
        "lists": (capacity, LIST_ROWS),
        "ids": (1 << int(state[S_HASH_BITS]),),
        "live": (1 << int(state[S_LIVE_BITS]), 2),
        "ladder": (ladder_size(window),),
    }
    for name, shape in expected.items():
        array = getattr(arrays, name)
        if array.dtype != np.int64 or array.shape != shape or not array.flags.c_contiguous:
            raise ValueError(f"book array {name} must be C-contiguous int64 of shape {shape}")
    if not (1 << int(state[S_LIVE_BITS])) >= 2 * capacity:
        raise ValueError("live id table smaller than twice the order capacity")


def copy_arrays(arrays: BookArrays) -> BookArrays:
    return BookArrays(*(np.array(array, dtype=np.int64, copy=True) for array in arrays))
