"""Appending events to the batch's output buffer.

Events go into a preallocated EVENT_DTYPE buffer sized for the batch, which compiled code sees as
int64 words (EVENT_WORDS per event; the three int8 fields packed into the last word, see
dtypes.EVENT_DTYPE). A single command can emit an unbounded number of events (a sweep through a
deep book, an iceberg refreshed many times), so once the buffer is full the rest are handed, in
order, to a Python list through an object-mode call (rare and slow, never on the normal path) and
the caller appends them after the compiled call. The buffer is never replaced inside compiled code,
so no emitting function has to return it.
"""

from __future__ import annotations

import sys

import numba
import numpy as np
from numba import types

from engine._jit import compiled_with_signature
from engine.dtypes import EVENT_DTYPE
from engine.layout import S_EVENT_CAPACITY, S_N_EVENTS

EVENT_WORDS = 6  # seq, order_id, maker_order_id, price, qty, (type | side << 8 | reason << 16)
if EVENT_DTYPE.itemsize != 8 * EVENT_WORDS or sys.byteorder != "little":
    raise ImportError("the packed event layout needs a 48-byte EVENT_DTYPE on a little-endian machine")

_FIELDS = ("seq", "order_id", "maker_order_id", "price", "qty", "type", "side", "reason")

# Events that did not fit the buffer of the batch being processed. Compiled code holds the GIL
# (no nogil), so only one batch at a time can be writing here; OrderBook clears it per batch.
_SPILLED: list[tuple[int, int, int, int, int, int, int, int]] = []


def _spill(seq: int, event_type: int, order_id: int, maker: int, price: int, qty: int, side: int, reason: int) -> None:
    _SPILLED.append((seq, order_id, maker, price, qty, event_type, side, reason))


_WORDS = types.CPointer(types.int64)  # type: ignore[no-untyped-call]
_EMIT_SIGNATURE = types.void(_WORDS, _WORDS, *([types.int64] * 8))


@compiled_with_signature(_EMIT_SIGNATURE)
def emit(
    events: np.ndarray,
    state: np.ndarray,
    seq: int,
    event_type: int,
    order_id: int,
    maker_order_id: int,
    price: int,
    qty: int,
    side: int,
    reason: int,
) -> None:
    count = state[S_N_EVENTS]
    state[S_N_EVENTS] = count + 1
    if count < state[S_EVENT_CAPACITY]:
        word = count * EVENT_WORDS
        events[word] = seq
        events[word + 1] = order_id
        events[word + 2] = maker_order_id
        events[word + 3] = price
        events[word + 4] = qty
        events[word + 5] = event_type | (side << 8) | (reason << 16)
        return
    with numba.objmode():
        _spill(seq, event_type, order_id, maker_order_id, price, qty, side, reason)


def start_batch() -> None:
    _SPILLED.clear()


def collect(events: np.ndarray, count: int) -> np.ndarray:
    """The `count` events of the batch: the buffer, then whatever spilled. Built from whole int64
    words (padding included), so equal events are equal bytes."""
    capacity = events.shape[0]
    if count <= capacity:
        return events[:count]
    spilled = np.array(_SPILLED[: count - capacity], dtype=np.int64).reshape(-1, len(_FIELDS))
    words = np.empty((len(spilled), EVENT_WORDS), dtype=np.int64)
    words[:, :5] = spilled[:, :5]
    words[:, 5] = spilled[:, 5] | (spilled[:, 6] << 8) | (spilled[:, 7] << 16)
    joined = np.concatenate([events.view(np.int64), words.reshape(-1)])
    return joined.view(EVENT_DTYPE)
