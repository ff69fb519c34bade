"""Seeded, deterministic matching-engine workload modelled on exchange-core's benchmark mix.

exchange-core's published single-symbol benchmark feeds a book holding about 1,000 active limit orders
(placed in about 750 price slots, from about 1,000 accounts) with 3,000,000 messages: 82% "move"
commands (a resting order changes its price), 9% new GTC limits, 3% IOC limits and 6% cancels; about 6%
of the messages trigger one or more trades. This module produces the same kind of stream as ENGINE.md
commands for one symbol:

1. a prefill of ``prefill`` (default 1,000) resting GTC limit orders on both sides of ``mid_price``,
   none of them crossing;
2. ``ops`` stream commands, each drawn with ``random.Random(seed)`` from the mix above:

   - move (82%): ``amend`` of a live resting order to a new price. Most moves are passive (the new price
     stays behind the opposite best price, up to ``depth_ticks`` away, closer prices more likely); a few
     cross the spread (new price = opposite best + 0..2 ticks) and trade, and the remainder rests at the
     new price. How many cross is steered to keep about ``prefill`` orders resting (see below).
   - new GTC limit (9%): a passive order, on the thinner side of the book more often than not.
   - IOC limit (3%): priced at the opposite best + 0..2 ticks, so it trades; the remainder is cancelled.
     It is small (1..``max_qty // 5`` lots), so it mostly takes part of the best order. Its side leans
     against the drift of the mid price, which keeps prices near ``mid_price``.
   - cancel (6%): of a live resting order.

   Order ids count up from 1 and are never reused; accounts are drawn from ``accounts`` (few hundred);
   quantities are 1..``max_qty`` lots; prices are integer ticks; ``ts`` is the command's 1-based position.

How the generator knows which orders are alive without the engine under test: it runs every command it
emits, as it emits it, through :class:`bench.engine_textbook.TextbookBook` (the textbook peer engine),
and after each command drops the makers that were filled, drops a moved order that was filled whole, adds
a new GTC order that rested, and drops a cancelled one. So cancels and amends always target live orders.
The same pass records the reference trades (taker, maker, price, qty), which the benchmark compares with
the TradeX engine's trades over the whole stream.

Keeping the book from draining: new GTC orders (9%) outnumber cancels (6%); fills from IOCs and crossing
moves take orders away. The share of moves that cross is ``3% + 0.1% x (resting - target)``, clamped to
0..30%, so fills speed up when the book holds more than ``prefill`` orders and slow down when it holds
fewer. The mix of message types is exactly the drawn one; only the share of crossing moves adapts.

Only integers and the seeded ``random.Random`` are used, so the same parameters give the same commands on
every machine and Python run. The columns are kept as numpy int64 arrays (millions of dicts would take
gigabytes); :meth:`Workload.command_dicts` and :meth:`Workload.encode` turn slices into ENGINE.md dicts or
engine arrays on demand.
"""

from __future__ import annotations

import random
import sys
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.engine_textbook import TextbookBook

__all__ = [
    "OP_AMEND",
    "OP_CANCEL",
    "OP_NEW_GTC",
    "OP_NEW_IOC",
    "SIDE_BUY",
    "SIDE_SELL",
    "SYMBOL",
    "Workload",
    "WorkloadParams",
    "generate",
]

OP_NEW_GTC = 0
OP_NEW_IOC = 1
OP_AMEND = 2
OP_CANCEL = 3
OP_NAMES = {OP_NEW_GTC: "new_gtc", OP_NEW_IOC: "new_ioc", OP_AMEND: "move", OP_CANCEL: "cancel"}
SIDE_BUY = 0
SIDE_SELL = 1
SYMBOL = "BENCH"

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class WorkloadParams:
    """Everything that determines a workload (same params, same commands)."""

    ops: int = 3_000_000
    seed: int = 1
    prefill: int = 1_000
    accounts: int = 300
    mid_price: int = 100_000
    depth_ticks: int = 1_000
    max_qty: int = 100
    pct_move: int = 82
    pct_gtc: int = 9
    pct_ioc: int = 3
    pct_cancel: int = 6

    def __post_init__(self) -> None:
        if self.pct_move + self.pct_gtc + self.pct_ioc + self.pct_cancel != 100:
            raise ValueError("the command mix must add up to 100%")
        if self.ops < 0 or self.prefill < 0 or self.accounts < 1 or self.max_qty < 1:
            raise ValueError("ops/prefill must be >= 0, accounts and max_qty >= 1")
        if self.mid_price <= 4 * self.depth_ticks:
            raise ValueError("mid_price must be well above depth_ticks")


