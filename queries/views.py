"""Response bodies of the HTTP API (also the shapes the read models answer with).

Prices and quantities come twice: as exact integers (`*_ticks`, `*_lots`, `*_minor`) and as decimal
strings for people. Every answer that reads a read model carries the log `position` it reflects.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class CommandResponse(View):
    command_id: str
    duplicate: bool
    log_position: int
    result: dict[str, Any]


class OrderView(View):
    symbol: str
    order_id: int
    account_id: int
    side: str
    type: str
    tif: str
    status: str
    price_ticks: int
    price: str
    qty_lots: int
    qty: str
    filled_qty_lots: int
    leaves_qty_lots: int
    fees_paid_minor: int
    reason: str
    created_ns: int
    updated_ns: int
    position: int  # log position of the order's last change


class OrderEventView(View):
    position: int
    at_ns: int
    type: str
    command_id: str
    data: dict[str, Any]


class OrderDetail(View):
    order: OrderView
    history: list[OrderEventView]
    position: int


class FillView(View):
    position: int
    at_ns: int
    trade_id: str
    symbol: str
    order_id: int
    account_id: int
    side: str
    liquidity: str
    price_ticks: int
    price: str
    qty_lots: int
    qty: str
    fee_minor: int


class TradeView(View):
    position: int
    at_ns: int
    trade_id: str
    symbol: str
    price_ticks: int
    price: str
    qty_lots: int
    qty: str
    taker_side: str


class BalanceView(View):
    asset: str
    total_minor: int
    held_minor: int
    available_minor: int
    total: str
    available: str


class BalancesView(View):
    account_id: int
    balances: list[BalanceView]
    position: int


class JournalEntryView(View):
    position: int
    at_ns: int
    posting_id: str
    asset: str
    amount_minor: int
    counterparty: int
    kind: str
    command_id: str


class PositionView(View):
    symbol: str
    net_qty_lots: int
    open_cost_minor: int
    realized_pnl_minor: int
    fees_paid_minor: int
    bought_lots: int
    sold_lots: int


class PositionsView(View):
    account_id: int
    positions: list[PositionView]
    position: int


class InstrumentView(View):
    symbol: str
    base: str
    quote: str
    status: str
    tick_size: int
    lot_size: int
    tick: str
    lot: str
    min_qty_lots: int
    max_qty_lots: int
    min_price_ticks: int
    max_price_ticks: int
    maker_fee_ppm: int
    taker_fee_ppm: int


class InstrumentsView(View):
    instruments: list[InstrumentView]
    position: int


class BookLevelView(View):
    price_ticks: int
    qty_lots: int
    orders: int


class BookView(View):
    symbol: str
    bids: list[BookLevelView]
    asks: list[BookLevelView]


class TopView(View):
    symbol: str
    bid_price_ticks: int | None
    bid_qty_lots: int
    ask_price_ticks: int | None
    ask_qty_lots: int


class CandleView(View):
    bucket_start_ns: int
    open_ticks: int
    high_ticks: int
    low_ticks: int
    close_ticks: int
    volume_lots: int
    notional_minor: int
    trade_count: int


class CandlesView(View):
    symbol: str
    interval: str
    candles: list[CandleView]
    position: int


class Page(View, Generic[T]):
    items: list[T]
    next_cursor: str | None
    position: int


class HealthView(View):
    status: str
    checks: dict[str, Any]
