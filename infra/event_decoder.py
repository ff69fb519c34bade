"""Decoding the high-volume ledger events for the projectors, faster than the generic mapper.

The mapper (infra/fast_mapper.py) decodes any state: it parses the JSON with orjson, then walks every
dict and list in Python to revive `{"_type_": ..., "_data_": ...}` objects. A projector catching up a
million events spends most of its time there. For the event classes that make up almost all of the log
(orders, wallets, positions), this decoder knows where the revived objects are: the `timestamp`, and
the one list of value objects some of them carry (fills, entries, hold changes, position fills). It
builds the same domain event the mapper builds (same class, same attribute values, lists as lists),
and hands everything else (other classes, an upcast, a cipher or compressor, an unexpected or missing
field) to the mapper.

Within the known fields it trusts what the write side writes: an order's terms dict holds plain values
(domain.order.OrderTerms), and every number is an int64 (the domain checks amounts, prices, quantities
and ids; times are int64 ns), which orjson reads exactly. (Past 64 bits orjson would read a float where
the stock decoder reads an int; checking every value for that cost as much as the rest of the decoding,
and only a tampered log could hold one, which the hash chain's `verify_chain` exposes.)
tests/projections/test_event_decoder.py checks event by event that both agree on a whole session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Final, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, Notification
from eventsourcing.utils import get_topic

from domain.order import Fill, Order
from domain.position import Position, PositionFill
from domain.wallet import Entry, HoldChange, Wallet
from infra.fast_mapper import FastMapper

# class -> (field holding a list of value objects, the value class, its transcoding name), or None
_PLANS: Final[dict[type, tuple[str, type, str] | None]] = {
    Order.Created: None, Order.Accepted: None, Order.Rejected: None, Order.Amended: None, Order.Reduced: None,
    Order.Triggered: None, Order.Cancelled: None, Order.Expired: None,
    Order.FillsRecorded: ("fills", Fill, "tradex.Fill"),
    Wallet.Created: None, Wallet.FundsHeld: None, Wallet.HoldReleased: None,
    Wallet.EntriesPosted: ("entries", Entry, "tradex.Entry"),
    Wallet.HoldsChanged: ("changes", HoldChange, "tradex.HoldChange"),
    Position.Created: None,
    Position.FillsApplied: ("fills", PositionFill, "tradex.PositionFill"),
}
_DATETIME: Final = "datetime_iso"


class _Fallback(Exception):
    """This state is not in the expected shape: the mapper decodes it."""


def _constructor(cls: type) -> Callable[[list[Any]], Any]:
    """A fast `cls(*data)` for a flat frozen dataclass given all its fields: the instance dict filled by
    one unpacking (what the dataclass __init__ does one frozen setattr at a time); `cls(*data)` when a
    value is missing (an older row relying on a default)."""
    names = [f.name for f in fields(cls)]
    targets = ", ".join(f"d[{name!r}]" for name in names)
    source = (f"def build(data):\n    if len(data) != {len(names)}:\n        return cls(*data)\n"
              f"    obj = new(cls)\n    d = obj.__dict__\n    {targets}, = data\n    return obj\n")
    namespace: dict[str, Any] = {"cls": cls, "new": object.__new__}
    exec(source, namespace)  # generated from the dataclass's own field names
    return cast(Callable[[list[Any]], Any], namespace["build"])


@dataclass(frozen=True)
class _Plan:
    cls: type
    names: frozenset[str]  # the stored state's keys (the event's fields but originator id and version)
    values: tuple[str, str, Callable[[list[Any]], Any]] | None  # (field, transcoding name, constructor)


class EventDecoder:
    """`decode(id, originator_id, version, topic, state)` -> the domain event the ledger's mapper would build."""

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        # Only the plain JSON format of the stock or fast mapper is decoded here.
        plain = type(mapper) in (Mapper, FastMapper) and mapper.cipher is None and mapper.compressor is None
        self.plans: dict[str, _Plan] = {}
        if plain:
            for cls, plan in _PLANS.items():
                if getattr(cls, "class_version", 1) != 1:
                    continue
                names = frozenset(f.name for f in fields(cls)) - {"originator_id", "originator_version"}
                values = None if plan is None else (plan[0], plan[2], _constructor(plan[1]))
                self.plans[get_topic(cls)] = _Plan(cls, names, values)

    def decode(self, notification_id: int, originator_id: UUID, version: int, topic: str, state: bytes) -> Any:
        plan = self.plans.get(topic)
        if plan is not None:
            try:
                return _build(plan, originator_id, version, state)
            except (_Fallback, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                pass
        return self.mapper.to_domain_event(Notification(id=notification_id, originator_id=originator_id,
                                                        originator_version=version, topic=topic, state=state))


def _build(plan: _Plan, originator_id: UUID, version: int, state: bytes) -> Any:
    document: dict[str, Any] = orjson.loads(state)
    if type(document) is not dict or document.keys() != plan.names:
        raise _Fallback  # an unknown field, a missing one, or a class_version: the mapper's business
    stamp = document["timestamp"]
    if stamp["_type_"] != _DATETIME or len(stamp) != 2:
        raise _Fallback
    document["timestamp"] = datetime.fromisoformat(stamp["_data_"])
    if plan.values is not None:
        name, transcoding, build = plan.values
        values = []
        for item in document[name]:
            if item["_type_"] != transcoding or len(item) != 2:
                raise _Fallback
            values.append(build(item["_data_"]))  # as the DataclassAsList transcoding decodes it
        document[name] = values
    document["originator_id"] = originator_id
    document["originator_version"] = version
    event: Any = object.__new__(plan.cls)
    object.__setattr__(event, "__dict__", document)
    return event
