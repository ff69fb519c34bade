"""Raw command objects (parsed JSON) -> COMMAND_DTYPE rows, and EVENT_DTYPE rows -> event dicts.

Validation of raw values happens here, but *rejections* do not: a value that is not what ENGINE.md
asks for (a float or bool qty, a number beyond int64, an unknown string) is encoded as an invalid
code (0, or a present-but-invalid optional field) so the compiled engine emits the rejection at its
place in the check order (e.g. duplicate_order_id still wins over invalid_side). Only input that
cannot be given an event at all raises MalformedCommand (see docs/engine.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from engine.codes import (
    EV_ACCEPTED,
    EV_AMENDED,
    EV_CANCELLED,
    EV_DECREMENTED,
    EV_EXPIRED,
    EV_REJECTED,
    EV_TRADE,
    EV_TRIGGERED,
    EVENT_TYPE_NAMES,
    HAS_DISPLAY_QTY,
    HAS_EXPIRE_AT,
    HAS_PRICE,
    HAS_QTY,
    OP_AMEND,
    OP_CODES,
    OP_INVALID,
    OP_NEW,
    REASON_NAMES,
    SIDE_CODES,
    SIDE_NAMES,
    STP_CODES,
    STP_NONE,
    TIF_CODES,
    TIF_GTC,
    TYPE_CODES,
)
from engine.dtypes import COMMAND_DTYPE
from engine.errors import MalformedCommand
from engine.layout import INT64_MAX, INT64_MIN

CommandRow = tuple[int, int, int, int, int, int, int, int, int, int, int, int, int, int, int, int]


def as_int64(value: Any) -> int | None:
    """The value if it is a JSON integer that fits in int64 (bool is not an integer), else None."""
    if type(value) is not int:  # excludes bool and float, even 5.0
        return None
    if INT64_MIN <= value <= INT64_MAX:
        return value
    return None


def _code(value: Any, codes: Mapping[str, int], default: int) -> int:
    if value is None:
        return default
    if isinstance(value, str):
        return codes.get(value, 0)
    return 0


def _required_id(command: Mapping[str, Any], key: str, index: int) -> int:
    value = as_int64(command.get(key))
    if value is None or value < 0:
        raise MalformedCommand(index, f"{key} must be a non-negative integer that fits in int64")
    return value


def encode_command(command: Any, index: int, seq: int) -> CommandRow:
    """One command object -> one COMMAND_DTYPE row (as a tuple in field order)."""
    if not isinstance(command, Mapping):
        raise MalformedCommand(index, "command is not a JSON object")
    raw_op = command.get("op")
    op = OP_CODES.get(raw_op, OP_INVALID) if isinstance(raw_op, str) else OP_INVALID
    order_id = _required_id(command, "order_id", index)
    ts = as_int64(command.get("ts"))
    if ts is None:
        raise MalformedCommand(index, "ts must be an integer that fits in int64")
    account_id = qty = price = trigger_price = expire_at = display_qty = 0
    side = order_type = tif = stp = post_only = flags = 0
    if op == OP_NEW:
        account_id = _required_id(command, "account_id", index)
        side = _code(command.get("side"), SIDE_CODES, 0)
        order_type = _code(command.get("type"), TYPE_CODES, 0)
        qty = as_int64(command.get("qty")) or 0
        price = as_int64(command.get("price")) or 0
        trigger_price = as_int64(command.get("trigger_price")) or 0
        tif = _code(command.get("tif"), TIF_CODES, TIF_GTC)
        stp = _code(command.get("stp"), STP_CODES, STP_NONE)
        raw_expire_at = as_int64(command.get("expire_at"))
        if raw_expire_at is not None:
            expire_at = raw_expire_at
            flags |= HAS_EXPIRE_AT
        raw_post_only = command.get("post_only")
        if raw_post_only is not None and type(raw_post_only) is not bool:
            raise MalformedCommand(index, "post_only must be true or false")
        post_only = 1 if raw_post_only else 0
        if command.get("display_qty") is not None:
            display_qty = as_int64(command.get("display_qty")) or 0
            flags |= HAS_DISPLAY_QTY
    elif op == OP_AMEND:
        if command.get("price") is not None:
            price = as_int64(command.get("price")) or 0
            flags |= HAS_PRICE
        if command.get("qty") is not None:
            qty = as_int64(command.get("qty")) or 0
            flags |= HAS_QTY
    return (
        seq,
        ts,
        order_id,
        account_id,
        qty,
        price,
        trigger_price,
        expire_at,
        display_qty,
        op,
        side,
        order_type,
        tif,
        stp,
        post_only,
        flags,
    )


def rows_to_array(rows: Sequence[CommandRow]) -> np.ndarray:
    if not rows:
        return np.zeros(0, dtype=COMMAND_DTYPE)
    return np.array(rows, dtype=COMMAND_DTYPE)


def encode_commands(commands: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Command dicts of one book -> COMMAND_DTYPE array ('symbol' is ignored). The seq of each
    command is its index + 1 unless it has a 'seq' key (a positive int64)."""
    rows: list[CommandRow] = []
    for index, command in enumerate(commands):
        seq = index + 1
        if isinstance(command, Mapping) and "seq" in command:
            given = as_int64(command["seq"])
            if given is None or given <= 0:
                raise MalformedCommand(index, "seq must be a positive integer that fits in int64")
            seq = given
        rows.append(encode_command(command, index, seq))
    return rows_to_array(rows)


def decode_events_with_symbols(events: np.ndarray, symbols: Sequence[str]) -> list[dict[str, Any]]:
    """EVENT_DTYPE rows -> ENGINE.md event dicts; symbols[i] is the symbol of event i. Fast-path
    extension events (EV_DECREMENTED) are not ENGINE.md events and are left out."""
    seqs = events["seq"].tolist()
    types = events["type"].tolist()
    order_ids = events["order_id"].tolist()
    makers = events["maker_order_id"].tolist()
    prices = events["price"].tolist()
    qtys = events["qty"].tolist()
    sides = events["side"].tolist()
    reasons = events["reason"].tolist()
    out: list[dict[str, Any]] = []
    for i, event_type in enumerate(types):
        if event_type == EV_DECREMENTED:
            continue
        event: dict[str, Any] = {"seq": seqs[i], "symbol": symbols[i], "type": EVENT_TYPE_NAMES[event_type]}
        if event_type == EV_TRADE:
            event["taker_order_id"] = order_ids[i]
            event["maker_order_id"] = makers[i]
            event["price"] = prices[i]
            event["qty"] = qtys[i]
            event["taker_side"] = SIDE_NAMES[sides[i]]
        else:
            event["order_id"] = order_ids[i]
            if event_type == EV_REJECTED:
                event["reason"] = REASON_NAMES[reasons[i]]
            elif event_type == EV_CANCELLED:
                event["qty"] = qtys[i]
                event["reason"] = REASON_NAMES[reasons[i]]
            elif event_type == EV_EXPIRED:
                event["qty"] = qtys[i]
            elif event_type == EV_AMENDED:
                event["price"] = prices[i]
                event["qty"] = qtys[i]
            elif event_type not in (EV_ACCEPTED, EV_TRIGGERED):
                raise ValueError(f"unknown event type code {event_type}")
        out.append(event)
    return out


def decode_events(events: np.ndarray, symbol: str) -> list[dict[str, Any]]:
    """EVENT_DTYPE rows of one book -> ENGINE.md event dicts, in order (EV_DECREMENTED left out)."""
    return decode_events_with_symbols(events, [symbol] * len(events))
