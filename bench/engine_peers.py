"""Peer order books for the matching-engine benchmark, all fed the same workload.

- ``textbook``: :class:`bench.engine_textbook.TextbookBook`, pure Python (sortedcontainers + deque).
- ``liquibook``: the C++ Liquibook matching engine through its SWIG binding (PyPI ``liquibook``).
- ``nautilus``: ``nautilus_trader.model.book.OrderBook`` (L3, Cython over Rust). It keeps books but does
  not match resting orders against each other, so it is fed the book changes (add / update / delete of
  one order) that the TradeX engine's events imply, and what is timed is applying those changes.

Each runner applies the prefill untimed, then times the stream commands of the prefix it is given, and
returns a :class:`PeerResult` with the trades it saw as ``(taker_order_id, maker_order_id, price, qty)``.

Liquibook notes (read from the package's headers, site-packages/include/liquibook/book/*.h):

- The binding's books keep raw ``SimpleOrder*`` pointers and look an order up again by
  ``order->price()``. The book itself never changes a ``SimpleOrder``: only the order-listener callbacks
  do. ``SimpleOrder.replace(delta, price)`` only takes effect once the order is in the accepted state, so
  the listener must call ``order.accept()`` in ``on_accept`` and ``order.replace(delta, price)`` in
  ``on_replace``. Without that the first replace is applied inside the book but the order object keeps
  its old price, and every later replace or cancel of that order is rejected "not found".
- The order's own IOC condition is ignored (``OrderTracker``'s constructor ORs it into its argument, not
  its member), so IOC must be passed to ``add(order, oc_immediate_or_cancel)``.
- ``replace`` with a new price takes the order out and re-adds it as an inbound order (it may trade; the
  remainder goes to the back of the new price's queue, ``std::multimap`` insertion order). That is
  ENGINE.md's amend with a price change, so the trades are expected to be identical.
- We use the plain ``OrderBook`` (``liquibook_book_OrderBook``), not ``DepthOrderBook``: the depth
  aggregation is market-data work the TradeX engine does not do per command.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.engine_textbook import TextbookBook
from bench.engine_workload import OP_AMEND, OP_CANCEL, OP_NEW_GTC, OP_NEW_IOC, SIDE_BUY, Workload

__all__ = [
    "PEERS",
    "BookDelta",
    "PeerResult",
    "book_deltas_from_events",
    "compare_trades",
    "peer_available",
    "run_liquibook",
    "run_nautilus",
    "run_textbook",
]

PEERS = ("liquibook", "textbook", "nautilus")

Trade = tuple[int, int, int, int]
OpTuple = tuple[int, int, int, bool, int, int]  # op, order_id, account_id, is_buy, qty, price

DELTA_ADD = 0
DELTA_UPDATE = 1
DELTA_DELETE = 2


@dataclass
class PeerResult:
    """What one peer did on the benchmark prefix."""

    name: str
    version: str
    commands: int  # stream commands represented by the timed work
    seconds: list[float]  # wall time of the timed part, one per run
    trades: list[Trade] | None  # trades of the last run (None for non-matching peers)
    units: int = 0  # operations the peer actually performed in the timed part (commands or deltas)
    unit_name: str = "commands"
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median_seconds(self) -> float:
        return float(np.median(self.seconds)) if self.seconds else float("nan")

    @property
    def ops_per_s(self) -> float:
        """Stream commands per second (median run)."""
        s = self.median_seconds
        return self.commands / s if s > 0 else float("nan")

    @property
    def units_per_s(self) -> float:
        s = self.median_seconds
        return self.units / s if s > 0 else float("nan")


def peer_available(name: str) -> tuple[bool, str]:
    """Whether a peer's package imports here; (ok, version or error)."""
    module = {"liquibook": "liquibook", "textbook": "sortedcontainers", "nautilus": "nautilus_trader"}[name]
    dist = {"liquibook": "liquibook", "textbook": "sortedcontainers", "nautilus": "nautilus_trader"}[name]
    try:
        __import__(module)
    except Exception as exc:  # pragma: no cover - depends on the environment
        return False, f"{type(exc).__name__}: {exc}"
    try:
        return True, metadata.version(dist)
    except metadata.PackageNotFoundError:  # pragma: no cover
        return True, "unknown"


def op_tuples(w: Workload, stop: int) -> list[OpTuple]:
    """Rows ``0:stop`` of the workload as plain Python tuples (built before timing)."""
    ops = w.op[:stop].tolist()
    oids = w.order_id[:stop].tolist()
    accts = w.account_id[:stop].tolist()
    buys = (w.side[:stop] == SIDE_BUY).tolist()
    qtys = w.qty[:stop].tolist()
    prices = w.price[:stop].tolist()
    return list(zip(ops, oids, accts, buys, qtys, prices, strict=True))


