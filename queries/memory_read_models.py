"""The read models answered from the API node's in-memory fold of the log (`LiveState`).

This implements the `ReadModels` port for a single process (the embedded default and the tests) until
the PostgreSQL read models of projections/ are wired in behind the same port. Lists are newest first;
a cursor is the key of the last row returned (opaque to clients).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.ids import wallet_id
from queries.errors import ApiError
from queries.live_state import Keyed, LiveState, position_view
from queries.stream_hub import LogFollower
from queries.views import (
    BalancesView,
    CandlesView,
    CandleView,
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

INTERVALS_NS: dict[str, int] = {"1m": 60 * 10**9, "5m": 300 * 10**9, "1h": 3_600 * 10**9, "1d": 86_400 * 10**9}


def parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 19:
        raise ApiError(400, "invalid_cursor", "the cursor is not one this API returned", {"cursor": cursor[:64]})
    return int(cursor)


def _page(page_type: Any, rows: Keyed, cursor: str | None, limit: int, keep: Callable[[Any], bool], position: int,
          view: Callable[[Any], Any] = lambda row: row) -> Any:
    end = rows.before(parse_cursor(cursor))
    items: list[Any] = []
    index = end - 1
    while index >= 0 and len(items) < limit:
        row = rows.rows[index]
        if keep(row):
            items.append(view(row))
        index -= 1
    more = index >= 0 and len(items) == limit
    next_cursor = str(rows.keys[index + 1]) if more else None
    return page_type(items=items, next_cursor=next_cursor, position=position)


class MemoryReadModels:
    def __init__(self, state: LiveState, follower: LogFollower) -> None:
        self.state = state
        self.follower = follower

    def position(self) -> int:
        return self.state.position

    async def wait_until(self, position: int, timeout_s: float) -> bool:
        return await self.follower.wait_until(position, timeout_s)

    async def orders(self, account_id: int | None, symbol: str | None, status: str | None,
                     since_ns: int | None, until_ns: int | None, cursor: str | None,
                     limit: int) -> Page[OrderView]:
        state = self.state
        rows = state.orders_all if account_id is None else state.orders_by_account.get(account_id, Keyed())

        def keep(order_uuid: Any) -> bool:
            record = state.orders[order_uuid]
            terms = record.order.terms
            return ((symbol is None or terms["symbol"] == symbol)
                    and (status is None or record.order.status == status)
                    and (since_ns is None or record.created_ns >= since_ns)
                    and (until_ns is None or record.created_ns < until_ns))

        page: Page[OrderView] = _page(Page[OrderView], rows, cursor, limit, keep, state.position,
                                      lambda order_uuid: state.order_view(state.orders[order_uuid]))
        return page

    async def order(self, symbol: str, order_id: int) -> OrderDetail | None:
        key = self.state.order_keys.get((symbol, order_id))
        if key is None:
            return None
        record = self.state.orders[key]
        return OrderDetail(order=self.state.order_view(record), history=self.state.order_history(record),
                           position=self.state.position)

    async def fills(self, account_id: int, symbol: str | None, cursor: str | None, limit: int) -> Page[FillView]:
        rows = self.state.fills_by_account.get(account_id, Keyed())
        page: Page[FillView] = _page(Page[FillView], rows, cursor, limit,
                                     lambda fill: symbol is None or fill["symbol"] == symbol, self.state.position,
                                     lambda fill: FillView.model_construct(**fill))
        return page

    async def trades(self, symbol: str, cursor: str | None, limit: int) -> Page[TradeView]:
        rows = self.state.trades_by_symbol.get(symbol, Keyed())
        page: Page[TradeView] = _page(Page[TradeView], rows, cursor, limit, lambda _: True, self.state.position,
                                      lambda trade: TradeView.model_construct(**trade))
        return page

    async def balances(self, account_id: int) -> BalancesView:
        wallet = self.state.wallets.get(wallet_id(account_id))
        balances = [] if wallet is None else [self.state.balance_view(asset, balance)
                                              for asset, balance in wallet.balances().items()]
        return BalancesView(account_id=account_id, balances=balances, position=self.state.position)

    async def journal(self, account_id: int, asset: str | None, cursor: str | None,
                      limit: int) -> Page[JournalEntryView]:
        rows = self.state.journal_by_account.get(account_id, Keyed())
        page: Page[JournalEntryView] = _page(Page[JournalEntryView], rows, cursor, limit,
                                             lambda entry: asset is None or entry["asset"] == asset,
                                             self.state.position,
                                             lambda entry: JournalEntryView.model_construct(**entry))
        return page

    async def positions(self, account_id: int) -> PositionsView:
        held = self.state.positions_by_account.get(account_id, {})
        return PositionsView(account_id=account_id, positions=[position_view(p) for _, p in sorted(held.items())],
                             position=self.state.position)

    async def instruments(self) -> InstrumentsView:
        return InstrumentsView(instruments=[self.state.instrument_view(i) for _, i in
                                            sorted(self.state.instruments.items())], position=self.state.position)

    async def instrument(self, symbol: str) -> InstrumentView | None:
        instrument = self.state.instruments.get(symbol)
        return None if instrument is None else self.state.instrument_view(instrument)

    async def candles(self, symbol: str, interval: str, start_ns: int | None, end_ns: int | None,
                      limit: int) -> CandlesView:
        length = INTERVALS_NS[interval]
        trades = self.state.trades_by_symbol.get(symbol, Keyed()).rows
        buckets: dict[int, list[int]] = {}
        for trade in trades:  # in log order: the first trade of a bucket opens it, the last closes it
            at_ns, price, qty = trade["at_ns"], trade["price_ticks"], trade["qty_lots"]
            if (start_ns is not None and at_ns < start_ns) or (end_ns is not None and at_ns >= end_ns):
                continue
            start = at_ns - at_ns % length
            notional = price * qty
            candle = buckets.get(start)
            if candle is None:
                buckets[start] = [price, price, price, price, qty, notional, 1]
            else:
                candle[1] = max(candle[1], price)
                candle[2] = min(candle[2], price)
                candle[3] = price
                candle[4] += qty
                candle[5] += notional
                candle[6] += 1
        spec = self.state.specs.get(symbol)
        lot_value = spec.tick_lot_value if spec is not None else 1
        newest = sorted(buckets.items())[-limit:]
        candles = [CandleView(bucket_start_ns=start, open_ticks=c[0], high_ticks=c[1], low_ticks=c[2],
                              close_ticks=c[3], volume_lots=c[4], notional_minor=c[5] * lot_value, trade_count=c[6])
                   for start, c in newest]
        return CandlesView(symbol=symbol, interval=interval, candles=candles, position=self.state.position)
