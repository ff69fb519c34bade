"""Order id tables: open addressing with linear probing over int64 keys (ids are non-negative).

Two tables, because they are used very differently:
- `ids`: every id ever accepted by the book (ENGINE.md forbids reusing an id for the book's whole
  life). Keys only, never deleted; only a `new` command looks at it.
- `live`: id -> slot of the live orders only (interleaved key, slot pairs), deleted from as orders
  die (backward-shift deletion, so no tombstones). Cancels and amends, most of the traffic, look
  here: it is sized with the order pool (at least twice its capacity), so it stays cache-resident
  however many ids the book has seen.

The hash is a fixed Fibonacci multiply: deterministic in every process, and computed within 63 bits
so the uncompiled (NUMBA_DISABLE_JIT) path never overflows numpy int64. Tables are indexed flat:
compiled code gets raw pointers (see batch.process_batch), the rehash helpers flat array views.
"""

from __future__ import annotations

import numpy as np

from engine._jit import compiled
from engine.layout import HASH_EMPTY, LIVE_KEYS, LIVE_SLOTS, NIL


@compiled
def hash_position(key: int, bits: int) -> int:
    folded = (key ^ (key >> 32)) & 0xFFFFFFFF
    return ((folded * 0x61C88647) & 0xFFFFFFFF) >> (32 - bits)


@compiled
def id_position(ids: np.ndarray, bits: int, key: int) -> int:
    """Position of `key` in the ever-accepted set, or the empty position where it would go."""
    mask = (1 << bits) - 1
    position = hash_position(key, bits)
    while True:
        found = ids[position]
        if found in (key, HASH_EMPTY):
            return position
        position = (position + 1) & mask


@compiled
def rehash_ids(old_ids: np.ndarray, new_ids: np.ndarray, new_bits: int) -> None:
    for i in range(old_ids.shape[0]):
        key = old_ids[i]
        if key != HASH_EMPTY:
            new_ids[id_position(new_ids, new_bits, key)] = key


@compiled
def _live_position(live: np.ndarray, bits: int, key: int) -> int:
    mask = (1 << bits) - 1
    position = hash_position(key, bits)
    while True:
        found = live[2 * position + LIVE_KEYS]
        if found in (key, HASH_EMPTY):
            return position
        position = (position + 1) & mask


@compiled
def live_slot(live: np.ndarray, bits: int, key: int) -> int:
    """Slot of the live order with this id, or NIL."""
    position = _live_position(live, bits, key)
    if live[2 * position + LIVE_KEYS] == key:
        return int(live[2 * position + LIVE_SLOTS])
    return NIL


@compiled
def live_insert(live: np.ndarray, bits: int, key: int, slot: int) -> None:
    position = _live_position(live, bits, key)
    live[2 * position + LIVE_KEYS] = key
    live[2 * position + LIVE_SLOTS] = slot


@compiled
def live_delete(live: np.ndarray, bits: int, key: int) -> None:
    """Remove a present key, shifting later members of its probe run back into the hole."""
    mask = (1 << bits) - 1
    hole = _live_position(live, bits, key)
    probe = hole
    while True:
        probe = (probe + 1) & mask
        found = live[2 * probe + LIVE_KEYS]
        if found == HASH_EMPTY:
            break
        home = hash_position(found, bits)
        # the entry may move back unless its home lies cyclically in (hole, probe]
        stays = (hole < home <= probe) if hole < probe else (home > hole or home <= probe)
        if not stays:
            live[2 * hole + LIVE_KEYS] = found
            live[2 * hole + LIVE_SLOTS] = live[2 * probe + LIVE_SLOTS]
            hole = probe
    live[2 * hole + LIVE_KEYS] = HASH_EMPTY
    live[2 * hole + LIVE_SLOTS] = NIL


@compiled
def rehash_live(old_live: np.ndarray, new_live: np.ndarray, new_bits: int) -> None:
    for i in range(old_live.shape[0] // 2):
        key = old_live[2 * i + LIVE_KEYS]
        if key != HASH_EMPTY:
            live_insert(new_live, new_bits, key, old_live[2 * i + LIVE_SLOTS])