@dataclass
class Workload:
    """A generated command stream as columns; row i is the command with seq i + 1."""

    params: WorkloadParams
    prefill: int
    op: I64
    order_id: I64
    account_id: I64
    side: I64
    qty: I64
    price: I64
    ref_trades: I64  # shape (n_trades, 5): seq, taker_order_id, maker_order_id, price, qty
    stats: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.op.shape[0])

    def ref_trades_upto(self, n_commands: int) -> I64:
        """Reference trades of the first ``n_commands`` commands (prefill included)."""
        end = int(np.searchsorted(self.ref_trades[:, 0], n_commands, side="right"))
        return self.ref_trades[:end]

    def command_dicts(
        self, start: int = 0, stop: int | None = None, with_seq: bool = False
    ) -> Iterator[dict[str, Any]]:
        """ENGINE.md command dicts of rows ``start:stop`` (``seq`` key added if asked)."""
        stop = len(self) if stop is None else min(stop, len(self))
        ops = self.op[start:stop].tolist()
        oids = self.order_id[start:stop].tolist()
        accts = self.account_id[start:stop].tolist()
        sides = self.side[start:stop].tolist()
        qtys = self.qty[start:stop].tolist()
        prices = self.price[start:stop].tolist()
        for i, op in enumerate(ops):
            seq = start + i + 1
            cmd: dict[str, Any]
            if op == OP_AMEND:
                cmd = {"symbol": SYMBOL, "op": "amend", "order_id": oids[i], "price": prices[i], "ts": seq}
            elif op == OP_CANCEL:
                cmd = {"symbol": SYMBOL, "op": "cancel", "order_id": oids[i], "ts": seq}
            else:
                cmd = {
                    "symbol": SYMBOL,
                    "op": "new",
                    "order_id": oids[i],
                    "account_id": accts[i],
                    "side": "buy" if sides[i] == SIDE_BUY else "sell",
                    "type": "limit",
                    "qty": qtys[i],
                    "price": prices[i],
                    "tif": "gtc" if op == OP_NEW_GTC else "ioc",
                    "ts": seq,
                }
            if with_seq:
                cmd["seq"] = seq
            yield cmd

    def commands(self) -> list[dict[str, Any]]:
        """The whole stream as a list of ENGINE.md command dicts (only for small workloads)."""
        return list(self.command_dicts())

    def encode(
        self,
        encode_fn: Callable[[Sequence[Mapping[str, Any]]], npt.NDArray[Any]],
        start: int = 0,
        stop: int | None = None,
        chunk: int = 100_000,
        progress: Callable[[int], None] | None = None,
    ) -> npt.NDArray[Any]:
        """Encode rows ``start:stop`` with the engine's ``encode_commands``, ``chunk`` dicts at a time.

        The dicts carry ``seq`` = global position + 1, so the arrays' seqs match the whole stream."""
        stop = len(self) if stop is None else min(stop, len(self))
        parts: list[npt.NDArray[Any]] = []
        for lo in range(start, stop, chunk):
            hi = min(lo + chunk, stop)
            parts.append(encode_fn(list(self.command_dicts(lo, hi, with_seq=True))))
            if progress is not None:
                progress(hi - start)
        if not parts:
            return encode_fn([])
        return np.concatenate(parts)

    def describe(self) -> dict[str, Any]:
        """Parameters and generation statistics (JSON-ready)."""
        return {"params": asdict(self.params), "commands": len(self), "prefill": self.prefill, **self.stats}


class _LiveSet:
    """Ids of live resting orders of one side, with O(1) add, remove and uniform random pick."""

    __slots__ = ("ids", "pos")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.pos: dict[int, int] = {}

    def add(self, oid: int) -> None:
        self.pos[oid] = len(self.ids)
        self.ids.append(oid)

    def discard(self, oid: int) -> None:
        i = self.pos.pop(oid, -1)
        if i < 0:
            return
        last = self.ids.pop()
        if last != oid:
            self.ids[i] = last
            self.pos[last] = i


