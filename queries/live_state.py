"""An in-memory fold of the event log: what the API's streams (and, until the PostgreSQL read models are
wired in, its queries) are answered from.

`LiveState.apply(position, event)` folds one domain event (aggregates are rebuilt with their own event
`mutate`, so the state is exactly the domain's) and returns the stream messages it causes, per channel:
`market:<symbol>` (trades, book level changes) and `account:<id>` (orders, fills, balances, positions).
Book level changes are coalesced: `flush_book(position)` returns one message per market with every
level that changed since the last flush, so a batch that crosses and rests shows only its final book.

Positions are notification ids of the log; the state reflects the log up to `self.position`.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
from collections import defaultdict
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.account import Account
from domain.asset import AssetDefinition
from domain.instrument import Instrument
from domain.order import Order
from domain.position import Position
from domain.values import InstrumentSpec
from domain.wallet import Wallet
from queries.views import (
    BalanceView,
    InstrumentView,
    OrderEventView,
    OrderView,
    PositionView,
)

log = logging.getLogger("tradex.api.live")

Message = dict[str, Any]
Messages = dict[str, list[Message]]  # channel -> messages
_STANDARD_FIELDS = frozenset({"originator_id", "originator_version", "timestamp", "at_ns", "command_id"})
_RESTING_TIFS = frozenset({"gtc", "gtd"})
_MAX_TEXTS = 100_000  # decimal texts remembered by a LiveState


def market_channel(symbol: str) -> str:
    return f"market:{symbol}"


def account_channel(account_id: int) -> str:
    return f"account:{account_id}"


@dataclasses.dataclass
class OrderRecord:
    order: Order
    created_position: int
    created_ns: int
    updated_ns: int
    position: int
    reason: str = ""
    history: list[tuple[int, Any]] = dataclasses.field(default_factory=list)  # (position, event): views on demand
    resting: tuple[str, int, int] | None = None  # (side, price_ticks, visible qty_lots) while in the book
    view: OrderView | None = None  # the view as of `position` (rebuilt after the order's next event)


class Keyed:
    """Rows with increasing integer keys, listed newest first with a key cursor."""

    def __init__(self) -> None:
        self.keys: list[int] = []
        self.rows: list[Any] = []

    def append(self, key: int, row: Any) -> None:
        self.keys.append(key)
        self.rows.append(row)

    def before(self, cursor: int | None) -> int:
        """Index one past the newest row whose key is below `cursor` (all rows without a cursor)."""
        return len(self.keys) if cursor is None else bisect.bisect_left(self.keys, cursor)


class LiveState:
    def __init__(self) -> None:
        self.position = 0
        self.sequence = 0  # numbers fills, trades and journal entries (cursor keys)
        self.assets: dict[str, int] = {}
        self.instruments: dict[str, Instrument] = {}
        self.instrument_ids: dict[UUID, str] = {}
        self.specs: dict[str, InstrumentSpec] = {}
        self.orders: dict[UUID, OrderRecord] = {}
        self.order_keys: dict[tuple[str, int], UUID] = {}
        self.orders_all = Keyed()  # key: created position, row: order uuid
        self.orders_by_account: dict[int, Keyed] = defaultdict(Keyed)
        self.wallets: dict[UUID, Wallet] = {}
        self.positions: dict[UUID, Position] = {}
        self.positions_by_account: dict[int, dict[str, Position]] = defaultdict(dict)
        self.fills_by_account: dict[int, Keyed] = defaultdict(Keyed)
        self.trades_by_symbol: dict[str, Keyed] = defaultdict(Keyed)
        self.journal_by_account: dict[int, Keyed] = defaultdict(Keyed)
        self.accounts: set[int] = set()
        # book: symbol -> side -> price -> [visible qty_lots, orders]
        self.book: dict[str, dict[str, dict[int, list[int]]]] = defaultdict(lambda: {"buy": {}, "sell": {}})
        self._dirty_levels: dict[str, set[tuple[str, int]]] = defaultdict(set)
        # (symbol, price_ticks, qty_lots) -> their decimal texts: prices and sizes repeat, Decimal work does not
        # need to. Emptied when an instrument changes (its scale may have) and when it grows past its bound.
        self._texts: dict[tuple[str, int, int], tuple[str, str]] = {}

    # ---- folding -------------------------------------------------------------------------------
    def apply(self, position: int, event: Any) -> Messages:
        """Fold one event; returns the messages it causes, by channel."""
        out: Messages = defaultdict(list)
        try:
            if isinstance(event, Order.Event):
                self._order(position, event, out)
            elif isinstance(event, Wallet.Event):
                self._wallet(position, event, out)
            elif isinstance(event, Position.Event):
                self._position(event, out)
            elif isinstance(event, Instrument.Event):
                self._instrument(event)
            elif isinstance(event, AssetDefinition.Created):
                self.assets[event.code] = event.scale
            elif isinstance(event, Account.Created):
                self.accounts.add(int(event.account_id))
        except Exception:  # one odd event must not stop the streams: logged, skipped
            log.exception("live state could not fold event at position %s (%s)", position, type(event).__name__)
        self.position = max(self.position, position)
        return out

    def flush_book(self) -> Messages:
        """The book levels changed since the last flush: one message per market."""
        out: Messages = {}
        for symbol, levels in self._dirty_levels.items():
            sides = self.book[symbol]
            message: Message = {"type": "book", "symbol": symbol, "bids": [], "asks": []}
            for side, price in sorted(levels):
                qty, count = sides[side].get(price, (0, 0))
                message["bids" if side == "buy" else "asks"].append([price, qty, count])
            out[market_channel(symbol)] = [message]
        self._dirty_levels.clear()
        return out

    def _order(self, position: int, event: Any, out: Messages) -> None:
        if isinstance(event, Order.Created):
            order = _create(event)
            record = OrderRecord(order, position, event.at_ns, event.at_ns, position, event.reason)
            self.orders[event.originator_id] = record
            self.order_keys[(order.terms["symbol"], int(order.terms["order_id"]))] = event.originator_id
            self.orders_all.append(position, event.originator_id)
            self.orders_by_account[int(order.terms["account_id"])].append(position, event.originator_id)
        else:
            existing = self.orders.get(event.originator_id)
            if existing is None:
                return
            record = existing
            event.mutate(record.order)
            record.updated_ns, record.position, record.view = event.at_ns, position, None
            reason = getattr(event, "reason", "")
            if reason and isinstance(event, Order.Rejected | Order.Cancelled):
                record.reason = reason
        record.history.append((position, event))
        if isinstance(event, Order.FillsRecorded):
            self._fills(position, record, event, out)
        self._rest(record)
        account = int(record.order.terms["account_id"])
        out[account_channel(account)].append({"type": "order", **self.order_fields(record)})

    def _fills(self, position: int, record: OrderRecord, event: Any, out: Messages) -> None:
        """Each fill as a row of the account's fills (the fields of a FillView) and a message; each taker fill
        also as a trade of the market (the fields of a TradeView). Views are built when a page is read."""
        terms = record.order.terms
        symbol, side = terms["symbol"], terms["side"]
        account, order_id = int(terms["account_id"]), int(terms["order_id"])
        spec = self._spec(symbol)
        account_messages = out[account_channel(account)]
        trades: list[Message] = []
        for fill in event.fills:
            self.sequence += 1
            price, qty = self._decimal_text(symbol, spec, fill.price_ticks, fill.qty_lots)
            row = {"position": position, "at_ns": event.at_ns, "trade_id": fill.trade_id, "symbol": symbol,
                   "order_id": order_id, "account_id": account, "side": side, "liquidity": fill.liquidity,
                   "price_ticks": fill.price_ticks, "price": price, "qty_lots": fill.qty_lots, "qty": qty,
                   "fee_minor": fill.fee}
            self.fills_by_account[account].append(self.sequence, row)
            account_messages.append({"type": "fill", **row})
            if fill.liquidity == "taker":  # each trade has one taker fill: the trade is recorded once
                trade = {"position": position, "at_ns": event.at_ns, "trade_id": fill.trade_id, "symbol": symbol,
                         "price_ticks": fill.price_ticks, "price": price, "qty_lots": fill.qty_lots, "qty": qty,
                         "taker_side": side}
                self.trades_by_symbol[symbol].append(self.sequence, trade)
                trades.append({"type": "trade", **trade})
        out[market_channel(symbol)].extend(trades)

    def _rest(self, record: OrderRecord) -> None:
        """Move the order's contribution to its book level (visible qty only; stops wait outside the book)."""
        order, terms = record.order, record.order.terms
        resting: tuple[str, int, int] | None = None
        order_type = terms["order_type"]
        in_book = order.is_live and terms["tif"] in _RESTING_TIFS and (
            order_type == "limit" or (order_type == "stop_limit" and getattr(order, "triggered", False)))
        if in_book and order.leaves_qty_lots > 0:
            display = int(terms.get("display_qty_lots") or 0)
            visible = min(display, order.leaves_qty_lots) if display else order.leaves_qty_lots
            resting = (terms["side"], int(order.price_ticks), visible)
        if resting == record.resting:
            return
        symbol = terms["symbol"]
        sides = self.book[symbol]
        if record.resting is not None:
            side, price, qty = record.resting
            level = sides[side][price]
            level[0] -= qty
            level[1] -= 1
            if level[1] <= 0:
                del sides[side][price]
            self._dirty_levels[symbol].add((side, price))
        if resting is not None:
            side, price, qty = resting
            level = sides[side].setdefault(price, [0, 0])
            level[0] += qty
            level[1] += 1
            self._dirty_levels[symbol].add((side, price))
        record.resting = resting

    def _wallet(self, position: int, event: Any, out: Messages) -> None:
        if isinstance(event, Wallet.Created):
            self.wallets[event.originator_id] = _create(event)
            return
        wallet = self.wallets.get(event.originator_id)
        if wallet is None:
            return
        touched = _assets_of(event)
        before = {asset: wallet.balance(asset) for asset in touched}
        event.mutate(wallet)
        account = int(wallet.account_id)
        if isinstance(event, Wallet.EntriesPosted):
            for entry in event.entries:
                self.sequence += 1
                self.journal_by_account[account].append(self.sequence, {
                    "position": position, "at_ns": event.at_ns, "posting_id": entry.posting_id, "asset": entry.asset,
                    "amount_minor": entry.amount, "counterparty": entry.counterparty, "kind": entry.kind,
                    "command_id": event.command_id})
        for asset in sorted(touched):
            balance = wallet.balance(asset)
            if before[asset] != balance:
                out[account_channel(account)].append({"type": "balance", "account_id": account,
                                                      **self.balance_fields(asset, balance)})

    def _position(self, event: Any, out: Messages) -> None:
        if isinstance(event, Position.Created):
            position = _create(event)
            self.positions[event.originator_id] = position
            self.positions_by_account[int(position.account_id)][position.symbol] = position
            return
        found = self.positions.get(event.originator_id)
        if found is None:
            return
        event.mutate(found)
        out[account_channel(int(found.account_id))].append(
            {"type": "position", "account_id": int(found.account_id), **position_fields(found)})

    def _instrument(self, event: Any) -> None:
        self._texts.clear()
        if isinstance(event, Instrument.Created):
            instrument = _create(event)
            self.instruments[instrument.symbol] = instrument
            self.instrument_ids[event.originator_id] = instrument.symbol
            self.specs[instrument.symbol] = instrument.spec
            return
        symbol = self.instrument_ids.get(event.originator_id)
        if symbol is not None:
            event.mutate(self.instruments[symbol])
            self.specs[symbol] = self.instruments[symbol].spec

    # ---- views ---------------------------------------------------------------------------------
    def _decimal_text(self, symbol: str, spec: InstrumentSpec | None, price_ticks: int,
                      qty_lots: int) -> tuple[str, str]:
        key = (symbol, price_ticks, qty_lots)
        texts = self._texts.get(key)
        if texts is None:
            if len(self._texts) >= _MAX_TEXTS:
                self._texts.clear()
            texts = self._texts[key] = _decimal_text(spec, price_ticks, qty_lots)
        return texts

    def _spec(self, symbol: str) -> InstrumentSpec | None:
        return self.specs.get(symbol)

    def order_fields(self, record: OrderRecord) -> dict[str, Any]:
        order, terms = record.order, record.order.terms
        spec = self._spec(terms["symbol"])
        price, qty = self._decimal_text(terms["symbol"], spec, int(order.price_ticks), int(terms["qty_lots"]))
        return {"symbol": terms["symbol"], "order_id": int(terms["order_id"]), "account_id": int(terms["account_id"]),
                "side": terms["side"], "type": terms["order_type"], "tif": terms["tif"], "status": order.status,
                "price_ticks": int(order.price_ticks), "price": price, "qty_lots": int(terms["qty_lots"]), "qty": qty,
                "filled_qty_lots": int(order.filled_qty_lots), "leaves_qty_lots": int(order.leaves_qty_lots),
                "fees_paid_minor": int(order.fees_paid), "reason": record.reason, "created_ns": record.created_ns,
                "updated_ns": record.updated_ns, "position": record.position}

    def order_view(self, record: OrderRecord) -> OrderView:
        if record.view is None:
            record.view = OrderView.model_construct(**self.order_fields(record))
        return record.view

    @staticmethod
    def order_history(record: OrderRecord) -> list[OrderEventView]:
        return [OrderEventView(position=position, at_ns=event.at_ns, type=type(event).__name__,
                               command_id=event.command_id, data=_event_data(event))
                for position, event in record.history]

    def balance_fields(self, asset: str, balance: Any) -> dict[str, Any]:
        """The fields of a BalanceView."""
        scale = self.assets.get(asset, 0)
        return {"asset": asset, "total_minor": balance.total, "held_minor": balance.held,
                "available_minor": balance.available, "total": _scaled(balance.total, scale),
                "available": _scaled(balance.available, scale)}

    def balance_view(self, asset: str, balance: Any) -> BalanceView:
        return BalanceView.model_construct(**self.balance_fields(asset, balance))

    def instrument_view(self, instrument: Instrument) -> InstrumentView:
        spec = instrument.spec
        return InstrumentView(symbol=spec.symbol, base=spec.base, quote=spec.quote, status=str(instrument.status),
                              tick_size=spec.tick_size, lot_size=spec.lot_size, tick=f"{spec.ticks_to_price(1):f}",
                              lot=f"{spec.lots_to_qty(1):f}", min_qty_lots=spec.min_qty_lots,
                              max_qty_lots=spec.max_qty_lots, min_price_ticks=spec.min_price_ticks,
                              max_price_ticks=spec.max_price_ticks, maker_fee_ppm=spec.maker_fee_ppm,
                              taker_fee_ppm=spec.taker_fee_ppm)

    def book_levels(self, symbol: str) -> tuple[list[list[int]], list[list[int]]]:
        sides = self.book.get(symbol, {"buy": {}, "sell": {}})
        bids = [[price, qty, count] for price, (qty, count) in sorted(sides["buy"].items(), reverse=True)]
        asks = [[price, qty, count] for price, (qty, count) in sorted(sides["sell"].items())]
        return bids, asks


