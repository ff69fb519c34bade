"""The read models in PostgreSQL (projections/: `rm.<table>` views on each projection's live generation),
behind the `ReadModels` port. All SQL of the API's queries lives here.

Tables read: `rm.orders`, `rm.order_events`, `rm.fills`, `rm.trades` (orders projection),
`rm.balances`, `rm.postings` (balances), `rm.positions` (positions), `rm.instruments`, `rm.assets`
(instruments), `rm.md_candles_<interval>` (market data), and `rm.projections` + `rm.tracking` for the
positions the projections have read the log up to.

Each answer is read in one REPEATABLE READ transaction together with the position it reflects: the
smallest position of the projections this API reads (a projection at position P has seen every event with
id <= P, so every table reflects at least P).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection, IsolationLevel, sql
from psycopg_pool import AsyncConnectionPool

from queries.errors import ApiError
from queries.views import (
    BalancesView,
    BalanceView,
    CandlesView,
    CandleView,
    FillView,
    InstrumentsView,
    InstrumentView,
    JournalEntryView,
    OrderDetail,
    OrderEventView,
    OrderView,
    Page,
    PositionsView,
    PositionView,
    TradeView,
)

PROJECTIONS = ("instruments", "orders", "balances", "positions", "market_data")
ORDER_COLUMNS = ("symbol, order_id, account_id, side, order_type, tif, status, price_ticks, qty_lots, "
                 "filled_qty_lots, leaves_qty_lots, fees_paid, reason, placed_at_ns, updated_at_ns, last_position, "
                 "placed_position")
INSTRUMENT_COLUMNS = ("symbol, base, quote, base_scale, quote_scale, tick_size, lot_size, min_qty_lots, max_qty_lots, "
                      "min_price_ticks, max_price_ticks, maker_fee_ppm, taker_fee_ppm, tick_lot_value, status")
log = logging.getLogger("tradex.api.read_models")
ORDER_VIEWS_KEPT = 100_000
NOTIFY_CHANNEL = "rm_positions"  # where the projectors announce each advance (projections/pg_tracking.py)
INTERVAL_TABLES = {"1m": "md_candles_1m", "5m": "md_candles_5m", "1h": "md_candles_1h", "1d": "md_candles_1d"}


def _cursor_keys(cursor: str | None, parts: int) -> tuple[int, ...] | None:
    if cursor is None:
        return None
    pieces = cursor.split(".")
    if len(pieces) != parts or not all(piece.isdigit() and len(piece) <= 19 for piece in pieces):
        raise ApiError(400, "invalid_cursor", "the cursor is not one this API returned", {"cursor": cursor[:64]})
    return tuple(int(piece) for piece in pieces)


def _account_page(column: str, value: str | None, account_id: int, cursor: str | None) -> tuple[list[str], list[Any]]:
    """WHERE terms and parameters of one page of an account's rows keyed (position, seq), newest first:
    the account, an optional filter on `column` (a fixed name, never client text), the cursor."""
    keys = _cursor_keys(cursor, 2)
    where: list[str] = ["account_id = %s"]
    params: list[Any] = [account_id]
    if value is not None:
        where.append(f"{column} = %s")
        params.append(value)
    if keys is not None:
        where.append("(position, seq) < (%s, %s)")
        params += list(keys)
    return where, params


def _scaled(amount: int, scale: int) -> str:
    return f"{Decimal(amount).scaleb(-scale):f}"


class _Scales:
    """Per instrument (tick_size, quote_scale, lot_size, base_scale) and per asset scale, for decimal text."""

    def __init__(self) -> None:
        self.instruments: dict[str, tuple[int, int, int, int]] = {}
        self.assets: dict[str, int] = {}

    def price(self, symbol: str, ticks: int) -> str:
        found = self.instruments.get(symbol)
        return str(ticks) if found is None else _scaled(ticks * found[0], found[1])

    def qty(self, symbol: str, lots: int) -> str:
        found = self.instruments.get(symbol)
        return str(lots) if found is None else _scaled(lots * found[2], found[3])


async def _repeatable_read(conn: AsyncConnection[Any]) -> None:
    """Every transaction of the pool's connections reads one snapshot."""
    await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)