def compare_trades(expected: Sequence[Trade], got: Sequence[Trade] | None) -> dict[str, Any]:
    """Exact comparison of two trade sequences; reports the first difference."""
    if got is None:
        return {"passed": False, "reason": "peer produced no trade list"}
    n = min(len(expected), len(got))
    first = next((i for i in range(n) if tuple(expected[i]) != tuple(got[i])), None)
    if first is None and len(expected) != len(got):
        first = n
    result: dict[str, Any] = {
        "passed": first is None,
        "expected_trades": len(expected),
        "peer_trades": len(got),
    }
    if first is not None:
        result["first_mismatch_index"] = first
        result["expected_at_mismatch"] = list(expected[first]) if first < len(expected) else None
        result["peer_at_mismatch"] = list(got[first]) if first < len(got) else None
    return result


def _timed_runs(runs: int, one_run: Any) -> list[float]:
    seconds: list[float] = []
    for _ in range(runs):
        gc.collect()
        seconds.append(one_run())
    return seconds


# -- textbook ---------------------------------------------------------------------------------------
def run_textbook(w: Workload, n_commands: int, runs: int) -> PeerResult:
    """Time the textbook Python book on rows ``prefill:n_commands`` (prefill applied untimed)."""
    ok, version = peer_available("textbook")
    rows = op_tuples(w, n_commands)
    prefill, stream = rows[: w.prefill], rows[w.prefill :]
    last: list[TextbookBook] = []

    def one_run() -> float:
        book = TextbookBook()
        for _op, oid, acct, is_buy, qty, price in prefill:
            book.new_limit(oid, acct, is_buy, price, qty, False)
        del book.trades[:]
        new_limit = book.new_limit
        amend = book.amend
        cancel = book.cancel
        t0 = time.perf_counter()
        for op, oid, acct, is_buy, qty, price in stream:
            if op == OP_AMEND:
                amend(oid, price)
            elif op == OP_NEW_GTC:
                new_limit(oid, acct, is_buy, price, qty, False)
            elif op == OP_CANCEL:
                cancel(oid)
            else:
                new_limit(oid, acct, is_buy, price, qty, True)
        elapsed = time.perf_counter() - t0
        last[:] = [book]
        return elapsed

    seconds = _timed_runs(runs, one_run)
    book = last[0]
    return PeerResult(
        name="textbook",
        version=f"Python sortedcontainers {version}" if ok else version,
        commands=len(stream),
        seconds=seconds,
        trades=list(book.trades),
        units=len(stream),
        extra={"final_levels": book.levels()},
    )


