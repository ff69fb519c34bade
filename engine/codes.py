"""Integer codes shared by the command/event arrays and the compiled engine.

Zero is never a valid code for an enumerated field: the encoder maps an unknown or malformed value
to 0 and the compiled validation turns it into the ENGINE.md rejection reason at the right point of
the check order.
"""

from __future__ import annotations

from typing import Final

# --- command ops
OP_INVALID: Final = 0
OP_NEW: Final = 1
OP_CANCEL: Final = 2
OP_AMEND: Final = 3
OP_CODES: Final = {"new": OP_NEW, "cancel": OP_CANCEL, "amend": OP_AMEND}

# --- sides (also the taker_side of a trade event; 0 = not applicable)
SIDE_NONE: Final = 0
SIDE_BUY: Final = 1
SIDE_SELL: Final = 2
SIDE_CODES: Final = {"buy": SIDE_BUY, "sell": SIDE_SELL}
SIDE_NAMES: Final = {SIDE_BUY: "buy", SIDE_SELL: "sell"}

# --- order types
TYPE_LIMIT: Final = 1
TYPE_MARKET: Final = 2
TYPE_STOP_LIMIT: Final = 3
TYPE_STOP_MARKET: Final = 4
TYPE_CODES: Final = {
    "limit": TYPE_LIMIT,
    "market": TYPE_MARKET,
    "stop_limit": TYPE_STOP_LIMIT,
    "stop_market": TYPE_STOP_MARKET,
}

# --- time in force
TIF_GTC: Final = 1
TIF_IOC: Final = 2
TIF_FOK: Final = 3
TIF_GTD: Final = 4
TIF_CODES: Final = {"gtc": TIF_GTC, "ioc": TIF_IOC, "fok": TIF_FOK, "gtd": TIF_GTD}

# --- self-trade prevention
STP_NONE: Final = 1
STP_CANCEL_TAKER: Final = 2
STP_CANCEL_MAKER: Final = 3
STP_CANCEL_BOTH: Final = 4
STP_DECREMENT: Final = 5
STP_CODES: Final = {
    "none": STP_NONE,
    "cancel_taker": STP_CANCEL_TAKER,
    "cancel_maker": STP_CANCEL_MAKER,
    "cancel_both": STP_CANCEL_BOTH,
    "decrement": STP_DECREMENT,
}

# --- which optional command fields are present (COMMAND_DTYPE.flags bit mask)
HAS_PRICE: Final = 1
HAS_QTY: Final = 2
HAS_EXPIRE_AT: Final = 4
HAS_DISPLAY_QTY: Final = 8

# --- event types
EV_ACCEPTED: Final = 1
EV_REJECTED: Final = 2
EV_TRADE: Final = 3
EV_CANCELLED: Final = 4
EV_EXPIRED: Final = 5
EV_AMENDED: Final = 6
EV_TRIGGERED: Final = 7
# Fast-path extension, not an ENGINE.md event: an order that survives a self-trade-prevention
# decrement (ENGINE.md: "keeps its place and emits nothing") lost `qty` lots. Whoever mirrors the book
# (the write side's ledger holds) needs it; decode_events and replay drop it.
EV_DECREMENTED: Final = 8
EVENT_TYPE_NAMES: Final = {
    EV_ACCEPTED: "accepted",
    EV_REJECTED: "rejected",
    EV_TRADE: "trade",
    EV_CANCELLED: "cancelled",
    EV_EXPIRED: "expired",
    EV_AMENDED: "amended",
    EV_TRIGGERED: "triggered",
}

# --- reasons of rejected and cancelled events (0 = none)
REASON_NONE: Final = 0
# cancel reasons
REASON_USER: Final = 1
REASON_IOC: Final = 2
REASON_FOK: Final = 3
REASON_NO_LIQUIDITY: Final = 4
REASON_STP: Final = 5
# rejection reasons
REASON_DUPLICATE_ORDER_ID: Final = 10
REASON_INVALID_SIDE: Final = 11
REASON_INVALID_TYPE: Final = 12
REASON_INVALID_QTY: Final = 13
REASON_INVALID_PRICE: Final = 14
REASON_INVALID_TRIGGER_PRICE: Final = 15
REASON_INVALID_TIF: Final = 16
REASON_INVALID_DISPLAY_QTY: Final = 17
REASON_INVALID_STP: Final = 18
REASON_MISSING_EXPIRE_AT: Final = 19
REASON_INVALID_EXPIRE_AT: Final = 20
REASON_POST_ONLY_NOT_LIMIT: Final = 21
REASON_POST_ONLY_INVALID_TIF: Final = 22
REASON_POST_ONLY_WOULD_CROSS: Final = 23
REASON_INVALID_OP: Final = 24
REASON_UNKNOWN_ORDER: Final = 25
REASON_INVALID_AMEND: Final = 26
REASON_NOT_AMENDABLE: Final = 27
REASON_NAMES: Final = {
    REASON_USER: "user",
    REASON_IOC: "ioc",
    REASON_FOK: "fok",
    REASON_NO_LIQUIDITY: "no_liquidity",
    REASON_STP: "stp",
    REASON_DUPLICATE_ORDER_ID: "duplicate_order_id",
    REASON_INVALID_SIDE: "invalid_side",
    REASON_INVALID_TYPE: "invalid_type",
    REASON_INVALID_QTY: "invalid_qty",
    REASON_INVALID_PRICE: "invalid_price",
    REASON_INVALID_TRIGGER_PRICE: "invalid_trigger_price",
    REASON_INVALID_TIF: "invalid_tif",
    REASON_INVALID_DISPLAY_QTY: "invalid_display_qty",
    REASON_INVALID_STP: "invalid_stp",
    REASON_MISSING_EXPIRE_AT: "missing_expire_at",
    REASON_INVALID_EXPIRE_AT: "invalid_expire_at",
    REASON_POST_ONLY_NOT_LIMIT: "post_only_not_limit",
    REASON_POST_ONLY_INVALID_TIF: "post_only_invalid_tif",
    REASON_POST_ONLY_WOULD_CROSS: "post_only_would_cross",
    REASON_INVALID_OP: "invalid_op",
    REASON_UNKNOWN_ORDER: "unknown_order",
    REASON_INVALID_AMEND: "invalid_amend",
    REASON_NOT_AMENDABLE: "not_amendable",
}