def _stderr_progress(done: int, total: int) -> None:
    print(f"  workload: {done:,}/{total:,} commands", file=sys.stderr, flush=True)


def generate(
    params: WorkloadParams,
    progress: Callable[[int, int], None] | None = _stderr_progress,
    progress_every: int = 500_000,
) -> Workload:
    """Generate the workload ``params`` describe (deterministic; see the module docstring)."""
    rng = random.Random(params.seed)
    randrange = rng.randrange
    book = TextbookBook()
    trades = book.trades
    orders = book.orders
    live = (_LiveSet(), _LiveSet())  # indexed by SIDE_BUY / SIDE_SELL

    n_total = params.prefill + params.ops
    col_op = array("q")
    col_oid = array("q")
    col_acct = array("q")
    col_side = array("q")
    col_qty = array("q")
    col_price = array("q")
    ref = array("q")  # flattened (seq, taker, maker, price, qty)

    mid = params.mid_price
    depth = params.depth_ticks
    max_qty = params.max_qty
    ioc_max_qty = max(1, max_qty // 5)
    accounts = params.accounts
    target = params.prefill
    cut_move = params.pct_move
    cut_gtc = cut_move + params.pct_gtc
    cut_ioc = cut_gtc + params.pct_ioc
    next_id = 1

    counts = [0, 0, 0, 0]
    crossing_moves = 0
    trading_commands = 0
    live_min = live_max = live_sum = live_samples = 0
    mid_lo = mid_hi = mid

    def passive_price(is_buy: bool) -> int:
        """A non-crossing price, closer to the opposite best price more often than not."""
        d = min(randrange(depth), randrange(depth))
        if is_buy:
            ask = book.best_ask()
            if ask:
                ref_price = ask
            else:
                bid = book.best_bid()
                ref_price = bid + 1 if bid else mid
            return max(1, ref_price - 1 - d)
        bid = book.best_bid()
        if bid:
            ref_price = bid
        else:
            ask = book.best_ask()
            ref_price = ask - 1 if ask else mid
        return ref_price + 1 + d

    def emit(op: int, oid: int, acct: int, side: int, qty: int, price: int) -> None:
        col_op.append(op)
        col_oid.append(oid)
        col_acct.append(acct)
        col_side.append(side)
        col_qty.append(qty)
        col_price.append(price)

    # 1. prefill: alternate sides, passive prices around mid (no trades).
    for i in range(params.prefill):
        side = i & 1
        d = min(randrange(depth), randrange(depth))
        price = mid - 1 - d if side == SIDE_BUY else mid + 1 + d
        qty = 1 + randrange(max_qty)
        acct = randrange(accounts)
        oid = next_id
        next_id += 1
        emit(OP_NEW_GTC, oid, acct, side, qty, price)
        book.new_limit(oid, acct, side == SIDE_BUY, price, qty, False)
        live[side].add(oid)

    # 2. the stream
    for n in range(params.ops):
        seq = params.prefill + n + 1
        t0 = len(trades)
        buys = live[SIDE_BUY].ids
        sells = live[SIDE_SELL].ids
        n_live = len(buys) + len(sells)
        r = randrange(100)
        if r >= cut_ioc and n_live == 0:
            r = cut_move  # nothing to cancel: a new GTC instead
        if r < cut_move and n_live == 0:
            r = cut_move  # nothing to move: a new GTC instead

        if r < cut_move or r >= cut_ioc:
            # move or cancel a random live order
            k = randrange(n_live)
            if k < len(buys):
                oid = buys[k]
                side = SIDE_BUY
            else:
                oid = sells[k - len(buys)]
                side = SIDE_SELL
            order = orders[oid]
            if r >= cut_ioc:
                counts[OP_CANCEL] += 1
                emit(OP_CANCEL, oid, order.account_id, side, 0, 0)
                book.cancel(oid)
                live[side].discard(oid)
            else:
                counts[OP_AMEND] += 1
                cross_bp = 300 + (n_live - target) * 10
                cross_bp = 0 if cross_bp < 0 else (3000 if cross_bp > 3000 else cross_bp)
                is_buy = side == SIDE_BUY
                opposite = book.best_ask() if is_buy else book.best_bid()
                if opposite and randrange(10_000) < cross_bp:
                    crossing_moves += 1
                    price = opposite + randrange(3) if is_buy else max(1, opposite - randrange(3))
                else:
                    price = passive_price(is_buy)
                    if price == order.price:
                        price = price - 1 if is_buy else price + 1
                        if price < 1:
                            price = order.price + 1
                emit(OP_AMEND, oid, order.account_id, side, 0, price)
                book.amend(oid, price)
                if oid not in orders:
                    live[side].discard(oid)
        else:
            oid = next_id
            next_id += 1
            acct = randrange(accounts)
            if r < cut_gtc:
                qty = 1 + randrange(max_qty)
                counts[OP_NEW_GTC] += 1
                # the thinner side is more likely: P(buy) = sells / (buys + sells)
                is_buy = randrange(n_live) < len(sells) if n_live else randrange(2) == 0
                side = SIDE_BUY if is_buy else SIDE_SELL
                price = passive_price(is_buy)
                emit(OP_NEW_GTC, oid, acct, side, qty, price)
                book.new_limit(oid, acct, is_buy, price, qty, False)
                if oid in orders:
                    live[side].add(oid)
            else:
                counts[OP_NEW_IOC] += 1
                qty = 1 + randrange(ioc_max_qty)
                bid = book.best_bid()
                ask = book.best_ask()
                cur_mid = (bid + ask) // 2 if bid and ask else mid
                # lean against the drift: P(buy) = 50% - (mid drift in ticks) / 40, within 10..90%
                p_buy = 50 - (cur_mid - mid) // 40
                p_buy = 10 if p_buy < 10 else (90 if p_buy > 90 else p_buy)
                is_buy = randrange(100) < p_buy
                side = SIDE_BUY if is_buy else SIDE_SELL
                if is_buy:
                    price = ask + randrange(3) if ask else passive_price(True)
                else:
                    price = max(1, bid - randrange(3)) if bid else passive_price(False)
                emit(OP_NEW_IOC, oid, acct, side, qty, price)
                book.new_limit(oid, acct, is_buy, price, qty, True)

        t1 = len(trades)
        if t1 != t0:
            trading_commands += 1
            for j in range(t0, t1):
                taker, maker, tprice, tqty = trades[j]
                ref.extend((seq, taker, maker, tprice, tqty))
                if maker not in orders:
                    # the maker sits on the side opposite the taker
                    live[SIDE_SELL if col_side[-1] == SIDE_BUY else SIDE_BUY].discard(maker)
            del trades[t0:]
        if n % 1000 == 0:
            n_live = len(live[0].ids) + len(live[1].ids)
            if live_samples == 0:
                live_min = live_max = n_live
            live_min = min(live_min, n_live)
            live_max = max(live_max, n_live)
            live_sum += n_live
            live_samples += 1
            bid = book.best_bid()
            ask = book.best_ask()
            if bid and ask:
                m = (bid + ask) // 2
                mid_lo = min(mid_lo, m)
                mid_hi = max(mid_hi, m)
        if progress is not None and (n + 1) % progress_every == 0:
            progress(n + 1, params.ops)

    def col(a: array[int]) -> I64:
        return np.frombuffer(a, dtype=np.int64).copy() if len(a) else np.zeros(0, dtype=np.int64)

    ref_np = col(ref).reshape(-1, 5)
    levels = book.levels()
    stats: dict[str, Any] = {
        "mix": {OP_NAMES[k]: counts[k] for k in (OP_AMEND, OP_NEW_GTC, OP_NEW_IOC, OP_CANCEL)},
        "crossing_moves": crossing_moves,
        "trading_commands": trading_commands,
        "trading_commands_pct": round(100.0 * trading_commands / params.ops, 2) if params.ops else 0.0,
        "reference_trades": int(ref_np.shape[0]),
        "resting_orders": {
            "min": live_min,
            "max": live_max,
            "mean": (live_sum // live_samples) if live_samples else 0,
            "end": len(orders),
        },
        "price_levels_at_end": len(levels["bids"]) + len(levels["asks"]),
        "mid_price_range": [mid_lo, mid_hi],
        "order_ids_used": next_id - 1,
    }
    assert len(col_op) == n_total
    return Workload(
        params=params,
        prefill=params.prefill,
        op=col(col_op),
        order_id=col(col_oid),
        account_id=col(col_acct),
        side=col(col_side),
        qty=col(col_qty),
        price=col(col_price),
        ref_trades=ref_np,
        stats=stats,
    )