# -- liquibook --------------------------------------------------------------------------------------
def run_liquibook(w: Workload, n_commands: int, runs: int) -> PeerResult:
    """Time Liquibook (C++ via SWIG) on rows ``prefill:n_commands`` (prefill applied untimed)."""
    import liquibook as lb

    _, version = peer_available("liquibook")
    rows = op_tuples(w, n_commands)
    prefill, stream = rows[: w.prefill], rows[w.prefill :]
    ioc_flag = int(lb.oc_immediate_or_cancel)

    class Listener(lb.OrderListener):  # type: ignore[misc]
        """Keeps SimpleOrder state in step with the book (see the module docstring) and records trades."""

        def __init__(self) -> None:
            lb.OrderListener.__init__(self)
            self.fills: list[Trade] = []
            self.rejects: list[str] = []

        def on_accept(self, order: Any) -> None:
            order.accept()

        def on_reject(self, order: Any, reason: str) -> None:
            self.rejects.append(f"reject: {reason}")

        def on_fill(self, order: Any, matched_order: Any, fill_qty: int, fill_price: int) -> None:
            self.fills.append((order.order_id_, matched_order.order_id_, fill_price, fill_qty))

        def on_cancel(self, order: Any) -> None:
            pass

        def on_cancel_reject(self, order: Any, reason: str) -> None:
            self.rejects.append(f"cancel_reject: {reason}")

        def on_replace(self, order: Any, size_delta: int, new_price: int) -> None:
            order.replace(size_delta, new_price)

        def on_replace_reject(self, order: Any, reason: str) -> None:
            self.rejects.append(f"replace_reject: {reason}")

        def on_trigger_stop(self, order: Any) -> None:
            pass

    last: list[tuple[Listener, dict[int, Any]]] = []

    def one_run() -> float:
        listener = Listener()
        book = lb.liquibook_book_OrderBook()
        book.set_order_listener(listener)
        orders: dict[int, Any] = {}  # our id -> SimpleOrder (also keeps every order alive)
        simple_order = lb.SimpleOrder
        for _op, oid, _acct, is_buy, qty, price in prefill:
            order = simple_order(is_buy, price, qty)
            orders[oid] = order
            book.add(order, 0)
        add = book.add
        replace = book.replace
        cancel = book.cancel
        t0 = time.perf_counter()
        for op, oid, _acct, is_buy, qty, price in stream:
            if op == OP_AMEND:
                replace(orders[oid], 0, price)
            elif op == OP_NEW_GTC:
                order = simple_order(is_buy, price, qty)
                orders[oid] = order
                add(order, 0)
            elif op == OP_CANCEL:
                cancel(orders[oid])
            else:
                order = simple_order(is_buy, price, qty)
                orders[oid] = order
                add(order, ioc_flag)
        elapsed = time.perf_counter() - t0
        last[:] = [(listener, orders)]
        # the listener and the orders must outlive the book: drop the book first
        del book
        return elapsed

    seconds = _timed_runs(runs, one_run)
    listener, orders = last[0]
    to_ours = {int(order.order_id_): oid for oid, order in orders.items()}
    trades: list[Trade] = [
        (to_ours[taker], to_ours[maker], int(price), int(qty)) for taker, maker, price, qty in listener.fills
    ]
    notes = ["plain liquibook OrderBook (no depth aggregation); Python listener callbacks via SWIG directors"]
    extra: dict[str, Any] = {"rejects": len(listener.rejects)}
    if listener.rejects:
        extra["first_rejects"] = listener.rejects[:5]
    return PeerResult(
        name="liquibook",
        version=f"liquibook {version} (C++ via SWIG)",
        commands=len(stream),
        seconds=seconds,
        trades=trades,
        units=len(stream),
        notes=notes,
        extra=extra,
    )


# -- nautilus ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BookDelta:
    """One change of an L3 book: add / update (new remaining qty) / delete of one order."""

    seq: int
    action: int  # DELTA_ADD, DELTA_UPDATE, DELTA_DELETE
    is_buy: bool
    price: int
    qty: int
    order_id: int


def book_deltas_from_events(
    w: Workload,
    n_commands: int,
    events: npt.NDArray[Any],
    codes: dict[str, int],
) -> list[BookDelta]:
    """The L3 book changes implied by TradeX's events for rows ``0:n_commands``.

    ``events`` is the engine's EVENT_DTYPE array for those commands (fields seq, type, order_id,
    maker_order_id, price, qty), ``codes`` maps "accepted", "amended", "trade", "cancelled", "expired"
    to the engine's event type codes. Rules: an accepted new order is the incoming order with its
    command's side, price and qty; an amend whose price changes (or whose qty grows) deletes the order and
    makes it incoming again at the event's price and qty (a same-price reduction is an update); each
    trade reduces the maker (update, or delete at 0) and the incoming order; a cancelled or expired
    resting order is deleted; the incoming order's remainder is added at the end of its command unless it
    was cancelled (ioc remainder)."""
    seqs = events["seq"].tolist()
    types = events["type"].tolist()
    ev_oid = events["order_id"].tolist()
    ev_maker = events["maker_order_id"].tolist()
    ev_price = events["price"].tolist()
    ev_qty = events["qty"].tolist()
    ops = w.op[:n_commands].tolist()
    oids = w.order_id[:n_commands].tolist()
    buys = (w.side[:n_commands] == SIDE_BUY).tolist()
    qtys = w.qty[:n_commands].tolist()
    prices = w.price[:n_commands].tolist()
    ev_accepted = codes["accepted"]
    ev_amended = codes["amended"]
    ev_trade = codes["trade"]
    ev_cancelled = codes["cancelled"]
    ev_expired = codes["expired"]

    resting: dict[int, list[Any]] = {}  # order_id -> [is_buy, price, qty]
    out: list[BookDelta] = []
    j = 0
    n_events = len(seqs)
    for row in range(n_commands):
        seq = row + 1
        oid = oids[row]
        incoming: list[Any] | None = None  # [is_buy, price, remaining]
        incoming_cancelled = False
        while j < n_events and seqs[j] < seq:
            j += 1
        while j < n_events and seqs[j] == seq:
            t = types[j]
            if t == ev_accepted:
                if ops[row] in (OP_NEW_GTC, OP_NEW_IOC):
                    incoming = [buys[row], prices[row], qtys[row]]
            elif t == ev_amended:
                cur = resting[ev_oid[j]]
                new_price, new_qty = ev_price[j], ev_qty[j]
                if new_price != cur[1] or new_qty > cur[2]:
                    out.append(BookDelta(seq, DELTA_DELETE, cur[0], cur[1], cur[2], ev_oid[j]))
                    del resting[ev_oid[j]]
                    incoming = [cur[0], new_price, new_qty]
                elif new_qty != cur[2]:
                    cur[2] = new_qty
                    out.append(BookDelta(seq, DELTA_UPDATE, cur[0], cur[1], new_qty, ev_oid[j]))
            elif t == ev_trade:
                maker = ev_maker[j]
                q = ev_qty[j]
                m = resting[maker]
                m[2] -= q
                if m[2] == 0:
                    out.append(BookDelta(seq, DELTA_DELETE, m[0], m[1], q, maker))
                    del resting[maker]
                else:
                    out.append(BookDelta(seq, DELTA_UPDATE, m[0], m[1], m[2], maker))
                if incoming is not None:
                    incoming[2] -= q
            elif t in (ev_cancelled, ev_expired):
                victim = ev_oid[j]
                cur_r = resting.pop(victim, None)
                if cur_r is not None:
                    out.append(BookDelta(seq, DELTA_DELETE, cur_r[0], cur_r[1], cur_r[2], victim))
                elif victim == oid:
                    incoming_cancelled = True
            j += 1
        if incoming is not None and incoming[2] > 0 and not incoming_cancelled:
            resting[oid] = incoming
            out.append(BookDelta(seq, DELTA_ADD, incoming[0], incoming[1], incoming[2], oid))
    return out


