"""OrderBook: the Python face of one compiled book (batch processing, queries, snapshots)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from engine.batch import dump_side, process_batch
from engine.book_state import ARRAY_NAMES, BookArrays, allocate, check_arrays, copy_arrays, grow_rows
from engine.dtypes import COMMAND_DTYPE, EVENT_DTYPE
from engine.errors import CapacityExceeded
from engine.events import collect, start_batch
from engine.hashindex import rehash_ids
from engine.layout import (
    HASH_EMPTY,
    INT64_MAX,
    MAX_WINDOW,
    MIN_WINDOW,
    RUN_DONE,
    RUN_NEED_IDS,
    RUN_NEED_SLOT,
    S_CAPACITY,
    S_EVENT_CAPACITY,
    S_HASH_BITS,
    S_LAST_SEQ,
    S_LAST_TRADE,
    S_LIVE,
    S_N_EVENTS,
    S_N_IDS,
)

_MAX_HASH_BITS = 32  # hash_position folds ids into 32 bits
_MAX_ORDERS = 1 << (_MAX_HASH_BITS - 1)  # the live id table has at least twice as many entries


def _bits_for(entries: int) -> int:
    """Smallest table size (as a power of two) that keeps `entries` ids at most half full."""
    return max(4, (2 * entries - 1).bit_length())


@dataclass(frozen=True)
class BookConfig:
    """Bounds of one book. Arrays start at the initial_* sizes and double between commands, up to
    the max_* bounds; hitting a bound raises CapacityExceeded."""

    max_orders: int = 1_000_000  # live orders at once: resting + waiting stops (+ the incoming one)
    max_order_ids: int = 16_000_000  # distinct order ids accepted over the book's whole life
    initial_orders: int = 1024
    initial_order_ids: int = 4096
    # Ticks of the dense price ladder (power of two). Levels outside it still work (sorted arrays),
    # just slower; the window re-centres on the market when too many levels fall outside.
    price_window_ticks: int = 1 << 14

    def __post_init__(self) -> None:
        window = self.price_window_ticks
        if not (MIN_WINDOW <= window <= MAX_WINDOW and window & (window - 1) == 0):
            raise ValueError(f"price_window_ticks must be a power of two in [{MIN_WINDOW}, {MAX_WINDOW}]")
        if not 1 <= self.initial_orders <= self.max_orders <= _MAX_ORDERS:
            raise ValueError(f"need 1 <= initial_orders <= max_orders <= {_MAX_ORDERS}")
        if not 1 <= self.initial_order_ids <= self.max_order_ids:
            raise ValueError("need 1 <= initial_order_ids <= max_order_ids")
        if _bits_for(self.max_order_ids) > _MAX_HASH_BITS:
            raise ValueError(f"max_order_ids must be at most {2 ** (_MAX_HASH_BITS - 1)}")


@dataclass(frozen=True, eq=False)
class BookSnapshot:
    """A copy of every array of a book plus the seq of the last command it applied.

    Picklable as is; save()/load() use one .npz file. Restoring and then processing the commands
    after last_seq gives exactly the events and book an uninterrupted run gives.
    """

    config: BookConfig
    last_seq: int
    arrays: dict[str, np.ndarray] = field(repr=False)

    def save(self, path: str | Path | BinaryIO, compressed: bool = False) -> None:
        config = np.array(
            [
                self.config.max_orders,
                self.config.max_order_ids,
                self.config.initial_orders,
                self.config.initial_order_ids,
                self.config.price_window_ticks,
            ],
            dtype=np.int64,
        )
        save: Any = np.savez_compressed if compressed else np.savez  # numpy types **arrays as allow_pickle
        save(path, config=config, **self.arrays)

    def to_bytes(self) -> bytes:
        """The snapshot as compressed .npz bytes (mostly empty arrays: a few hundred KiB at most)."""
        buffer = io.BytesIO()
        self.save(buffer, compressed=True)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> BookSnapshot:
        return cls.load(io.BytesIO(data))

    @classmethod
    def load(cls, path: str | Path | BinaryIO) -> BookSnapshot:
        with np.load(path) as data:
            config = BookConfig(*(int(value) for value in data["config"]))
            arrays = {name: np.array(data[name]) for name in ARRAY_NAMES}
        return cls(config=config, last_seq=int(arrays["state"][S_LAST_SEQ]), arrays=arrays)


class OrderBook:
    """One instrument's book. `process` applies a batch of COMMAND_DTYPE commands in one compiled
    call and returns the EVENT_DTYPE events, in order."""

    def __init__(self, config: BookConfig | None = None) -> None:
        self.config = config if config is not None else BookConfig()
        self._arrays = allocate(
            self.config.initial_orders,
            _bits_for(self.config.initial_order_ids),
            self.config.max_order_ids,
            self.config.price_window_ticks,
        )

    # --- processing -------------------------------------------------------------------------
    def process(self, commands: np.ndarray) -> np.ndarray:
        """Apply the commands in order; returns their events (a new array, owned by the caller)."""
        return self._run(commands, None)

    def process_timed(self, commands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As process, and also each command's processing time in nanoseconds, measured inside the
        compiled loop with clock_gettime(CLOCK_MONOTONIC) (expiries and stop cascades included)."""
        latencies_ns = np.zeros(len(commands), dtype=np.int64)
        events = self._run(commands, latencies_ns)
        return events, latencies_ns

    def _run(self, commands: np.ndarray, latencies_ns: np.ndarray | None) -> np.ndarray:
        if commands.dtype != COMMAND_DTYPE or commands.ndim != 1:
            raise TypeError("commands must be a 1-d array of engine.COMMAND_DTYPE")
        commands = np.ascontiguousarray(commands)
        timed = latencies_ns is not None
        latencies = latencies_ns if latencies_ns is not None else np.zeros(0, dtype=np.int64)
        # Most commands emit one to three events; more than the buffer holds spill (see events.py).
        events = np.empty(2 * len(commands) + 64, dtype=EVENT_DTYPE)
        words = events.view(np.int64)
        start_batch()
        self._arrays.state[S_N_EVENTS] = 0
        self._arrays.state[S_EVENT_CAPACITY] = len(events)
        index = 0
        while True:
            status, index = process_batch(commands, index, self._arrays, words, latencies, timed)
            if status == RUN_DONE:
                break
            if status == RUN_NEED_SLOT:
                self._grow_slots(events, index)
            elif status == RUN_NEED_IDS:
                self._grow_ids(events, index)
            else:  # pragma: no cover - the compiled loop has no other status
                raise RuntimeError(f"unexpected engine status {status}")
        return collect(events, int(self._arrays.state[S_N_EVENTS]))

    def _events_so_far(self, events: np.ndarray) -> np.ndarray:
        return collect(events, int(self._arrays.state[S_N_EVENTS])).copy()

    def _grow_slots(self, events: np.ndarray, index: int) -> None:
        capacity = int(self._arrays.state[S_CAPACITY])
        if capacity >= self.config.max_orders:
            raise CapacityExceeded(
                f"order book full: {capacity} live orders (BookConfig.max_orders)",
                self._events_so_far(events),
                index,
            )
        self._arrays = grow_rows(self._arrays, min(2 * capacity, self.config.max_orders))

    def _grow_ids(self, events: np.ndarray, index: int) -> None:
        state = self._arrays.state
        ids = int(state[S_N_IDS])
        if ids >= self.config.max_order_ids:
            raise CapacityExceeded(
                f"order id table full: {ids} ids accepted (BookConfig.max_order_ids)",
                self._events_so_far(events),
                index,
            )
        bits = int(state[S_HASH_BITS]) + 1
        table = np.full(1 << bits, HASH_EMPTY, dtype=np.int64)
        rehash_ids(self._arrays.ids, table, bits)
        state[S_HASH_BITS] = bits
        self._arrays = self._arrays._replace(ids=table)

    # --- state ------------------------------------------------------------------------------
    @property
    def last_trade_price(self) -> int:
        """Price of the last trade, 0 when there has been none."""
        return int(self._arrays.state[S_LAST_TRADE])

    @property
    def last_seq(self) -> int:
        """seq of the last command applied, 0 when none."""
        return int(self._arrays.state[S_LAST_SEQ])

    @property
    def live_orders(self) -> int:
        """Resting orders plus waiting stops."""
        return int(self._arrays.state[S_LIVE])

    @property
    def arrays(self) -> BookArrays:
        """The raw arrays (read-only use: tests, debugging)."""
        return self._arrays

    def snapshot(self) -> BookSnapshot:
        copied = copy_arrays(self._arrays)
        return BookSnapshot(config=self.config, last_seq=self.last_seq, arrays=dict(copied._asdict()))

    @classmethod
    def restore(cls, snapshot: BookSnapshot) -> OrderBook:
        book = cls(snapshot.config)
        missing = [name for name in ARRAY_NAMES if name not in snapshot.arrays]
        if missing:
            raise ValueError(f"snapshot lacks arrays {missing}")
        arrays = copy_arrays(BookArrays(*(snapshot.arrays[name] for name in ARRAY_NAMES)))
        check_arrays(arrays)
        book._arrays = arrays
        return book

    # --- queries ----------------------------------------------------------------------------
    def _side(self, side_idx: int, max_levels: int) -> list[tuple[int, list[list[int]]]]:
        prices, counts, rows = dump_side(self._arrays, side_idx, max_levels)
        out: list[tuple[int, list[list[int]]]] = []
        start = 0
        all_rows = rows.tolist()
        for price, count in zip(prices.tolist(), counts.tolist(), strict=True):
            out.append((price, all_rows[start : start + count]))
            start += count
        return out

    def levels(self) -> dict[str, list[list[object]]]:
        """{"bids": [[price, [[order_id, visible_qty, hidden_qty], ...]], ...], "asks": [...]},
        best price first, queue order within a level, waiting stops excluded (ENGINE.md books)."""
        everything = INT64_MAX
        return {
            "bids": [[price, orders] for price, orders in self._side(0, everything)],
            "asks": [[price, orders] for price, orders in self._side(1, everything)],
        }

    def depth(self, n_levels: int) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """(bids, asks), best first, as (price, total visible qty, order count) per level."""

        def summary(side_idx: int) -> list[tuple[int, int, int]]:
            # summed as Python ints: a level's total may exceed int64
            return [
                (price, sum(order[1] for order in orders), len(orders))
                for price, orders in self._side(side_idx, max(0, n_levels))
            ]

        return summary(0), summary(1)

    def top(self) -> tuple[int, int, int, int]:
        """(best_bid, bid_visible_qty, best_ask, ask_visible_qty); 0s for an empty side."""
        bids, asks = self.depth(1)
        best_bid, bid_qty = (bids[0][0], bids[0][1]) if bids else (0, 0)
        best_ask, ask_qty = (asks[0][0], asks[0][1]) if asks else (0, 0)
        return best_bid, bid_qty, best_ask, ask_qty