def position_fields(position: Position) -> dict[str, Any]:
    """The fields of a PositionView."""
    return {"symbol": position.symbol, "net_qty_lots": position.net_qty_lots, "open_cost_minor": position.open_cost,
            "realized_pnl_minor": position.realized_pnl, "fees_paid_minor": position.fees_paid,
            "bought_lots": position.bought_lots, "sold_lots": position.sold_lots}


def position_view(position: Position) -> PositionView:
    return PositionView.model_construct(**position_fields(position))


def _decimal_text(spec: InstrumentSpec | None, price_ticks: int, qty_lots: int) -> tuple[str, str]:
    if spec is None:
        return str(price_ticks), str(qty_lots)
    return f"{spec.ticks_to_price(price_ticks):f}", f"{spec.lots_to_qty(qty_lots):f}"


def _scaled(amount: int, scale: int) -> str:
    return f"{Decimal(amount).scaleb(-scale):f}"


def _event_data(event: Any) -> dict[str, Any]:
    data = dataclasses.asdict(event)
    return {key: _plain(value) for key, value in data.items()
            if key not in _STANDARD_FIELDS and key != "originator_topic"}


def _plain(value: Any) -> Any:
    """JSON-ready: lists for tuples, text for anything that is not a JSON scalar."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def _assets_of(event: Any) -> set[str]:
    """The assets a wallet event changes."""
    if isinstance(event, Wallet.EntriesPosted):
        return {entry.asset for entry in event.entries}
    if isinstance(event, Wallet.HoldsChanged):
        return {change.asset for change in event.changes}
    asset = getattr(event, "asset", None)
    return {asset} if isinstance(asset, str) else set()


def _create(created: Any) -> Any:
    """The aggregate a creation event builds (its own `mutate`, as on replay)."""
    return created.mutate(None)