def run_nautilus(
    w: Workload,
    n_commands: int,
    runs: int,
    deltas: list[BookDelta],
) -> PeerResult:
    """Time nautilus_trader's L3 OrderBook applying ``deltas`` (those of the prefill untimed)."""
    from nautilus_trader.model.book import OrderBook as NautilusBook
    from nautilus_trader.model.data import BookOrder
    from nautilus_trader.model.enums import BookType, OrderSide
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.model.objects import Price, Quantity

    _, version = peer_available("nautilus")
    instrument = InstrumentId.from_str("BENCH.SIM")
    # BookOrder objects are built before timing: the timed part is the book work only.
    built: list[tuple[int, Any, int]] = []
    price_cache: dict[int, Any] = {}
    qty_cache: dict[int, Any] = {}
    for d in deltas:
        p = price_cache.get(d.price)
        if p is None:
            p = price_cache[d.price] = Price(d.price, 0)
        q = qty_cache.get(d.qty)
        if q is None:
            q = qty_cache[d.qty] = Quantity(d.qty, 0)
        side = OrderSide.BUY if d.is_buy else OrderSide.SELL
        built.append((d.action, BookOrder(side, p, q, d.order_id), d.seq))
    split = next((i for i, d in enumerate(deltas) if d.seq > w.prefill), len(deltas))
    prefill, stream = built[:split], built[split:]
    last: list[Any] = []

    def apply(book: Any, items: list[tuple[int, Any, int]]) -> None:
        add = book.add
        update = book.update
        delete = book.delete
        for action, order, ts in items:
            if action == DELTA_ADD:
                add(order, ts)
            elif action == DELTA_UPDATE:
                update(order, ts)
            else:
                delete(order, ts)

    def one_run() -> float:
        book = NautilusBook(instrument, BookType.L3_MBO)
        apply(book, prefill)
        t0 = time.perf_counter()
        apply(book, stream)
        elapsed = time.perf_counter() - t0
        last[:] = [book]
        return elapsed

    seconds = _timed_runs(runs, one_run)
    book = last[0]
    levels = {
        "bids": [[int(lv.price), [int(o.order_id) for o in lv.orders()], int(lv.size())] for lv in book.bids()],
        "asks": [[int(lv.price), [int(o.order_id) for o in lv.orders()], int(lv.size())] for lv in book.asks()],
    }
    counts = {"add": 0, "update": 0, "delete": 0}
    for action, _, _ in stream:
        counts[("add", "update", "delete")[action]] += 1
    return PeerResult(
        name="nautilus",
        version=f"nautilus_trader {version} (L3_MBO OrderBook)",
        commands=n_commands - w.prefill,
        seconds=seconds,
        trades=None,
        units=len(stream),
        unit_name="book deltas",
        notes=[
            "does not match: replays the add/update/delete book changes derived from TradeX's events "
            "(BookOrder objects pre-built, untimed)"
        ],
        extra={"final_levels": levels, "delta_counts": counts},
    )
