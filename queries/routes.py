"""The operations of the HTTP API: commands (write side through the gateway) and queries (read models)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from queries import models as m
from queries import params as p
from queries.auth import READ_ALL, require_account, require_role
from queries.errors import ApiError, status_of_ledger_code
from queries.http import Context, Operation
from queries.ports import ApiCommand, CommandKind
from queries.views import (
    BalancesView,
    BookLevelView,
    BookView,
    CandlesView,
    CommandResponse,
    FillView,
    InstrumentsView,
    InstrumentView,
    JournalEntryView,
    OrderDetail,
    OrderView,
    Page,
    PositionsView,
    TopView,
    TradeView,
)

TRADER_ONLY: frozenset[str] = frozenset()  # require_account: no other role acts for a trader's account
BALANCE_READERS = READ_ALL | {"treasury"}


# ---- commands ----------------------------------------------------------------------------------
async def submit(ctx: Context, kind: CommandKind, command_id: str, fields: dict[str, Any]) -> CommandResponse:
    services = ctx.services
    try:
        outcome = await services.gateway.submit(ApiCommand(kind, command_id, fields))
    except ApiError:
        raise
    except Exception as error:
        raise ApiError(503, "write_side_unavailable", f"the venue cannot take commands now: {error}",
                       headers={"Retry-After": "1"}) from None
    services.metrics.commands.labels(kind, outcome.error_code or ("duplicate" if outcome.duplicate else "ok")).inc()
    if outcome.error_code is not None:
        status = status_of_ledger_code(outcome.error_code)
        raise ApiError(status, outcome.error_code, outcome.error_message, _json_safe(outcome.error_details),
                       {"Retry-After": "1"} if status == 503 else None)
    services.nudge()
    return CommandResponse(command_id=outcome.command_id, duplicate=outcome.duplicate,
                           log_position=outcome.log_position, result=_json_safe(outcome.result or {}))


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


async def place_order(ctx: Context) -> BaseModel:
    body: m.PlaceOrderBody = ctx.body
    assert ctx.principal is not None
    require_account(ctx.principal, body.account_id, "place orders", TRADER_ONLY)
    return await submit(ctx, "place_order", body.command_id, body.model_dump())


async def amend_order(ctx: Context) -> BaseModel:
    body: m.AmendOrderBody = ctx.body
    assert ctx.principal is not None
    require_account(ctx.principal, body.account_id, "amend orders", TRADER_ONLY)
    return await submit(ctx, "amend_order", body.command_id,
                        {**body.model_dump(), "symbol": ctx.path.symbol, "order_id": ctx.path.order_id})


async def cancel_order(ctx: Context) -> BaseModel:
    body: m.CancelOrderBody = ctx.body
    assert ctx.principal is not None
    require_account(ctx.principal, body.account_id, "cancel orders", TRADER_ONLY)
    return await submit(ctx, "cancel_order", body.command_id,
                        {**body.model_dump(), "symbol": ctx.path.symbol, "order_id": ctx.path.order_id})


def _role_command(kind: CommandKind, roles: frozenset[str], action: str,
                  path_fields: tuple[str, ...] = ()) -> Any:
    async def handler(ctx: Context) -> BaseModel:
        assert ctx.principal is not None
        require_role(ctx.principal, roles, action)
        body = ctx.body
        fields = body.model_dump()
        if kind == "change_instrument":
            fields = {"command_id": body.command_id, "changes": body.changes()}
        for name in path_fields:
            fields[name] = getattr(ctx.path, name)
        return await submit(ctx, kind, body.command_id, fields)

    return handler


# ---- queries -----------------------------------------------------------------------------------
async def at_position(ctx: Context) -> None:
    """Read-your-writes: wait (bounded) until the read models reflect `min_position`."""
    wanted = getattr(ctx.query, "min_position", None)
    if wanted is None:
        return
    services = ctx.services
    if wanted <= services.read_models.position():
        return
    head = services.log_head()
    if wanted > head:
        head = await services.fresh_log_head()
    if wanted > head:  # positions come from answers to committed commands: this one does not exist yet
        raise ApiError(422, "position_ahead_of_log", f"the log has not reached position {wanted}",
                       {"min_position": wanted, "log_head": head, "position": services.read_models.position()})
    if await services.read_models.wait_until(wanted, services.config.min_position_wait_s):
        return
    reached = services.read_models.position()
    raise ApiError(503, "read_model_behind", f"the read models reached position {reached}, not {wanted}, "
                   f"within {services.config.min_position_wait_s} s; retry", {"min_position": wanted,
                                                                              "position": reached},
                   {"Retry-After": "1"})


def _reader(ctx: Context, account_id: int, action: str, others: frozenset[str] = READ_ALL) -> None:
    assert ctx.principal is not None
    require_account(ctx.principal, account_id, action, others)


async def account_orders(ctx: Context) -> BaseModel:
    _reader(ctx, ctx.path.account_id, "read orders")
    await at_position(ctx)
    q: p.OrdersQuery = ctx.query
    return await ctx.services.read_models.orders(ctx.path.account_id, q.symbol, q.status, q.since_ns, q.until_ns,
                                                 q.cursor, q.limit)


async def all_orders(ctx: Context) -> BaseModel:
    q: p.AllOrdersQuery = ctx.query
    assert ctx.principal is not None
    if q.account_id is None:
        require_role(ctx.principal, READ_ALL, "read every account's orders")
    else:
        _reader(ctx, q.account_id, "read orders")
    await at_position(ctx)
    return await ctx.services.read_models.orders(q.account_id, q.symbol, q.status, q.since_ns, q.until_ns,
                                                 q.cursor, q.limit)


async def one_order(ctx: Context) -> BaseModel:
    await at_position(ctx)
    detail = await ctx.services.read_models.order(ctx.path.symbol, ctx.path.order_id)
    if detail is None:
        raise ApiError(404, "unknown_order", f"no order {ctx.path.order_id} in {ctx.path.symbol}")
    _reader(ctx, detail.order.account_id, "read this order")
    return detail


async def fills(ctx: Context) -> BaseModel:
    _reader(ctx, ctx.path.account_id, "read fills")
    await at_position(ctx)
    q: p.FillsQuery = ctx.query
    return await ctx.services.read_models.fills(ctx.path.account_id, q.symbol, q.cursor, q.limit)


async def balances(ctx: Context) -> BaseModel:
    _reader(ctx, ctx.path.account_id, "read balances", BALANCE_READERS)
    await at_position(ctx)
    return await ctx.services.read_models.balances(ctx.path.account_id)


async def journal(ctx: Context) -> BaseModel:
    _reader(ctx, ctx.path.account_id, "read the journal", BALANCE_READERS)
    await at_position(ctx)
    q: p.JournalQuery = ctx.query
    return await ctx.services.read_models.journal(ctx.path.account_id, q.asset, q.cursor, q.limit)


async def positions(ctx: Context) -> BaseModel:
    _reader(ctx, ctx.path.account_id, "read positions")
    await at_position(ctx)
    return await ctx.services.read_models.positions(ctx.path.account_id)


async def instruments(ctx: Context) -> BaseModel:
    await at_position(ctx)
    return await ctx.services.read_models.instruments()


async def instrument(ctx: Context) -> BaseModel:
    await at_position(ctx)
    found = await ctx.services.read_models.instrument(ctx.path.symbol)
    if found is None:
        raise ApiError(404, "unknown_instrument", f"no instrument {ctx.path.symbol}")
    return found


async def _depth(ctx: Context, levels: int) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    depth = await ctx.services.gateway.book_depth(ctx.path.symbol, levels)
    if depth is not None:
        return depth
    if await ctx.services.read_models.instrument(ctx.path.symbol) is not None:
        return [], []  # listed, but no order has reached its book yet
    raise ApiError(404, "unknown_instrument", f"no market {ctx.path.symbol}")


async def book(ctx: Context) -> BaseModel:
    bids, asks = await _depth(ctx, ctx.query.depth)
    return BookView(symbol=ctx.path.symbol,
                    bids=[BookLevelView(price_ticks=pr, qty_lots=q, orders=n) for pr, q, n in bids],
                    asks=[BookLevelView(price_ticks=pr, qty_lots=q, orders=n) for pr, q, n in asks])


async def top(ctx: Context) -> BaseModel:
    bids, asks = await _depth(ctx, 1)
    return TopView(symbol=ctx.path.symbol, bid_price_ticks=bids[0][0] if bids else None,
                   bid_qty_lots=bids[0][1] if bids else 0, ask_price_ticks=asks[0][0] if asks else None,
                   ask_qty_lots=asks[0][1] if asks else 0)


async def trades(ctx: Context) -> BaseModel:
    await at_position(ctx)
    q: p.TradesQuery = ctx.query
    return await ctx.services.read_models.trades(ctx.path.symbol, q.cursor, q.limit)


async def candles(ctx: Context) -> BaseModel:
    await at_position(ctx)
    q: p.CandlesQuery = ctx.query
    return await ctx.services.read_models.candles(ctx.path.symbol, q.interval, q.start_ns, q.end_ns, q.limit)


# ---- the table of operations -------------------------------------------------------------------
_ORDER_ERRORS = (404, 409)
_ADMIN = frozenset({"admin"})
_TREASURY = frozenset({"treasury"})


def operations() -> list[Operation]:
    o = Operation
    trader = "trader (own accounts)"
    readers = "trader (own accounts), risk, auditor, regulator, admin"
    return [
        o("POST", "/v1/orders", "placeOrder", "Place an order", "orders", place_order, CommandResponse,
          body_model=m.PlaceOrderBody, error_statuses=_ORDER_ERRORS, roles=trader),
        o("POST", "/v1/orders/{symbol}/{order_id}/amend", "amendOrder", "Amend an open order's price or qty",
          "orders", amend_order, CommandResponse, path_model=p.OrderPath, body_model=m.AmendOrderBody,
          error_statuses=_ORDER_ERRORS, roles=trader),
        o("POST", "/v1/orders/{symbol}/{order_id}/cancel", "cancelOrder", "Cancel an open order", "orders",
          cancel_order, CommandResponse, path_model=p.OrderPath, body_model=m.CancelOrderBody,
          error_statuses=_ORDER_ERRORS, roles=trader),
        o("POST", "/v1/deposits", "deposit", "Credit an account from outside (minor units)", "treasury",
          _role_command("deposit", _TREASURY, "deposit"), CommandResponse, body_model=m.TransferBody,
          error_statuses=(409,), roles="treasury"),
        o("POST", "/v1/withdrawals", "withdraw", "Pay an account's available funds out (minor units)", "treasury",
          _role_command("withdraw", _TREASURY, "withdraw"), CommandResponse, body_model=m.TransferBody,
          error_statuses=(409,), roles="treasury"),
        o("POST", "/v1/admin/assets", "registerAsset", "Register an asset", "admin",
          _role_command("register_asset", _ADMIN, "register assets"), CommandResponse,
          body_model=m.RegisterAssetBody, error_statuses=(409,), roles="admin"),
        o("POST", "/v1/admin/instruments", "listInstrument", "List an instrument", "admin",
          _role_command("list_instrument", _ADMIN, "list instruments"), CommandResponse,
          body_model=m.ListInstrumentBody, error_statuses=(409,), roles="admin"),
        o("POST", "/v1/admin/instruments/{symbol}/change", "changeInstrument", "Change an instrument's limits",
          "admin", _role_command("change_instrument", _ADMIN, "change instruments", ("symbol",)),
          CommandResponse, path_model=p.SymbolPath, body_model=m.ChangeInstrumentBody, error_statuses=(409,),
          roles="admin"),
        o("POST", "/v1/admin/instruments/{symbol}/halt", "haltInstrument", "Halt trading", "admin",
          _role_command("halt_instrument", _ADMIN, "halt instruments", ("symbol",)), CommandResponse,
          path_model=p.SymbolPath, body_model=m.ReasonBody, error_statuses=(409,), roles="admin"),
        o("POST", "/v1/admin/instruments/{symbol}/resume", "resumeInstrument", "Resume trading", "admin",
          _role_command("resume_instrument", _ADMIN, "resume instruments", ("symbol",)), CommandResponse,
          path_model=p.SymbolPath, body_model=m.CommandIdBody, error_statuses=(409,), roles="admin"),
        o("POST", "/v1/admin/instruments/{symbol}/delist", "delistInstrument", "Delist an instrument", "admin",
          _role_command("delist_instrument", _ADMIN, "delist instruments", ("symbol",)), CommandResponse,
          path_model=p.SymbolPath, body_model=m.ReasonBody, error_statuses=(409,), roles="admin"),
        o("POST", "/v1/admin/accounts", "openAccount", "Open an account", "admin",
          _role_command("open_account", _ADMIN, "open accounts"), CommandResponse,
          body_model=m.OpenAccountBody, error_statuses=(409,), roles="admin"),
        o("POST", "/v1/admin/accounts/{account_id}/verify-kyc", "verifyKyc", "Mark an account's KYC verified",
          "admin", _role_command("verify_kyc", _ADMIN, "verify KYC", ("account_id",)), CommandResponse,
          path_model=p.AccountPath, body_model=m.VerifyKycBody, error_statuses=(409,), roles="admin"),
        o("POST", "/v1/admin/accounts/{account_id}/freeze", "freezeAccount", "Freeze an account", "admin",
          _role_command("freeze_account", _ADMIN, "freeze accounts", ("account_id",)), CommandResponse,
          path_model=p.AccountPath, body_model=m.ReasonBody, error_statuses=(409,), roles="admin"),
        o("POST", "/v1/admin/accounts/{account_id}/unfreeze", "unfreezeAccount", "Unfreeze an account", "admin",
          _role_command("unfreeze_account", _ADMIN, "unfreeze accounts", ("account_id",)), CommandResponse,
          path_model=p.AccountPath, body_model=m.CommandIdBody, error_statuses=(409,), roles="admin"),
        o("GET", "/v1/orders", "listOrders", "Orders of every account (or one), newest first", "queries",
          all_orders, Page[OrderView], query_model=p.AllOrdersQuery, error_statuses=(400,),
          roles="risk, auditor, regulator, admin; a trader with its own account_id"),
        o("GET", "/v1/orders/{symbol}/{order_id}", "getOrder", "One order with its full event history",
          "queries", one_order, OrderDetail, path_model=p.OrderPath, query_model=p.ReadQuery,
          error_statuses=(404,), roles=readers),
        o("GET", "/v1/accounts/{account_id}/orders", "accountOrders", "An account's orders, newest first",
          "queries", account_orders, Page[OrderView], path_model=p.AccountPath, query_model=p.OrdersQuery,
          error_statuses=(400,), roles=readers),
        o("GET", "/v1/accounts/{account_id}/fills", "accountFills", "An account's fills, newest first",
          "queries", fills, Page[FillView], path_model=p.AccountPath, query_model=p.FillsQuery,
          error_statuses=(400,), roles=readers),
        o("GET", "/v1/accounts/{account_id}/balances", "accountBalances", "An account's balances per asset",
          "queries", balances, BalancesView, path_model=p.AccountPath, query_model=p.ReadQuery,
          roles=readers + ", treasury"),
        o("GET", "/v1/accounts/{account_id}/journal", "accountJournal", "An account's postings, newest first",
          "queries", journal, Page[JournalEntryView], path_model=p.AccountPath, query_model=p.JournalQuery,
          error_statuses=(400,), roles=readers + ", treasury"),
        o("GET", "/v1/accounts/{account_id}/positions", "accountPositions", "An account's positions",
          "queries", positions, PositionsView, path_model=p.AccountPath, query_model=p.ReadQuery, roles=readers),
        o("GET", "/v1/instruments", "listInstruments", "Every instrument", "market data", instruments,
          InstrumentsView, query_model=p.ReadQuery),
        o("GET", "/v1/instruments/{symbol}", "getInstrument", "One instrument", "market data", instrument,
          InstrumentView, path_model=p.SymbolPath, query_model=p.ReadQuery, error_statuses=(404,)),
        o("GET", "/v1/markets/{symbol}/book", "getBook", "Order-book depth from the venue's engine",
          "market data", book, BookView, path_model=p.SymbolPath, query_model=p.BookQuery,
          error_statuses=(404,)),
        o("GET", "/v1/markets/{symbol}/top", "getTop", "Best bid and ask from the venue's engine", "market data",
          top, TopView, path_model=p.SymbolPath, error_statuses=(404,)),
        o("GET", "/v1/markets/{symbol}/trades", "recentTrades", "Recent trades, newest first", "market data",
          trades, Page[TradeView], path_model=p.SymbolPath, query_model=p.TradesQuery, error_statuses=(400,)),
        o("GET", "/v1/markets/{symbol}/candles", "getCandles", "OHLCV candles (integer ticks and lots)",
          "market data", candles, CandlesView, path_model=p.SymbolPath, query_model=p.CandlesQuery),
    ]
