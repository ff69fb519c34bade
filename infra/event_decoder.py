"""Decoding the high-volume ledger events for the projectors, faster than the generic mapper.

The mapper (infra/fast_mapper.py) decodes any state: it parses the JSON with orjson, then walks every
dict and list in Python to revive `{"_type_": ..., "_data_": ...}` objects. A projector catching up a
million events spends most of its time there. For the event classes that make up almost all of the log
(orders, wallets, positions), this decoder knows where the revived objects are: the `timestamp`, and
the one list of value objects some of them carry (fills, entries, hold changes, position fills). It
builds the same domain event the mapper builds (same class, same attribute values, lists as lists),
and hands everything else (other classes, an upcast, a cipher or compressor, anything unexpected) to
the mapper. `tests/projections/test_event_decoder.py` checks event by event that both agree on a
whole trading session.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final
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


class EventDecoder:
    """`decode(id, originator_id, version, topic, state)` -> the domain event the ledger's mapper would build."""

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        # Only the plain JSON format of the stock or fast mapper is decoded here.
        plain = type(mapper) in (Mapper, FastMapper) and mapper.cipher is None and mapper.compressor is None
        self.plans: dict[str, tuple[type, tuple[str, type, str] | None]] = {}
        if plain:
            for cls, plan in _PLANS.items():
                if getattr(cls, "class_version", 1) == 1:
                    self.plans[get_topic(cls)] = (cls, plan)

    def decode(self, notification_id: int, originator_id: UUID, version: int, topic: str, state: bytes) -> Any:
        known = self.plans.get(topic)
        if known is not None:
            try:
                return _build(known[0], known[1], originator_id, version, state)
            except (_Fallback, orjson.JSONDecodeError, KeyError, TypeError):
                pass
        return self.mapper.to_domain_event(Notification(id=notification_id, originator_id=originator_id,
                                                        originator_version=version, topic=topic, state=state))


def _build(cls: type, plan: tuple[str, type, str] | None, originator_id: UUID, version: int, state: bytes) -> Any:
    fields: dict[str, Any] = orjson.loads(state)
    if type(fields) is not dict or "class_version" in fields:
        raise _Fallback
    stamp = fields["timestamp"]
    if stamp["_type_"] != _DATETIME or len(stamp) != 2:
        raise _Fallback
    fields["timestamp"] = datetime.fromisoformat(stamp["_data_"])
    if plan is not None:
        name, value_class, transcoding = plan
        make: Callable[..., Any] = value_class
        values = []
        for item in fields[name]:
            if item["_type_"] != transcoding or len(item) != 2:
                raise _Fallback
            values.append(make(*item["_data_"]))  # as the DataclassAsList transcoding decodes it
        fields[name] = values
    for key, value in fields.items():
        if type(value) is float or (type(value) is dict and key != "terms"):
            raise _Fallback  # a float, or a nested object that might hold a revived value
    if "terms" in fields and not _flat(fields["terms"]):
        raise _Fallback
    fields["originator_id"] = originator_id
    fields["originator_version"] = version
    event: Any = object.__new__(cls)
    object.__setattr__(event, "__dict__", fields)
    return event


_PRIMITIVES: Final = frozenset({str, int, bool, type(None)})


def _flat(document: Any) -> bool:
    return type(document) is dict and all(type(value) in _PRIMITIVES for value in document.values())
