"""Path and query parameters of the HTTP API (query strings are text: these models convert in lax mode,
but refuse unknown parameters and out-of-range values)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from queries.models import INT64_MAX, AccountId, AssetCode, Symbol

Position = Annotated[int, Field(ge=0, le=INT64_MAX, description="read at or after this log position")]
Limit = Annotated[int, Field(ge=1, le=1000)]
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=64)]
TimeNs = Annotated[int, Field(ge=0, le=INT64_MAX)]
OrderId = Annotated[int, Field(ge=1, le=INT64_MAX)]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountPath(Params):
    account_id: AccountId


class SymbolPath(Params):
    symbol: Symbol


class OrderPath(Params):
    symbol: Symbol
    order_id: OrderId


class ReadQuery(Params):
    min_position: Position | None = None


class OrdersQuery(ReadQuery):
    symbol: Symbol | None = None
    status: Literal["new", "accepted", "partially_filled", "filled", "cancelled", "expired", "rejected"] | None = None
    since_ns: TimeNs | None = None
    until_ns: TimeNs | None = None
    cursor: Cursor | None = None
    limit: Limit = 100


class AllOrdersQuery(OrdersQuery):
    account_id: AccountId | None = None


class FillsQuery(ReadQuery):
    symbol: Symbol | None = None
    cursor: Cursor | None = None
    limit: Limit = 100


class JournalQuery(ReadQuery):
    asset: AssetCode | None = None
    cursor: Cursor | None = None
    limit: Limit = 100


class TradesQuery(ReadQuery):
    cursor: Cursor | None = None
    limit: Limit = 100


class BookQuery(Params):
    depth: Annotated[int, Field(ge=1, le=500)] = 20


class CandlesQuery(ReadQuery):
    interval: Literal["1m", "5m", "1h", "1d"] = "1m"
    start_ns: TimeNs | None = None
    end_ns: TimeNs | None = None
    limit: Limit = 500


class StreamQuery(Params):
    after: Position | None = None
    min_position: Position | None = None  # without `after`: the snapshot reflects at least this position
    access_token: Annotated[str, StringConstraints(max_length=4096)] | None = None
