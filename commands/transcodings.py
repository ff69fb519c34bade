"""Compact JSON transcodings for the value objects that events carry (stored as positional lists)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.order import Fill
from domain.position import PositionFill
from domain.wallet import Entry, HoldChange


class DataclassAsList(Transcoding):
    """Encode a flat frozen dataclass as the list of its field values, in declaration order.

    Adding a field with a default at the end stays readable: older rows decode with the default.
    """

    def __init__(self, cls: type[Any], name: str) -> None:
        self.type = cls
        self.name = name
        self.field_names = tuple(f.name for f in fields(cls))

    def encode(self, obj: Any) -> list[Any]:
        return [getattr(obj, name) for name in self.field_names]  # flat: no recursive copy as astuple does

    def decode(self, data: Any) -> Any:
        return self.type(*data)


VALUE_TRANSCODINGS: tuple[DataclassAsList, ...] = (
    DataclassAsList(Entry, "tradex.Entry"),
    DataclassAsList(Fill, "tradex.Fill"),
    DataclassAsList(PositionFill, "tradex.PositionFill"),
    DataclassAsList(HoldChange, "tradex.HoldChange"),
)


def register_value_transcodings(transcoder: JSONTranscoder) -> None:
    for transcoding in VALUE_TRANSCODINGS:
        transcoder.register(transcoding)
