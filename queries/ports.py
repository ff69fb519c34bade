"""The ports of the API: what the HTTP layer needs from the rest of the system, as small Protocols.

queries/ never imports commands/: the composition root (infra/api_server.py) passes adapters that
implement these over the venue's sequencer, its engine books, the event store and the read models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from queries.views import (
    BalancesView,
    CandlesView,
    FillView,
    InstrumentsView,
    InstrumentView,
    JournalEntryView,
    OrderDetail,
    OrderView,
    Page,
    PositionsView,
    TradeView,
)

CommandKind = Literal[
    "place_order", "amend_order", "cancel_order", "deposit", "withdraw", "register_asset", "list_instrument",
    "change_instrument", "halt_instrument", "resume_instrument", "delist_instrument", "open_account",
    "verify_kyc", "freeze_account", "unfreeze_account",
]


@dataclass(frozen=True)
class ApiCommand:
    """A command as the API received it: its kind and its validated fields (body plus path parameters)."""

    kind: CommandKind
    command_id: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class CommandOutcome:
    """The write side's answer: a result and the log position of its events, or a refusal (code, message)."""

    command_id: str
    result: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str = ""
    error_details: dict[str, Any] = field(default_factory=dict)
    duplicate: bool = False
    log_position: int = 0


@dataclass(frozen=True)
class WriteSideStats:
    batches: int
    commands: int
    largest_batch: int
    busy_ns: int
    queue_depth: int
    recent_batch_sizes: Sequence[int]


class CommandGateway(Protocol):
    """The write side, seen from the API."""

    async def submit(self, command: ApiCommand) -> CommandOutcome:
        """Send a command; resolves once its batch is committed (or refused). Raises nothing for refusals."""
        ...

    async def book_depth(self, symbol: str, levels: int) -> tuple[list[tuple[int, int, int]],
                                                                   list[tuple[int, int, int]]] | None:
        """(bids, asks) best first as (price_ticks, visible qty_lots, orders); None for an unknown market."""
        ...

    def stats(self) -> WriteSideStats:
        """The latest numbers (a remote write side's may be a moment old: this is read by metrics scrapes)."""
        ...

    async def ready(self) -> tuple[bool, str]:
        """Whether commands are accepted now, and why not."""
        ...


class EventFeed(Protocol):
    """The event log, read in order: (notification id, domain event) after a position."""

    def read(self, after: int, limit: int) -> list[tuple[int, Any]]: ...

    def head(self) -> int:
        """The highest notification id stored."""
        ...


class ReadModels(Protocol):
    """Query functions over the read models. Every answer carries the position the models reflect."""

    def position(self) -> int: ...

    async def wait_until(self, position: int, timeout_s: float) -> bool:
        """True once the read models reflect the log at least up to `position`; False after the timeout."""
        ...

    async def orders(self, account_id: int | None, symbol: str | None, status: str | None,
                     since_ns: int | None, until_ns: int | None, cursor: str | None,
                     limit: int) -> Page[OrderView]: ...

    async def order(self, symbol: str, order_id: int) -> OrderDetail | None: ...

    async def fills(self, account_id: int, symbol: str | None, cursor: str | None, limit: int) -> Page[FillView]: ...

    async def trades(self, symbol: str, cursor: str | None, limit: int) -> Page[TradeView]: ...

    async def balances(self, account_id: int) -> BalancesView: ...

    async def journal(self, account_id: int, asset: str | None, cursor: str | None,
                      limit: int) -> Page[JournalEntryView]: ...

    async def positions(self, account_id: int) -> PositionsView: ...

    async def instruments(self) -> InstrumentsView: ...

    async def instrument(self, symbol: str) -> InstrumentView | None: ...

    async def candles(self, symbol: str, interval: str, start_ns: int | None, end_ns: int | None,
                      limit: int) -> CandlesView: ...