class AnswerCache:
    """Answers (position, rows) kept until any projection advances, or `max_age_s` at most (a bound for
    an advance whose NOTIFY was lost; every answer states its position, so even then it is not wrong, only
    older than it needs to be).

    The projectors NOTIFY every advance (projections.pg_tracking.CHANNEL); `PgReadModels` listens and calls
    `advanced()`, which drops every answer. An answer is kept only if no advance was heard between the
    moment its query was sent (`ticket`) and its arrival, so a kept answer is the read models' state at
    its position, and stays the current state until the next advance is heard. While the listener is not
    running nothing is kept. Each answer carries its position, so even one served in the moment between a
    commit and its NOTIFY is exactly what the models held at the position it states.
    """

    def __init__(self, max_entries: int = 20_000, max_age_s: float = 5.0) -> None:
        self.max_entries = max_entries
        self.max_age_s = max_age_s
        self.generation = 0  # advances heard
        self.active = False
        self.entries: dict[tuple[Any, ...], tuple[int, float, int, list[tuple[Any, ...]]]] = {}
        self.hits = 0

    def listening(self, active: bool) -> None:
        self.active = active
        self.advanced()

    def advanced(self) -> None:
        self.generation += 1
        self.entries.clear()

    def ticket(self) -> int:
        return self.generation if self.active else -1

    def get(self, key: tuple[Any, ...]) -> tuple[int, list[tuple[Any, ...]]] | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        generation, expires, position, rows = entry
        if generation != self.generation or time.monotonic() > expires:
            del self.entries[key]
            return None
        self.hits += 1
        return position, rows

    def put(self, ticket: int, key: tuple[Any, ...], position: int, rows: list[tuple[Any, ...]]) -> None:
        if ticket < 0 or ticket != self.generation or not self.active:
            return
        if len(self.entries) >= self.max_entries:
            self.entries.clear()
        # each answer expires at its own time between half and all of max_age: answers made together (after
        # an advance) would otherwise all be asked for again at the same moment
        expires = time.monotonic() + self.max_age_s * (0.5 + 0.5 * random.random())
        self.entries[key] = (ticket, expires, position, rows)


