"""TradeX matching engine: Numba price-time priority order books, arrays in, arrays out.

ENGINE.md (shared/design) is the contract; docs/engine.md describes this implementation.
"""

from engine.book import BookConfig, BookSnapshot, OrderBook
from engine.codes import (
    EV_ACCEPTED,
    EV_AMENDED,
    EV_CANCELLED,
    EV_DECREMENTED,
    EV_EXPIRED,
    EV_REJECTED,
    EV_TRADE,
    EV_TRIGGERED,
)
from engine.dtypes import COMMAND_DTYPE, EVENT_DTYPE
from engine.encoding import decode_events, encode_commands
from engine.errors import CapacityExceeded, MalformedCommand

__all__ = [
    "COMMAND_DTYPE",
    "EVENT_DTYPE",
    "EV_ACCEPTED",
    "EV_AMENDED",
    "EV_CANCELLED",
    "EV_DECREMENTED",
    "EV_EXPIRED",
    "EV_REJECTED",
    "EV_TRADE",
    "EV_TRIGGERED",
    "BookConfig",
    "BookSnapshot",
    "CapacityExceeded",
    "MalformedCommand",
    "OrderBook",
    "decode_events",
    "encode_commands",
]
