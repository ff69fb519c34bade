"""Asset reference data as an aggregate: an asset is registered once with its fixed scale."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import LedgerAggregate
from domain.ids import asset_id
from domain.values import Asset


class AssetDefinition(LedgerAggregate):
    TOPIC = "tradex.Asset"

    @staticmethod
    def create_id(code: str, scale: int = 0) -> UUID:
        return asset_id(code)

    @dataclass(frozen=True)
    class Created(LedgerAggregate.Event, Aggregate.Created):
        TOPIC = "tradex.Asset.Registered"
        code: str
        scale: int

    @event(Created)
    def __init__(self, code: str, scale: int) -> None:
        self.code = code
        self.scale = scale

    @property
    def asset(self) -> Asset:
        return Asset(self.code, self.scale)
