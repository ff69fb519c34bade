"""The compiled batch loop (one call per batch) and read-only views of a book for queries."""

from __future__ import annotations

import numpy as np

from engine._jit import as_pointer, compiled, monotonic_ns
from engine.book_state import BookArrays
from engine.codes import EV_REJECTED, OP_AMEND, OP_CANCEL, OP_NEW, REASON_INVALID_OP, SIDE_NONE
from engine.events import emit
from engine.handlers import handle_amend, handle_cancel, handle_new, run_expiries, run_stop_rounds
from engine.layout import (
    H_EXPIRE,
    L_HEAD,
    L_PRICE,
    NIL,
    O_HIDDEN,
    O_ID,
    O_NEXT,
    O_VISIBLE,
    ROW_FIELDS,
    RUN_DONE,
    RUN_NEED_IDS,
    RUN_NEED_SLOT,
    S_BEST_LEVEL,
    S_CLOCK,
    S_FREE_SLOT,
    S_HASH_BITS,
    S_HEAP_SIZE,
    S_LAST_SEQ,
    S_MAX_IDS,
    S_N_IDS,
    S_N_LEVELS,
    S_N_PENDING,
)
from engine.price_levels import next_worse_level


@compiled
def _pointers(book: BookArrays) -> BookArrays:
    """The same book as raw pointers (flat views uncompiled); see engine._jit.as_pointer."""
    return BookArrays(
        as_pointer(book.rows),
        as_pointer(book.lists),
        as_pointer(book.ids),
        as_pointer(book.live),
        as_pointer(book.ladder),
        as_pointer(book.state),
    )


@compiled
def process_batch(
    commands: np.ndarray,
    start: int,
    book: BookArrays,
    events: np.ndarray,  # EVENT_DTYPE buffer viewed as int64 words (events.EVENT_WORDS per event)
    latencies_ns: np.ndarray,
    timed: bool,
) -> tuple[int, int]:
    """Apply commands[start:] in order, events into the buffer. Returns (status, index reached).

    Stops before a `new` command when there might be no room for it (RUN_NEED_*) *before* touching
    anything of that command, so the caller can grow the arrays, or raise CapacityExceeded, and then
    resume at that index with no command half-applied.
    """
    book = _pointers(book)
    events = as_pointer(events)
    state = book.state
    hash_capacity = 1 << state[S_HASH_BITS]
    for index in range(start, commands.shape[0]):
        command = commands[index]
        op = command["op"]
        if op == OP_NEW:
            if state[S_FREE_SLOT] == NIL:
                return RUN_NEED_SLOT, index
            # the id table stays at most half full so probe chains stay short
            if state[S_N_IDS] >= state[S_MAX_IDS] or 2 * (state[S_N_IDS] + 1) > hash_capacity:
                return RUN_NEED_IDS, index
        started_ns = monotonic_ns() if timed else 0
        seq = command["seq"]
        # ENGINE.md reads expiry and invalid_expire_at against the command's own ts; ts is meant to
        # be non-decreasing, and a decreasing one simply expires nothing new.
        state[S_CLOCK] = command["ts"]
        if state[S_HEAP_SIZE] > 0 and book.rows[0 * ROW_FIELDS + H_EXPIRE] <= state[S_CLOCK]:
            run_expiries(book, events, seq)
        if op == OP_NEW:
            handle_new(book, events, seq, command)
        elif op == OP_AMEND:
            handle_amend(book, events, seq, command)
        elif op == OP_CANCEL:
            handle_cancel(book, events, seq, command)
        else:
            emit(events, state, seq, EV_REJECTED, command["order_id"], 0, 0, 0, SIDE_NONE, REASON_INVALID_OP)
        if state[S_N_PENDING] > 0 or state[S_N_PENDING + 1] > 0:
            run_stop_rounds(book, events, seq)
        state[S_LAST_SEQ] = seq
        if timed:
            latencies_ns[index] = monotonic_ns() - started_ns
    return RUN_DONE, commands.shape[0]


@compiled
def dump_side(book: BookArrays, side_idx: int, max_levels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best `max_levels` levels of one side, best first, each level's orders in queue order.

    Returns (level_prices, level_order_counts, orders) with orders rows (order_id, visible, hidden).
    """
    book = _pointers(book)
    shown = min(book.state[S_N_LEVELS + side_idx], max_levels)
    levels = np.empty(shown, dtype=np.int64)
    prices = np.empty(shown, dtype=np.int64)
    counts = np.zeros(shown, dtype=np.int64)
    level = book.state[S_BEST_LEVEL + side_idx]
    total = 0
    for k in range(shown):
        levels[k] = level
        prices[k] = book.rows[level * ROW_FIELDS + L_PRICE]
        slot = book.rows[level * ROW_FIELDS + L_HEAD]
        while slot != NIL:
            counts[k] += 1
            slot = book.rows[slot * ROW_FIELDS + O_NEXT]
        total += counts[k]
        level = next_worse_level(book, side_idx, prices[k])
    rows = np.empty((total, 3), dtype=np.int64)
    row = 0
    for k in range(shown):
        slot = book.rows[(levels[k]) * ROW_FIELDS + L_HEAD]
        while slot != NIL:
            rows[row, 0] = book.rows[slot * ROW_FIELDS + O_ID]
            rows[row, 1] = book.rows[slot * ROW_FIELDS + O_VISIBLE]
            rows[row, 2] = book.rows[slot * ROW_FIELDS + O_HIDDEN]
            row += 1
            slot = book.rows[slot * ROW_FIELDS + O_NEXT]
    return prices, counts, rows
