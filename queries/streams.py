"""WebSocket streams: `/v1/streams/markets/{symbol}` (trades, book level changes) and
`/v1/streams/accounts/{account_id}` (the account's orders, fills, balances, positions).

Every frame is `{"position": P, "events": [...]}`. Connect with `?after=P` (the position of the last
frame received) to resume without gaps or repeats; without it, the first frame is a snapshot (the book,
or the account's balances, open orders and positions) at the position the live frames continue from.
Credentials: the `Authorization`/`X-API-Key` headers, or `?access_token=` for clients that cannot set
headers. Without `after`, `?min_position=P` makes the snapshot wait (bounded) until the stream has
reached position P, e.g. the log position of the client's last command. A refusal is sent as an error
frame (the HTTP error shape) and the socket closes with 4000 + the HTTP status (4401, 4403, 4422,
4410 resume too old, 4429 fell behind: reconnect with after=P).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from domain.ids import wallet_id
from queries import params as p
from queries.auth import READ_ALL, Principal, require_account
from queries.errors import ApiError, error_body
from queries.http import parse_params
from queries.live_state import account_channel, market_channel, position_view
from queries.stream_hub import ResumeTooOld, SlowConsumer, Subscription

if TYPE_CHECKING:
    from queries.app import ApiServices

Endpoint = Callable[[WebSocket], Awaitable[None]]


async def _refuse(websocket: WebSocket, error: ApiError) -> None:
    await websocket.send_text(orjson.dumps(error_body(error.code, error.message, error.details)).decode())
    await websocket.close(code=4000 + error.status)


def _principal(services: ApiServices, websocket: WebSocket, query: p.StreamQuery) -> Principal:
    authorization = websocket.headers.get("authorization")
    if authorization is None and query.access_token:
        authorization = f"Bearer {query.access_token}"
    client = websocket.client.host if websocket.client else "unknown"
    return services.authenticate_headers(authorization, websocket.headers.get("x-api-key"), client)


async def _pump(websocket: WebSocket, subscription: Subscription) -> None:
    """Send frames until the client leaves (noticed by a concurrent receive) or falls behind."""

    async def until_disconnect() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return

    watcher = asyncio.ensure_future(until_disconnect())
    try:
        while True:
            next_frame = asyncio.ensure_future(subscription.next())
            done, _ = await asyncio.wait({next_frame, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if watcher in done:
                next_frame.cancel()
                return
            try:
                data = next_frame.result().data
            except SlowConsumer as error:
                await _refuse(websocket, ApiError(429, "slow_consumer", f"{error}; reconnect with after=<position>"))
                return
            await websocket.send_text(data.decode())
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        watcher.cancel()
        subscription.close()


async def _serve(services: ApiServices, websocket: WebSocket, channel_of: Callable[[Any, Principal], str],
                 path_model: type[Any], snapshot: Callable[[Any], list[dict[str, Any]]]) -> None:
    await websocket.accept()
    try:
        query = parse_params(p.StreamQuery, dict(websocket.query_params), "query")
        path = parse_params(path_model, dict(websocket.path_params), "path")
        principal = _principal(services, websocket, query)  # type: ignore[arg-type]
        channel = channel_of(path, principal)
    except ApiError as error:
        await _refuse(websocket, error)
        return
    after: int | None = getattr(query, "after", None)
    wanted: int | None = getattr(query, "min_position", None)
    if after is None and wanted is not None:  # bounded: the snapshot says which position it reflects
        await services.follower.wait_until(wanted, services.config.min_position_wait_s)
    try:
        if after is None:
            position = services.state.position
            await websocket.send_text(orjson.dumps({"position": position, "events": snapshot(path)}).decode())
            after = position
        subscription = services.hub.subscribe(channel, after)
    except ResumeTooOld as error:
        await _refuse(websocket, ApiError(410, "resume_too_old", str(error), {"oldest_position": error.oldest}))
        return
    except (WebSocketDisconnect, RuntimeError):
        return
    await _pump(websocket, subscription)


def market_stream(services: ApiServices) -> Endpoint:
    def channel(path: p.SymbolPath, principal: Principal) -> str:
        if path.symbol not in services.state.instruments:
            raise ApiError(404, "unknown_instrument", f"no market {path.symbol}")
        return market_channel(path.symbol)

    def snapshot(path: p.SymbolPath) -> list[dict[str, Any]]:
        bids, asks = services.state.book_levels(path.symbol)
        return [{"type": "book_snapshot", "symbol": path.symbol, "bids": bids, "asks": asks}]

    async def handler(websocket: WebSocket) -> None:
        await _serve(services, websocket, channel, p.SymbolPath, snapshot)

    return handler


def account_stream(services: ApiServices) -> Endpoint:
    def channel(path: p.AccountPath, principal: Principal) -> str:
        require_account(principal, path.account_id, "stream this account", READ_ALL)
        return account_channel(path.account_id)

    def snapshot(path: p.AccountPath) -> list[dict[str, Any]]:
        state = services.state
        wallet = state.wallets.get(wallet_id(path.account_id))
        balances = [] if wallet is None else [state.balance_view(asset, balance).model_dump()
                                              for asset, balance in wallet.balances().items()]
        keyed = state.orders_by_account.get(path.account_id)
        open_orders = [state.order_view(state.orders[key]).model_dump() for key in (keyed.rows if keyed else [])
                       if state.orders[key].order.is_live]
        held = state.positions_by_account.get(path.account_id, {})
        return [{"type": "account_snapshot", "account_id": path.account_id, "balances": balances,
                 "open_orders": open_orders,
                 "positions": [position_view(position).model_dump() for _, position in sorted(held.items())]}]

    async def handler(websocket: WebSocket) -> None:
        await _serve(services, websocket, channel, p.AccountPath, snapshot)

    return handler