class PgReadModels:
    def __init__(self, conninfo: str, prefix: str = "rm", projections: Sequence[str] = PROJECTIONS,
                 pool_size: int = 4, poll_s: float = 0.01, notify_channel: str = NOTIFY_CHANNEL) -> None:
        if not prefix.isidentifier():
            raise ValueError(f"bad read-model prefix {prefix!r}")
        self.prefix = prefix
        self.projections = list(projections)
        self.poll_s = poll_s
        self.pool = AsyncConnectionPool(conninfo, min_size=pool_size, max_size=pool_size, open=False,
                                        kwargs={"autocommit": True}, configure=_repeatable_read)
        self.tracked_query = (
            f"SELECT count(*), coalesce(min(t.position), 0) FROM {self.prefix}.projections p "
            f"JOIN {self.prefix}.tracking t USING (name, generation) WHERE p.name = ANY(%s)")
        # the same, as a scalar: 0 until every projection this API reads exists
        self.tracked_scalar = (
            f"(SELECT CASE WHEN count(*) < %s THEN 0 ELSE coalesce(min(t.position), 0) END "
            f"FROM {self.prefix}.projections p JOIN {self.prefix}.tracking t USING (name, generation) "
            f"WHERE p.name = ANY(%s))")
        self.scales = _Scales()
        self._position = 0
        self.conninfo = conninfo
        self.notify_channel = notify_channel
        self.answers = AnswerCache()
        self._order_views: dict[tuple[Any, ...], OrderView] = {}
        self._listener: asyncio.Task[None] | None = None

    async def open(self) -> None:
        await self.pool.open(wait=True)
        self._listener = asyncio.get_running_loop().create_task(self._listen(), name="tradex-read-model-listener")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.pool.close()

    async def _listen(self) -> None:
        """Follow the projectors' NOTIFY of every advance; answers are cached only while this runs."""
        failures = 0
        while True:
            try:
                async with await AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.notify_channel)))
                    self.answers.listening(True)
                    failures = 0
                    async for _ in conn.notifies():
                        self.answers.advanced()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the server may be restarting: answer uncached meanwhile
                log.warning("read-model listener: %s: %s", type(error).__name__, error)
            finally:
                self.answers.listening(False)
            failures += 1
            await asyncio.sleep(min(2.0, 0.1 * failures))

    def position(self) -> int:
        return self._position

    # ---- plumbing ------------------------------------------------------------------------------
    async def _read(self, query: str, params: Sequence[Any] = (), more: Sequence[tuple[str, Sequence[Any]]] = ()
                    ) -> tuple[int, list[tuple[Any, ...]], list[list[tuple[Any, ...]]]]:
        """One consistent snapshot: (position, rows of `query`, rows of each `more` query).

        A single query is one statement (one snapshot) that also reads the tracked position, as a first
        column: one round trip, no transaction to open and close. Should it find no rows, the position is
        the last one this API saw before asking, which the snapshot reflects at least (projections only
        move forward). Several queries run in one REPEATABLE READ transaction, pipelined.
        """
        if not query.startswith("SELECT "):
            raise ValueError("a read-model query starts with SELECT")
        if not more:
            key = (query, tuple(tuple(p) if isinstance(p, list) else p for p in params))
            cached = self.answers.get(key)
            if cached is not None and cached[0] >= self._position:  # not older than what a reader waited for
                return cached[0], cached[1], []
            ticket = self.answers.ticket()
            known = self._position
            async with self.pool.connection() as conn:
                cursor = await conn.execute(
                    f"SELECT {self.tracked_scalar}, " + query[len("SELECT "):].replace("rm.", f"{self.prefix}."),
                    (len(self.projections), self.projections, *params))
                found = await cursor.fetchall()
            position = int(found[0][0]) if found else known
            self._position = max(self._position, position)
            rows = [row[1:] for row in found]
            self.answers.put(ticket, key, position, rows)
            return position, rows, []
        async with self.pool.connection() as conn, conn.pipeline(), conn.transaction():
            tracked = await conn.execute(self.tracked_query, (self.projections,))
            main = await conn.execute(query.replace("rm.", f"{self.prefix}."), params)
            extras = [await conn.execute(q.replace("rm.", f"{self.prefix}."), p) for q, p in more]
        counted = await tracked.fetchone()
        rows = await main.fetchall()
        extra = [await cursor.fetchall() for cursor in extras]
        position = 0 if counted is None or int(counted[0]) < len(self.projections) else int(counted[1])
        self._position = max(self._position, position)
        return position, rows, extra

    async def _tracked(self, conn: AsyncConnection[Any]) -> int:
        cursor = await conn.execute(self.tracked_query, (self.projections,))
        row = await cursor.fetchone()
        if row is None or int(row[0]) < len(self.projections):
            return 0  # a projection does not exist yet: nothing is known to be reflected
        return int(row[1])

    async def wait_until(self, position: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            async with self.pool.connection() as conn:
                reached = await self._tracked(conn)
                await conn.commit()
            self._position = max(self._position, reached)
            if reached >= position:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self.poll_s)

    async def _known(self, symbols: set[str]) -> None:
        missing = [s for s in symbols if s not in self.scales.instruments]
        if not missing:
            return
        _, rows, (assets,) = await self._read(
            "SELECT symbol, tick_size, quote_scale, lot_size, base_scale FROM rm.instruments WHERE symbol = ANY(%s)",
            (missing,), [("SELECT code, scale FROM rm.assets", ())])
        for symbol, tick, quote_scale, lot, base_scale in rows:
            self.scales.instruments[symbol] = (int(tick), int(quote_scale), int(lot), int(base_scale))
        self.scales.assets.update({code: int(scale) for code, scale in assets})

    # ---- orders --------------------------------------------------------------------------------
    def _order(self, row: tuple[Any, ...]) -> OrderView:
        """The view of an order row; the same row (it carries the order's last position) gives the same view,
        built once: a page of orders is mostly rows the API has shown before."""
        view = self._order_views.get(row)
        if view is None:
            if len(self._order_views) >= ORDER_VIEWS_KEPT:
                self._order_views.clear()
            view = self._order_views[row] = self._build_order(row)
        return view

    def _build_order(self, row: tuple[Any, ...]) -> OrderView:
        (symbol, order_id, account_id, side, order_type, tif, status, price_ticks, qty_lots, filled, leaves, fees,
         reason, placed_at_ns, updated_at_ns, last_position, _placed_position) = row
        return OrderView(symbol=symbol, order_id=order_id, account_id=account_id, side=side, type=order_type, tif=tif,
                         status=status, price_ticks=price_ticks, price=self.scales.price(symbol, price_ticks),
                         qty_lots=qty_lots, qty=self.scales.qty(symbol, qty_lots), filled_qty_lots=filled,
                         leaves_qty_lots=leaves, fees_paid_minor=int(fees), reason=reason, created_ns=placed_at_ns,
                         updated_ns=updated_at_ns, position=last_position)

    async def orders(self, account_id: int | None, symbol: str | None, status: str | None,
                     since_ns: int | None, until_ns: int | None, cursor: str | None,
                     limit: int) -> Page[OrderView]:
        keys = _cursor_keys(cursor, 1)
        where: list[str] = ["TRUE"]
        params: list[Any] = []
        for clause, value in (("account_id = %s", account_id), ("symbol = %s", symbol), ("status = %s", status),
                              ("placed_at_ns >= %s", since_ns), ("placed_at_ns < %s", until_ns),
                              ("placed_position < %s", keys[0] if keys else None)):
            if value is not None:
                where.append(clause)
                params.append(value)
        position, rows, _ = await self._read(
            f"SELECT {ORDER_COLUMNS} FROM rm.orders WHERE {' AND '.join(where)} "
            "ORDER BY placed_position DESC LIMIT %s", (*params, limit + 1))
        await self._known({row[0] for row in rows})
        more = len(rows) > limit
        rows = rows[:limit]
        return Page[OrderView](items=[self._order(row) for row in rows],
                               next_cursor=str(rows[-1][-1]) if more else None, position=position)

    async def order(self, symbol: str, order_id: int) -> OrderDetail | None:
        position, rows, (events,) = await self._read(
            f"SELECT {ORDER_COLUMNS} FROM rm.orders WHERE symbol = %s AND order_id = %s", (symbol, order_id),
            [("SELECT position, at_ns, event_type, command_id, status, price_ticks, leaves_qty_lots, filled_qty_lots, "
              "qty_lots, reason FROM rm.order_events WHERE symbol = %s AND order_id = %s ORDER BY version",
              (symbol, order_id))])
        if not rows:
            return None
        await self._known({symbol})
        history = [OrderEventView(position=p, at_ns=at, type=kind, command_id=command_id, data={
            "status": status, "price_ticks": price, "leaves_qty_lots": leaves, "filled_qty_lots": filled,
            "qty_lots": qty, "reason": reason}) for p, at, kind, command_id, status, price, leaves, filled, qty, reason
            in events]
        return OrderDetail(order=self._order(rows[0]), history=history, position=position)

    async def fills(self, account_id: int, symbol: str | None, cursor: str | None, limit: int) -> Page[FillView]:
        where, params = _account_page("symbol", symbol, account_id, cursor)
        position, rows, _ = await self._read(
            "SELECT position, seq, at_ns, trade_id, symbol, order_id, account_id, side, liquidity, price_ticks, "
            f"qty_lots, fee FROM rm.fills WHERE {' AND '.join(where)} ORDER BY position DESC, seq DESC LIMIT %s",
            (*params, limit + 1))
        await self._known({row[4] for row in rows})
        more = len(rows) > limit
        rows = rows[:limit]
        items = [FillView(position=p, at_ns=at, trade_id=trade_id, symbol=sym, order_id=order_id, account_id=account,
                          side=side, liquidity=liquidity, price_ticks=price, price=self.scales.price(sym, price),
                          qty_lots=qty, qty=self.scales.qty(sym, qty), fee_minor=fee)
                 for p, _, at, trade_id, sym, order_id, account, side, liquidity, price, qty, fee in rows]
        next_cursor = f"{rows[-1][0]}.{rows[-1][1]}" if more else None
        return Page[FillView](items=items, next_cursor=next_cursor, position=position)

    async def trades(self, symbol: str, cursor: str | None, limit: int) -> Page[TradeView]:
        keys = _cursor_keys(cursor, 1)
        where: list[str] = ["symbol = %s"]
        params: list[Any] = [symbol]
        if keys is not None:
            where.append("trade_number < %s")
            params.append(keys[0])
        position, rows, _ = await self._read(
            "SELECT trade_number, position, at_ns, trade_id, symbol, price_ticks, qty_lots, taker_side FROM rm.trades "
            f"WHERE {' AND '.join(where)} ORDER BY trade_number DESC LIMIT %s", (*params, limit + 1))
        await self._known({symbol})
        more = len(rows) > limit
        rows = rows[:limit]
        items = [TradeView(position=p, at_ns=at, trade_id=trade_id, symbol=sym, price_ticks=price,
                           price=self.scales.price(sym, price), qty_lots=qty, qty=self.scales.qty(sym, qty),
                           taker_side=taker_side) for _, p, at, trade_id, sym, price, qty, taker_side in rows]
        return Page[TradeView](items=items, next_cursor=str(rows[-1][0]) if more else None, position=position)

    # ---- money -----------------------------------------------------------------------------------
    async def balances(self, account_id: int) -> BalancesView:
        position, rows, _ = await self._read(
            "SELECT b.asset, b.total, b.held, coalesce(a.scale, 0) FROM rm.balances b "
            "LEFT JOIN rm.assets a ON a.code = b.asset WHERE b.account_id = %s ORDER BY b.asset", (account_id,))
        balances = [BalanceView(asset=asset, total_minor=int(total), held_minor=int(held),
                                available_minor=int(total) - int(held), total=_scaled(int(total), int(scale)),
                                available=_scaled(int(total) - int(held), int(scale)))
                    for asset, total, held, scale in rows]
        return BalancesView(account_id=account_id, balances=balances, position=position)

    async def journal(self, account_id: int, asset: str | None, cursor: str | None,
                      limit: int) -> Page[JournalEntryView]:
        where, params = _account_page("asset", asset, account_id, cursor)
        position, rows, _ = await self._read(
            "SELECT position, seq, at_ns, posting_id, asset, amount, counterparty, kind, command_id FROM rm.postings "
            f"WHERE {' AND '.join(where)} ORDER BY position DESC, seq DESC LIMIT %s", (*params, limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        items = [JournalEntryView(position=p, at_ns=at, posting_id=posting_id, asset=code, amount_minor=amount,
                                  counterparty=counterparty, kind=kind, command_id=command_id)
                 for p, _, at, posting_id, code, amount, counterparty, kind, command_id in rows]
        next_cursor = f"{rows[-1][0]}.{rows[-1][1]}" if more else None
        return Page[JournalEntryView](items=items, next_cursor=next_cursor, position=position)

    async def positions(self, account_id: int) -> PositionsView:
        position, rows, _ = await self._read(
            "SELECT symbol, net_qty_lots, open_cost, realized_pnl, fees_paid, bought_lots, sold_lots FROM rm.positions "
            "WHERE account_id = %s ORDER BY symbol", (account_id,))
        return PositionsView(account_id=account_id, position=position, positions=[
            PositionView(symbol=symbol, net_qty_lots=net, open_cost_minor=int(cost), realized_pnl_minor=int(pnl),
                         fees_paid_minor=int(fees), bought_lots=bought, sold_lots=sold)
            for symbol, net, cost, pnl, fees, bought, sold in rows])

    # ---- reference and market data ----------------------------------------------------------------
    @staticmethod
    def _instrument(row: Sequence[Any]) -> InstrumentView:
        (symbol, base, quote, base_scale, quote_scale, tick, lot, min_qty, max_qty, min_price, max_price, maker, taker,
         _tick_lot_value, status) = row
        return InstrumentView(symbol=symbol, base=base, quote=quote, status=status, tick_size=tick, lot_size=lot,
                              tick=_scaled(tick, quote_scale), lot=_scaled(lot, base_scale), min_qty_lots=min_qty,
                              max_qty_lots=max_qty, min_price_ticks=min_price, max_price_ticks=max_price,
                              maker_fee_ppm=maker, taker_fee_ppm=taker)

    async def instruments(self) -> InstrumentsView:
        position, rows, _ = await self._read(f"SELECT {INSTRUMENT_COLUMNS} FROM rm.instruments ORDER BY symbol")
        return InstrumentsView(instruments=[self._instrument(row) for row in rows], position=position)

    async def instrument(self, symbol: str) -> InstrumentView | None:
        _, rows, _ = await self._read(f"SELECT {INSTRUMENT_COLUMNS} FROM rm.instruments WHERE symbol = %s", (symbol,))
        return self._instrument(rows[0]) if rows else None

    async def candles(self, symbol: str, interval: str, start_ns: int | None, end_ns: int | None,
                      limit: int) -> CandlesView:
        where: list[str] = ["c.symbol = %s"]
        params: list[Any] = [symbol]
        if start_ns is not None:
            where.append("c.bucket_start_ns >= %s")
            params.append(start_ns)
        if end_ns is not None:
            where.append("c.bucket_start_ns < %s")
            params.append(end_ns)
        position, rows, _ = await self._read(
            "SELECT c.bucket_start_ns, c.open_ticks, c.high_ticks, c.low_ticks, c.close_ticks, c.volume_lots, "
            f"c.notional, c.trade_count FROM rm.{INTERVAL_TABLES[interval]} c WHERE {' AND '.join(where)} "
            "ORDER BY c.bucket_start_ns DESC LIMIT %s", (*params, limit))
        candles = [CandleView(bucket_start_ns=start, open_ticks=o, high_ticks=h, low_ticks=low, close_ticks=close,
                              volume_lots=int(volume), notional_minor=int(notional), trade_count=count)
                   for start, o, h, low, close, volume, notional, count in reversed(rows)]
        return CandlesView(symbol=symbol, interval=interval, candles=candles, position=position)
