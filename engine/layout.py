"""Column indices of the book's int64 arrays, and the state scalars.

`rows` is one pool of records indexed by slot: row r holds order slot r (O_* columns), price level
r (L_* columns) and expiry heap entry r (H_* columns); the three pools have the same capacity
because levels and gtd orders never outnumber orders. Few arrays keep the compiled calls small
(each array argument costs code at every call). The fields matching touches
sit together in the first cache line of a row. Plain int constants, so Numba folds them into the
machine code.
"""

from __future__ import annotations

from typing import Final

# --- rows[slot, O_*]: orders. Rows are 32 fields (256 bytes, cache-line aligned); what matching
# touches for every maker is in the first line, the rest of what an order needs in the second.
O_NEXT: Final = 0  # next slot in the level FIFO (or in the free list), NIL at the end
O_PREV: Final = 1  # previous slot in the level FIFO, NIL at the head
O_VISIBLE: Final = 2  # visible qty; for an incoming order its whole remaining; for a stop its qty
O_HIDDEN: Final = 3  # iceberg reserve not shown
O_ACCOUNT: Final = 4
O_ID: Final = 5
O_LEVEL: Final = 6  # price level row while resting
O_STATUS: Final = 7  # ST_*
O_PRICE: Final = 8
O_SIDE: Final = 9  # codes.SIDE_*
O_TYPE: Final = 10  # codes.TYPE_* as submitted
O_TIF: Final = 11
O_DISPLAY: Final = 12  # iceberg display qty, 0 for a plain order
O_STP: Final = 13
O_POST_ONLY: Final = 14
O_EXPIRE: Final = 15
O_TRIGGER: Final = 16
O_ACCEPT_NO: Final = 17  # acceptance order (1, 2, ...): expiry tie-break and stop arrival order
O_IN_HEAP: Final = 18  # 1 once the order has an entry in the expiry heap
ORDER_FIELDS: Final = 20  # O_* columns are 0..19

# --- order status
ST_FREE: Final = 0
ST_RESTING: Final = 1
ST_WAITING: Final = 2  # stop in the trigger list
ST_TRIGGERED: Final = 3  # stop triggered, waiting for its round within the current command
ST_INCOMING: Final = 4  # being matched

# --- rows[level, L_*]: price levels
L_PRICE: Final = 20
L_HEAD: Final = 21
L_TAIL: Final = 22
L_NEXT_FREE: Final = 23

# --- rows[i, H_*]: gtd expiry min-heap ordered by (expire_at, acceptance number)
H_EXPIRE: Final = 24
H_ACCEPT_NO: Final = 25
H_SLOT: Final = 26
ROW_FIELDS: Final = 32

# --- lists[k, X + side index]: per-side sorted arrays (side index 0 = buy, 1 = sell), element k of
# each in one row so the lists of one side grow together
LEVEL_KEYS: Final = 0  # levels outside the ladder window: keys ascending, best last (price or -price)
LEVEL_IDS: Final = 2  # the level row of each key
STOP_KEYS: Final = 4  # waiting stops sorted by (key, arrival) descending, next to trigger last
STOP_ARRIVALS: Final = 6  # their acceptance numbers
STOP_SLOTS: Final = 8  # their order slots
PENDING: Final = 10  # stops triggered during the current command, in entry order
LIST_ROWS: Final = 12

# --- live[position, LIVE_*]: live order id -> slot, open addressing (ids holds every id ever accepted)
LIVE_KEYS: Final = 0
LIVE_SLOTS: Final = 1

# --- state[S_*]
S_CAPACITY: Final = 0  # rows allocated (also of lists)
S_FREE_SLOT: Final = 1  # head of the free slot list, NIL when full
S_FREE_LEVEL: Final = 2  # head of the free level list
S_LIVE: Final = 3  # live orders: resting + waiting stops (+ the one being matched)
S_N_LEVELS: Final = 4  # + side index (0 buy, 1 sell): active levels per side (ladder + overflow)
S_N_STOPS: Final = 6  # + side index: waiting stops per side
S_N_PENDING: Final = 8  # + side index: stops triggered during the current command
S_HEAP_SIZE: Final = 10
S_N_IDS: Final = 11  # distinct ids ever accepted
S_HASH_BITS: Final = 12  # the ever-accepted id set has 2**bits entries
S_MAX_IDS: Final = 13  # BookConfig.max_order_ids
S_CLOCK: Final = 14  # ts of the command being processed (then of the last one)
S_LAST_TRADE: Final = 15  # last trade price, 0 = none yet
S_ACCEPT_NO: Final = 16  # acceptance counter
S_LAST_SEQ: Final = 17  # seq of the last command applied, 0 = none
S_N_EVENTS: Final = 18  # events written in the current batch
S_BEST_LEVEL: Final = 19  # + side index: row of the best level, NIL when the side is empty
S_N_OVERFLOW: Final = 21  # + side index: levels outside the ladder window (in lists LEVEL_*)
S_WINDOW: Final = 23  # ladder window width in ticks (a power of two)
S_BASE: Final = 24  # price of ladder offset 0
S_LADDER_LEVELS: Final = 25  # levels in the ladder (both sides)
S_REBASE_AT: Final = 26  # re-centre the window when more levels than this are outside it
S_LIVE_BITS: Final = 27  # the live id table has 2**bits entries (at least twice the order capacity)
S_EVENT_CAPACITY: Final = 28  # events the current batch's buffer holds
STATE_FIELDS: Final = 32

# --- ladder[...]: one array of window + window // 32 + window // 1024 int64
# [0, window): the level row of price base + offset, NIL if none (bids and asks never share a price:
#              the book is never crossed, so one ladder serves both sides);
# then the occupancy bitmap (32 bits per int64 word, so the uncompiled path never overflows), then a
# summary bitmap (bit j set when word j is non-zero). Offsets of the bitmaps are functions of window.
LADDER_WORD_BITS: Final = 32
MIN_WINDOW: Final = 1024
MAX_WINDOW: Final = 1 << 24
REBASE_MIN_OVERFLOW: Final = 64

NIL: Final = -1  # "no slot / no level / no position"
HASH_EMPTY: Final = -1  # empty key in an id table (ids are non-negative)
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

# --- status of a compiled batch call
RUN_DONE: Final = 0
RUN_NEED_SLOT: Final = 1  # the next command is a new order and no slot is free
RUN_NEED_IDS: Final = 2  # the next command is a new order and the id table is at its load limit
