"""The numpy structured dtypes of the fast path: one command in, one event out."""

from __future__ import annotations

from typing import Final

import numpy as np

# One command for one book. Optional fields are signalled by `flags` (codes.HAS_*), so a zeroed
# record is a well-defined command. Enumerations hold codes.* values (0 = unknown/invalid).
COMMAND_DTYPE: Final = np.dtype(
    [
        ("seq", np.int64),  # 1-based position in the whole input stream; copied onto every event
        ("ts", np.int64),  # logical time, nanoseconds
        ("order_id", np.int64),
        ("account_id", np.int64),
        ("qty", np.int64),
        ("price", np.int64),
        ("trigger_price", np.int64),
        ("expire_at", np.int64),
        ("display_qty", np.int64),
        ("op", np.int8),
        ("side", np.int8),
        ("type", np.int8),
        ("tif", np.int8),
        ("stp", np.int8),
        ("post_only", np.int8),
        ("flags", np.int8),
    ],
    align=True,
)

# One engine event. For a trade, order_id is the taker, maker_order_id the maker and side the
# taker side; fields a type does not use are 0.
EVENT_DTYPE: Final = np.dtype(
    [
        ("seq", np.int64),
        ("order_id", np.int64),
        ("maker_order_id", np.int64),
        ("price", np.int64),
        ("qty", np.int64),
        ("type", np.int8),
        ("side", np.int8),
        ("reason", np.int8),
    ],
    align=True,
)
