"""gtd bookkeeping: a binary min-heap of (expire_at, acceptance number, slot) in rows[:, H_*].

Entries of orders that died early are not searched for and deleted; they are recognised as stale
when popped (the slot is free or holds another order) and swept out if the heap ever fills up. The
heap has one row per order slot and live gtd orders never outnumber slots, so after a sweep there
is always room.
"""

from __future__ import annotations

import numpy as np

from engine._jit import compiled
from engine.book_state import BookArrays
from engine.layout import (
    H_ACCEPT_NO,
    H_EXPIRE,
    H_SLOT,
    O_ACCEPT_NO,
    O_IN_HEAP,
    O_STATUS,
    ROW_FIELDS,
    S_CAPACITY,
    S_HEAP_SIZE,
    ST_FREE,
)


@compiled
def _before(heap: np.ndarray, a: int, b: int) -> bool:
    if heap[a * ROW_FIELDS + H_EXPIRE] != heap[b * ROW_FIELDS + H_EXPIRE]:
        return bool(heap[a * ROW_FIELDS + H_EXPIRE] < heap[b * ROW_FIELDS + H_EXPIRE])
    return bool(heap[a * ROW_FIELDS + H_ACCEPT_NO] < heap[b * ROW_FIELDS + H_ACCEPT_NO])


@compiled
def _swap(heap: np.ndarray, a: int, b: int) -> None:
    for field in range(H_EXPIRE, H_SLOT + 1):
        value = heap[a * ROW_FIELDS + field]
        heap[a * ROW_FIELDS + field] = heap[b * ROW_FIELDS + field]
        heap[b * ROW_FIELDS + field] = value


@compiled
def _sift_up(heap: np.ndarray, index: int) -> None:
    while index > 0:
        parent = (index - 1) >> 1
        if not _before(heap, index, parent):
            return
        _swap(heap, index, parent)
        index = parent


@compiled
def _sift_down(heap: np.ndarray, size: int, index: int) -> None:
    while True:
        smallest = index
        left = 2 * index + 1
        right = left + 1
        if left < size and _before(heap, left, smallest):
            smallest = left
        if right < size and _before(heap, right, smallest):
            smallest = right
        if smallest == index:
            return
        _swap(heap, index, smallest)
        index = smallest


@compiled
def _sweep_stale(book: BookArrays) -> None:
    heap = book.rows
    orders = book.rows
    size = book.state[S_HEAP_SIZE]
    kept = 0
    for i in range(size):
        slot = heap[i * ROW_FIELDS + H_SLOT]
        if (
            orders[slot * ROW_FIELDS + O_STATUS] != ST_FREE
            and orders[slot * ROW_FIELDS + O_ACCEPT_NO] == heap[i * ROW_FIELDS + H_ACCEPT_NO]
        ):
            for field in range(H_EXPIRE, H_SLOT + 1):
                heap[kept * ROW_FIELDS + field] = heap[i * ROW_FIELDS + field]
            kept += 1
    for i in range(kept // 2 - 1, -1, -1):
        _sift_down(heap, kept, i)
    book.state[S_HEAP_SIZE] = kept


@compiled
def heap_push(book: BookArrays, slot: int, expire_at: int) -> None:
    heap = book.rows
    if book.state[S_HEAP_SIZE] == book.state[S_CAPACITY]:
        _sweep_stale(book)
    size = book.state[S_HEAP_SIZE]
    heap[size * ROW_FIELDS + H_EXPIRE] = expire_at
    heap[size * ROW_FIELDS + H_ACCEPT_NO] = book.rows[slot * ROW_FIELDS + O_ACCEPT_NO]
    heap[size * ROW_FIELDS + H_SLOT] = slot
    book.state[S_HEAP_SIZE] = size + 1
    book.rows[slot * ROW_FIELDS + O_IN_HEAP] = 1
    _sift_up(heap, size)


@compiled
def heap_pop(book: BookArrays) -> tuple[int, int]:
    """Remove the earliest entry; returns (slot, acceptance number)."""
    heap = book.rows
    size = book.state[S_HEAP_SIZE] - 1
    slot = heap[0 * ROW_FIELDS + H_SLOT]
    accept_no = heap[0 * ROW_FIELDS + H_ACCEPT_NO]
    for field in range(H_EXPIRE, H_SLOT + 1):
        heap[0 * ROW_FIELDS + field] = heap[size * ROW_FIELDS + field]
    book.state[S_HEAP_SIZE] = size
    _sift_down(heap, size, 0)
    return slot, accept_no
