"""Order slots: a free list threaded through O_NEXT, so allocation and release are O(1)."""

from __future__ import annotations

from engine._jit import compiled
from engine.book_state import BookArrays
from engine.hashindex import live_delete
from engine.layout import (
    NIL,
    O_ID,
    O_IN_HEAP,
    O_NEXT,
    O_STATUS,
    ROW_FIELDS,
    S_FREE_SLOT,
    S_LIVE,
    S_LIVE_BITS,
    ST_FREE,
)


@compiled
def allocate_slot(book: BookArrays) -> int:
    """Take a free slot. The batch loop checked before the command that one is free."""
    state = book.state
    slot = state[S_FREE_SLOT]
    if slot == NIL:  # cannot happen: the batch loop checks before a new order that a slot is free
        raise RuntimeError("engine invariant broken: no free order slot")
    state[S_FREE_SLOT] = book.rows[slot * ROW_FIELDS + O_NEXT]
    book.rows[slot * ROW_FIELDS + O_IN_HEAP] = 0
    state[S_LIVE] += 1
    return int(slot)


@compiled
def release_order(book: BookArrays, slot: int) -> None:
    """The order is dead (filled, cancelled, expired): its id stays known (ids) but is not live."""
    orders = book.rows
    live_delete(book.live, book.state[S_LIVE_BITS], orders[slot * ROW_FIELDS + O_ID])
    orders[slot * ROW_FIELDS + O_STATUS] = ST_FREE
    orders[slot * ROW_FIELDS + O_NEXT] = book.state[S_FREE_SLOT]
    book.state[S_FREE_SLOT] = slot
    book.state[S_LIVE] -= 1
