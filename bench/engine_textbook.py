"""A textbook price-time-priority order book in pure Python (benchmark peer and workload reference).

One book, the subset of ENGINE.md that the benchmark workload uses:

- ``new`` limit orders with tif ``gtc`` (match, rest the remainder) or ``ioc`` (match, drop the
  remainder);
- ``amend``: a price change or a quantity increase takes the order out and re-enters it as an incoming
  order (it may trade; its remainder rests at the back of its new price); same price with a smaller or
  equal quantity keeps its place;
- ``cancel`` of a resting order.

Each side is a ``sortedcontainers.SortedDict`` mapping a price key to a ``deque`` of resting orders in
arrival order (bids are keyed by ``-price`` so that the first key is always the best price on both
sides). A trade executes at the maker's price; every trade is appended to :attr:`TextbookBook.trades` as
``(taker_order_id, maker_order_id, price, qty)``. Unknown ids, duplicate ids and invalid input are
ignored silently (the benchmark workload never sends them). No self-trade prevention: orders of the same
account trade with each other, as with ENGINE.md's default ``stp=none``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["TextbookBook", "TextbookOrder"]


class TextbookOrder:
    """A resting (or incoming) order; ``qty`` is the remaining quantity."""

    __slots__ = ("account_id", "is_buy", "order_id", "price", "qty")

    def __init__(self, order_id: int, account_id: int, is_buy: bool, price: int, qty: int) -> None:
        self.order_id = order_id
        self.account_id = account_id
        self.is_buy = is_buy
        self.price = price
        self.qty = qty


class TextbookBook:
    """A single-symbol limit order book with strict price-time priority."""

    def __init__(self) -> None:
        # imported here so that importing bench modules (e.g. for `tradex --help`) needs no bench extra
        from sortedcontainers import SortedDict

        # key: -price for bids, price for asks; value: deque of TextbookOrder in priority order.
        self.bids: Any = SortedDict()
        self.asks: Any = SortedDict()
        self.orders: dict[int, TextbookOrder] = {}  # resting orders by id
        self.trades: list[tuple[int, int, int, int]] = []

    # -- commands -----------------------------------------------------------------------------------
    def new_limit(self, order_id: int, account_id: int, is_buy: bool, price: int, qty: int, ioc: bool) -> None:
        """A new limit order: match, then rest the remainder (gtc) or drop it (ioc)."""
        if qty <= 0 or price <= 0 or order_id in self.orders:
            return
        order = TextbookOrder(order_id, account_id, is_buy, price, qty)
        self._match(order)
        if order.qty > 0 and not ioc:
            self._rest(order)

    def cancel(self, order_id: int) -> bool:
        """Cancel a resting order; False if it is not resting."""
        order = self.orders.get(order_id)
        if order is None:
            return False
        self._unlink(order)
        return True

    def amend(self, order_id: int, price: int | None = None, qty: int | None = None) -> bool:
        """ENGINE.md amend: keep priority on a same-price reduction, else take out and re-enter."""
        order = self.orders.get(order_id)
        if order is None or (price is None and qty is None):
            return False
        new_price = order.price if price is None else price
        new_qty = order.qty if qty is None else qty
        if new_price <= 0 or new_qty <= 0:
            return False
        if new_price == order.price and new_qty <= order.qty:
            order.qty = new_qty
            return True
        self._unlink(order)
        order.price = new_price
        order.qty = new_qty
        self._match(order)
        if order.qty > 0:
            self._rest(order)
        return True

    # -- queries ------------------------------------------------------------------------------------
    def best_bid(self) -> int:
        """Best bid price, 0 when there are no bids."""
        bids = self.bids
        return -int(bids.peekitem(0)[0]) if bids else 0

    def best_ask(self) -> int:
        """Best ask price, 0 when there are no asks."""
        asks = self.asks
        return int(asks.peekitem(0)[0]) if asks else 0

    def levels(self) -> dict[str, list[list[object]]]:
        """The book in ENGINE.md's books form (no icebergs here, so hidden qty is always 0)."""
        bids: list[list[object]] = [[-key, [[o.order_id, o.qty, 0] for o in queue]] for key, queue in self.bids.items()]
        asks: list[list[object]] = [[key, [[o.order_id, o.qty, 0] for o in queue]] for key, queue in self.asks.items()]
        return {"bids": bids, "asks": asks}

    # -- internals ----------------------------------------------------------------------------------
    def _match(self, order: TextbookOrder) -> None:
        trades = self.trades
        orders = self.orders
        if order.is_buy:
            book = self.asks
            limit_key = order.price
        else:
            book = self.bids
            limit_key = -order.price
        remaining = order.qty
        taker_id = order.order_id
        while remaining > 0 and book:
            key, queue = book.peekitem(0)
            if key > limit_key:
                break
            while remaining > 0 and queue:
                maker = queue[0]
                traded = maker.qty if maker.qty < remaining else remaining
                trades.append((taker_id, maker.order_id, maker.price, traded))
                remaining -= traded
                maker.qty -= traded
                if maker.qty == 0:
                    queue.popleft()
                    del orders[maker.order_id]
            if not queue:
                del book[key]
        order.qty = remaining

    def _rest(self, order: TextbookOrder) -> None:
        if order.is_buy:
            book = self.bids
            key = -order.price
        else:
            book = self.asks
            key = order.price
        queue = book.get(key)
        if queue is None:
            queue = deque()
            book[key] = queue
        queue.append(order)
        self.orders[order.order_id] = order

    def _unlink(self, order: TextbookOrder) -> None:
        if order.is_buy:
            book = self.bids
            key = -order.price
        else:
            book = self.asks
            key = order.price
        queue = book[key]
        queue.remove(order)
        if not queue:
            del book[key]
        del self.orders[order.order_id]
