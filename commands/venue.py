"""The venue's write side: the single writer for its markets, one micro-batch at a time.

For a batch of commands in arrival order the venue
1. skips command ids it has handled before (same body: the first result; other body: a conflict),
2. runs each command's checks in order; order commands take their funds hold and become engine rows,
   other commands (deposits, withdrawals, admin) are handled by the ledger's handlers,
3. calls the engine once per market with that market's rows,
4. turns the engine's events into events of every touched aggregate: orders (acceptance, fills,
   cancels, expiry), wallets (holds, settlement postings, fees), positions, and the market's record of
   the batch (its engine input and a digest of the engine output, for replay),
5. saves everything in ONE event-store transaction; only then are the commands acknowledged, each with
   the log position of the batch.

A refused command (a LedgerError in step 2) stores nothing and does not use up its command id.
If the save fails, the in-memory state is no longer the log's: the venue stops (fail fast) and a
restart rebuilds it from the log.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from commands import ledger_commands as c
from commands.ledger import Ledger
from commands.ledger_store import EngineCheckpoint, HandledCommand
from commands.order_commands import AmendOrder, CancelOrder, ExpireDue, PlaceOrder
from commands.risk import Exposure, RiskLimits, plan_order
from domain.checks import require
from domain.clock import causation
from domain.errors import (
    CommandConflict,
    InstrumentHasOpenOrders,
    InvalidQuantity,
    LedgerError,
    OrderRefused,
    UnknownOrder,
)
from domain.ids import market_id, order_uuid, position_id
from domain.market import Market
from domain.order import Fill, Order, OrderStatus, OrderTerms
from domain.order_costs import hold_terms
from domain.position import Position, PositionFill
from domain.postings import Posting, post
from domain.values import FEE_ACCOUNT, InstrumentSpec, Liquidity, Side
from domain.wallet import Wallet
from engine import COMMAND_DTYPE, BookConfig, BookSnapshot, OrderBook, codes

ROW_FIELDS: tuple[str, ...] = tuple(name for name in (COMMAND_DTYPE.names or ()) if name != "seq")
CHECKPOINT_EVERY = 200_000  # engine commands of a market between two stored copies of its book
HANDLED_IN_MEMORY = 200_000  # command records kept in memory for resends; older ones are read from the store
EV_DECREMENTED = 8  # engine fast-path extension: a surviving order reduced by STP decrement (qty = reduction)
SWEEP_ORDER_ID = 0  # no order has it (ids start at 1): a cancel of it only lets the engine see the time


class VenueHalted(RuntimeError):
    """The venue stopped because its state may no longer match the log; restart it to rebuild."""


class VenueStartError(RuntimeError):
    """The log and a replay of it disagree; the venue refuses to start."""


@dataclass
class Outcome:
    command_id: str
    result: dict[str, Any] | None = None
    error: LedgerError | None = None
    duplicate: bool = False
    log_position: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class PreparedBatch:
    """A batch between `Venue.prepare` and `Venue.commit`: its outcomes and everything to store."""

    outcomes: list[Outcome]
    events: list[Any]  # the domain events of every touched aggregate, in the order they are stored
    handled: list[HandledCommand]
    checkpoints: list[EngineCheckpoint] = field(default_factory=list)
    snapshots: list[Any] = field(default_factory=list)  # encoded aggregate snapshots, stored after the events


@dataclass
class MarketRuntime:
    symbol: str
    book: OrderBook
    market: Market
    spec: InstrumentSpec
    spec_version: int
    rows: list[tuple[int, ...]] = field(default_factory=list)
    row_commands: list[int] = field(default_factory=list)  # batch index of the command of each row
    opened: dict[int, int] = field(default_factory=dict)
    closed: list[int] = field(default_factory=list)
    forget: list[int] = field(default_factory=list)  # closed this batch: dropped from `live` after the save
    checkpoint_seq: int = 0  # the last engine command of the newest stored checkpoint
    expiries: list[tuple[int, int]] = field(default_factory=list)  # heap of (expire_at_ns, order id): live gtd
    new_orders: int = 0  # new-order rows in the current batch: each uses up an order id
    trades: int = 0


@dataclass
class Placement:
    """A new order between admission and the engine's answer (it becomes an Order aggregate then)."""

    terms: OrderTerms
    hold_ref: str
    status: str = "new"

    @property
    def price_ticks(self) -> int:
        return self.terms.price_ticks

    @property
    def leaves_qty_lots(self) -> int:
        return self.terms.qty_lots

    @property
    def hold_per_lot(self) -> int:
        return self.terms.hold_per_lot

    @property
    def open_hold(self) -> int:
        return self.terms.qty_lots * self.terms.hold_per_lot


@dataclass
class BatchState:
    """What one batch accumulates before its single save."""

    now_ns: int
    commands: Sequence[c.Command]
    outcomes: list[Outcome]
    touched: dict[Any, Aggregate] = field(default_factory=dict)
    postings: list[Posting] = field(default_factory=list)
    paid_from_hold: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # hold_ref -> postings' total
    position_fills: dict[tuple[int, str], list[PositionFill]] = field(default_factory=lambda: defaultdict(list))
    order_fills: dict[Any, tuple[Order, list[Fill]]] = field(default_factory=dict)  # by order id
    # extra hold taken at admission per pending amend: (symbol, order id) -> {batch index: amount}
    amend_holds: dict[tuple[str, int], dict[int, int]] = field(default_factory=dict)
    # per order with pending amends: (most lots it could have, per-lot costs it could have) before the next one
    amend_bounds: dict[tuple[str, int], tuple[int, list[int]]] = field(default_factory=dict)
    orders: dict[int, Order | Placement] = field(default_factory=dict)  # batch index of a placement -> order
    checkpoints: list[EngineCheckpoint] = field(default_factory=list)

    def touch(self, aggregate: Aggregate) -> None:
        self.touched[aggregate.id] = aggregate


class Venue:
    def __init__(self, ledger: Ledger, limits: RiskLimits | None = None, book_config: BookConfig | None = None,
                 checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        self.ledger = ledger
        self.checkpoint_every = checkpoint_every
        self.ledger.cache = {}
        self.limits = limits or RiskLimits()
        self.book_config = book_config or BookConfig()
        self.markets: dict[str, MarketRuntime] = {}
        self.live: dict[tuple[str, int], Order] = {}
        self.pending: dict[tuple[str, int], Placement] = {}  # placed this batch, not yet answered by the engine
        self.open_orders: dict[int, int] = defaultdict(int)
        self.open_lots: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])  # [buy, sell]
        self.handled: dict[str, HandledCommand] = {}  # command id -> its record (this run's and looked up)
        self.halted: str | None = None
        self.no_position: set[tuple[type[Position], tuple[int, str]]] = set()  # looked up, not in the log

    # ---- start: rebuild every market from the log and check the replay ------------------------
    def start(self) -> dict[str, int]:
        """Rebuild each market's book: its newest engine checkpoint (if any), then every later recorded batch,
        each checked against its recorded digest. Returns the engine commands replayed per market."""
        self.ledger.open_system_wallets()
        warm_engine(self.book_config)
        replayed: dict[str, int] = {}
        for instrument in self.ledger.instruments():
            runtime = self._runtime(instrument.symbol)
            replayed[instrument.symbol] = self._replay(runtime, self._restore_checkpoint(runtime))
            for order_id_text, _account in runtime.market.live.items():
                order = self.ledger.order(order_uuid(runtime.symbol, int(order_id_text)))
                if order is None or not order.is_live:
                    raise VenueStartError(f"{runtime.symbol}: open order {order_id_text} of the market record "
                                          f"is {'missing' if order is None else order.status} in the log")
                self._track_open(order)
        return replayed

    def _restore_checkpoint(self, runtime: MarketRuntime) -> int:
        """Start the book from the newest stored checkpoint; returns the market version it follows (0: none)."""
        checkpoint = self.ledger.store.select_engine_checkpoint(runtime.symbol)
        if checkpoint is None:
            return 0
        if checkpoint.market_version > runtime.market.version:
            raise VenueStartError(f"{runtime.symbol}: the engine checkpoint at command {checkpoint.last_seq} follows "
                                  f"market version {checkpoint.market_version}, the log has {runtime.market.version}")
        book = OrderBook.restore(BookSnapshot.from_bytes(checkpoint.book))
        if book.last_seq != checkpoint.last_seq:
            raise VenueStartError(f"{runtime.symbol}: the engine checkpoint says command {checkpoint.last_seq}, "
                                  f"its book says {book.last_seq}")
        runtime.book = book
        runtime.checkpoint_seq = checkpoint.last_seq
        return checkpoint.market_version

    def _replay(self, runtime: MarketRuntime, after_version: int) -> int:
        count = 0
        for domain_event in self.ledger.events.get(runtime.market.id, gt=after_version or None):
            if not isinstance(domain_event, Market.BatchMatched):
                continue
            if domain_event.first_seq != runtime.book.last_seq + 1:
                raise VenueStartError(f"{runtime.symbol}: the log's batch at engine command {domain_event.first_seq} "
                                      f"does not follow the book's last command {runtime.book.last_seq}")
            rows = self._packed_rows_array(domain_event.first_seq, domain_event.rows, domain_event.row_width)
            events = runtime.book.process(rows)
            digest = events_digest(events)
            if digest != domain_event.events_digest:
                last = domain_event.first_seq + domain_event.row_count - 1
                raise VenueStartError(
                    f"{runtime.symbol}: replaying engine commands {domain_event.first_seq}..{last} gives different "
                    f"events than the log recorded (digest {digest[:16]} != {domain_event.events_digest[:16]}); "
                    "refusing to start")
            trades = int(np.count_nonzero(events["type"] == codes.EV_TRADE))
            if trades != domain_event.trades:
                raise VenueStartError(f"{runtime.symbol}: batch at {domain_event.first_seq} replays to {trades} "
                                      f"trades, the log recorded {domain_event.trades}")
            count += domain_event.row_count
        if runtime.book.last_seq != runtime.market.last_seq:
            raise VenueStartError(f"{runtime.symbol}: the book ends at engine command {runtime.book.last_seq}, "
                                  f"the market record at {runtime.market.last_seq}")
        return count

    # ---- the batch -----------------------------------------------------------------------------
    def process(self, commands: Sequence[c.Command]) -> list[Outcome]:
        """Handle one batch: prepare it, then commit it (the sequencer overlaps the two for consecutive batches)."""
        return self.commit(self.prepare(commands))

    def prepare(self, commands: Sequence[c.Command]) -> PreparedBatch:
        """Steps 1 to 4: every command's outcome and every event of the batch, in memory, not yet stored.

        The venue's state moves on at once, so the next batch can be prepared while this one commits;
        nothing is acknowledged before `commit`. If a commit fails, the venue halts.
        """
        if self.halted:
            raise VenueHalted(self.halted)
        batch = BatchState(self.ledger.clock(), commands, [Outcome(cmd.command_id) for cmd in commands])
        try:
            digests = self._digests_and_duplicates(batch)
            self._prefetch_positions(commands)
            for index, command in enumerate(commands):
                if batch.outcomes[index].duplicate or batch.outcomes[index].error is not None:
                    continue
                with causation(batch.now_ns, command.command_id):
                    try:
                        batch.outcomes[index].result = self._admit(batch, index, command)
                    except LedgerError as error:  # kept without its traceback (no frames kept alive)
                        batch.outcomes[index].error = error.with_traceback(None)
            for runtime in list(self.markets.values()):
                if runtime.rows:
                    self._match(batch, runtime)
            self._settle(batch)
            handled = [HandledCommand(command.command_id, command.kind, digests[index], outcome.result)
                       for index, (command, outcome) in enumerate(zip(commands, batch.outcomes, strict=True))
                       if outcome.ok and not outcome.duplicate and outcome.result is not None]
            for record in handled:  # known at once, so that a resend in the next batch is a duplicate
                self.handled[record.command_id] = record
            events = [event for aggregate in batch.touched.values() for event in aggregate.collect_events()]
            snapshots = self.ledger.encode_due_snapshots(events, batch.touched)
            self._forget_closed_orders()
            return PreparedBatch(batch.outcomes, events, handled, batch.checkpoints, snapshots)
        except Exception as error:
            self.halted = f"venue halted by {type(error).__name__}: {error}"
            raise

    def commit(self, prepared: PreparedBatch) -> list[Outcome]:
        """Step 5: store the batch's events and command records in one transaction; then the outcomes carry
        the log position. Batches must be committed in the order they were prepared."""
        if self.halted:
            raise VenueHalted(self.halted)
        try:
            position = self.ledger.record(prepared.events, prepared.handled, prepared.checkpoints,
                                          prepared.snapshots)
        except Exception as error:
            self.halted = f"venue halted by {type(error).__name__}: {error}"
            raise
        for record in prepared.handled:
            if self.handled.get(record.command_id) is record:
                self.handled[record.command_id] = replace(record, log_position=position)
        if len(self.handled) > HANDLED_IN_MEMORY:  # the oldest are looked up in the store when resent
            for command_id in list(itertools.islice(self.handled, len(self.handled) // 2)):
                del self.handled[command_id]
        for outcome in prepared.outcomes:
            if outcome.duplicate:
                earlier = self.handled.get(outcome.command_id)
                if earlier is not None and earlier.log_position:
                    outcome.log_position = earlier.log_position
            elif outcome.ok and outcome.result is not None:
                outcome.log_position = position
        return prepared.outcomes

    def _digests_and_duplicates(self, batch: BatchState) -> list[str]:
        digests: list[str] = []
        seen_in_batch: dict[str, str] = {}
        unknown = [cmd.command_id for cmd in batch.commands
                   if isinstance(cmd.command_id, str) and cmd.command_id not in self.handled]
        self.handled.update(self.ledger.command_records(unknown))
        for index, command in enumerate(batch.commands):
            try:
                digest = self.ledger.digest(command)
            except LedgerError as error:
                batch.outcomes[index].error = error.with_traceback(None)
                digests.append("")
                continue
            digests.append(digest)
            previous = self.handled.get(command.command_id)
            earlier = seen_in_batch.get(command.command_id)
            if previous is not None or earlier is not None:
                recorded_digest = previous.digest if previous is not None else earlier
                if recorded_digest != digest:
                    batch.outcomes[index].error = CommandConflict(
                        f"command id {command.command_id} was already used for a different command",
                        command_id=command.command_id)
                elif previous is not None:
                    batch.outcomes[index].duplicate = True
                    batch.outcomes[index].result = previous.result
                    batch.outcomes[index].log_position = previous.log_position
                else:
                    batch.outcomes[index].error = CommandConflict(
                        f"command id {command.command_id} appears twice in one batch; resend after the first "
                        "is acknowledged", command_id=command.command_id)
            seen_in_batch.setdefault(command.command_id, digest)
        return digests

    # ---- step 2: admission ---------------------------------------------------------------------
    def _admit(self, batch: BatchState, index: int, command: c.Command) -> dict[str, Any]:
        if isinstance(command, PlaceOrder):
            return self._admit_place(batch, index, command)
        if isinstance(command, CancelOrder):
            return self._admit_cancel(batch, index, command)
        if isinstance(command, AmendOrder):
            return self._admit_amend(batch, index, command)
        if isinstance(command, ExpireDue):
            return self._admit_expiry_sweep(batch, index)
        if isinstance(command, c.ChangeInstrument):
            self._check_units_unchanged_while_open(command)
        self._record_staged_holds(batch)  # the ledger's handlers move money directly
        aggregates, result = self.ledger.handle(command)
        for aggregate in aggregates:
            batch.touch(aggregate)
        return result

    def _check_units_unchanged_while_open(self, cmd: c.ChangeInstrument) -> None:
        units = {"tick_size", "lot_size"} & set(cmd.changes) if isinstance(cmd.changes, dict) else set()
        if not units or not isinstance(cmd.symbol, str):
            return
        open_orders = (sum(1 for (symbol, _), order in self.live.items() if symbol == cmd.symbol and order.is_live)
                       + sum(1 for symbol, _ in self.pending if symbol == cmd.symbol))
        if open_orders:
            raise InstrumentHasOpenOrders(
                f"{cmd.symbol} has {open_orders} open orders: {', '.join(sorted(units))} may change only on an "
                "empty book (halt the instrument and let its orders be cancelled first)",
                symbol=cmd.symbol, open_orders=open_orders)

    def _admit_place(self, batch: BatchState, index: int, cmd: PlaceOrder) -> dict[str, Any]:
        instrument = self.ledger.instrument(cmd.symbol)
        account = self.ledger.account(cmd.account_id)
        runtime = self._runtime(instrument.symbol)
        self._refresh_spec(runtime, instrument)
        order_id = runtime.market.next_order_id + runtime.new_orders
        position = self._position(account.account_id, runtime.symbol, runtime.spec, create=False)
        lots = self.open_lots[(account.account_id, runtime.symbol)]
        exposure = Exposure(position.net_qty_lots if position else 0, lots[0], lots[1])
        plan = plan_order(cmd, order_id, instrument, account, self.limits, self.open_orders[account.account_id],
                          exposure, runtime.spec)
        wallet = self.ledger.wallet(account.account_id)
        terms = plan.terms
        placement = Placement(terms, hold_ref_of(runtime.symbol, order_id))
        wallet.stage_hold(placement.hold_ref, plan.hold.asset, placement.open_hold)  # InsufficientFunds: no effect
        batch.touch(wallet)
        self.pending[(runtime.symbol, order_id)] = placement
        runtime.opened[order_id] = account.account_id
        runtime.new_orders += 1
        batch.orders[index] = placement
        self._count_open(account.account_id, runtime.symbol, terms.side, terms.qty_lots)
        engine = plan.engine
        self._add_row(batch, runtime, index, codes.OP_NEW, order_id, account.account_id, engine.side,
                      engine.order_type, engine.qty, engine.price, engine.trigger_price, engine.tif,
                      engine.expire_at, engine.post_only, engine.display_qty, engine.stp, engine.flags)
        return {"symbol": runtime.symbol, "order_id": order_id, "status": "new"}

    def _owned_live_order(self, symbol: str, order_id: Any,
                          account_id: Any) -> tuple[MarketRuntime, Order | Placement]:
        instrument = self.ledger.instrument(symbol)
        runtime = self._runtime(instrument.symbol)
        key = (runtime.symbol, order_id)
        order: Order | Placement | None = None
        if isinstance(order_id, int):
            order = self.live.get(key) or self.pending.get(key)
        owner: Any = None
        if isinstance(order, Placement):
            owner = order.terms.account_id
        elif order is not None:
            owner = order.terms["account_id"]
        if order is None or owner != account_id or (isinstance(order, Order) and not order.is_live):
            raise UnknownOrder(f"no open order {order_id!r} of account {account_id!r} in {symbol}",
                               symbol=symbol, order_id=repr(order_id))
        return runtime, order

    def expiry_due(self, now_ns: int) -> bool:
        """Whether some market has a live gtd order due at `now_ns` (see ExpireDue)."""
        return any(self._due_expiry(runtime, now_ns) for runtime in self.markets.values())

    def _due_expiry(self, runtime: MarketRuntime, now_ns: int) -> bool:
        heap = runtime.expiries
        while heap and ((runtime.symbol, heap[0][1]) not in self.live
                        or not self.live[(runtime.symbol, heap[0][1])].is_live):
            heapq.heappop(heap)  # closed meanwhile
        return bool(heap) and heap[0][0] <= now_ns

    def _admit_expiry_sweep(self, batch: BatchState, index: int) -> dict[str, Any]:
        swept = []
        for runtime in self.markets.values():
            if self._due_expiry(runtime, batch.now_ns):
                self._add_row(batch, runtime, index, codes.OP_CANCEL, SWEEP_ORDER_ID, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                              0, 0, 0)
                swept.append(runtime.symbol)
        return {"markets": swept}

    def _admit_cancel(self, batch: BatchState, index: int, cmd: CancelOrder) -> dict[str, Any]:
        runtime, _ = self._owned_live_order(cmd.symbol, cmd.order_id, cmd.account_id)
        self._add_row(batch, runtime, index, codes.OP_CANCEL, cmd.order_id, cmd.account_id, 0, 0, 0, 0, 0, 0, 0, 0,
                      0, 0, 0)
        return {"symbol": runtime.symbol, "order_id": cmd.order_id, "status": "pending"}

    def _admit_amend(self, batch: BatchState, index: int, cmd: AmendOrder) -> dict[str, Any]:
        runtime, order = self._owned_live_order(cmd.symbol, cmd.order_id, cmd.account_id)
        spec = runtime.spec
        flags = 0
        price = order.price_ticks
        qty = order.leaves_qty_lots
        if cmd.price is None and cmd.qty is None:
            raise OrderRefused("invalid_amend", "an amend changes the price, the qty or both")
        order_type = order.terms.order_type if isinstance(order, Placement) else order.terms["order_type"]
        if cmd.price is not None:
            if order_type in ("market", "stop_market"):
                raise OrderRefused("not_amendable", "a market order's protection price cannot be amended")
            price = spec.check_price(spec.price_to_ticks(_decimal_text(cmd.price, "price")))
            flags |= codes.HAS_PRICE
        if cmd.qty is not None:
            qty = spec.check_qty(spec.qty_to_lots(_decimal_text(cmd.qty, "qty")))
            flags |= codes.HAS_QTY
        side = Side(order.terms.side if isinstance(order, Placement) else order.terms["side"])
        new_terms = hold_terms(spec, side, price)
        # The engine applies this amend after the batch's earlier commands, whose fills and amends are not
        # known yet. Hold enough for any of them: a qty amend sets the open lots, so it holds its whole new
        # cost until the engine has run; a price amend holds the per-lot increase on the most lots the
        # order could then have. The surplus is released when the engine's answer is applied.
        key = (runtime.symbol, cmd.order_id)
        bound_lots, units = batch.amend_bounds.get(key, (order.leaves_qty_lots, [order.hold_per_lot]))
        if cmd.qty is not None:
            extra = new_terms.amount(qty)
            bound_lots = max(bound_lots, qty)
        else:
            extra = bound_lots * max(0, new_terms.per_lot - min(units))
        batch.amend_bounds[key] = (bound_lots, [*units, new_terms.per_lot])
        if extra:
            wallet = self.ledger.wallet(cmd.account_id)
            wallet.stage_hold(order.hold_ref, new_terms.asset, extra)
            batch.touch(wallet)
        batch.amend_holds.setdefault(key, {})[index] = extra
        self._add_row(batch, runtime, index, codes.OP_AMEND, cmd.order_id, cmd.account_id, 0, 0,
                      qty if cmd.qty is not None else 0, price if cmd.price is not None else 0, 0, 0, 0, 0, 0, 0,
                      flags)
        return {"symbol": runtime.symbol, "order_id": cmd.order_id, "status": "pending"}

    def _add_row(self, batch: BatchState, runtime: MarketRuntime, index: int, op: int, order_id: int,
                 account_id: int, side: int, order_type: int, qty: int, price: int, trigger_price: int, tif: int,
                 expire_at: int, post_only: int, display_qty: int, stp: int, flags: int) -> None:
        values = {"ts": batch.now_ns, "order_id": order_id, "account_id": account_id, "qty": qty, "price": price,
                  "trigger_price": trigger_price, "expire_at": expire_at, "display_qty": display_qty, "op": op,
                  "side": side, "type": order_type, "tif": tif, "stp": stp, "post_only": post_only, "flags": flags}
        runtime.rows.append(tuple(values[name] for name in ROW_FIELDS))
        runtime.row_commands.append(index)

    # ---- step 3 and 4: the engine, then its events onto the aggregates -------------------------
    def _match(self, batch: BatchState, runtime: MarketRuntime) -> None:
        first_seq = runtime.market.last_seq + 1
        rows = runtime.rows
        events = runtime.book.process(self._rows_array(first_seq, rows))
        current = -1
        for event in events:
            index = runtime.row_commands[int(event["seq"]) - first_seq]
            if index != current and current >= 0:
                self._flush_all_fills(batch, batch.commands[current].command_id)
                self._answer_placement(batch, current)
            current = index
            with causation(batch.now_ns, batch.commands[index].command_id):
                self._apply_engine_event(batch, runtime, index, event)
        if current >= 0:
            self._flush_all_fills(batch, batch.commands[current].command_id)
            self._answer_placement(batch, current)
        with causation(batch.now_ns, f"batch:{runtime.symbol}:{first_seq}"):
            live_opened = tuple(sorted((order_id, account) for order_id, account in runtime.opened.items()
                                       if (runtime.symbol, order_id) in self.live))
            next_order_id = runtime.market.next_order_id + runtime.new_orders
            packed = base64.b64encode(np.asarray(rows, dtype="<i8").tobytes()).decode("ascii")
            runtime.market.record_batch(first_seq, len(rows), len(ROW_FIELDS), packed, events_digest(events),
                                        runtime.trades, live_opened, tuple(runtime.closed), next_order_id)
        batch.touch(runtime.market)
        if runtime.market.last_seq - runtime.checkpoint_seq >= self.checkpoint_every:
            batch.checkpoints.append(EngineCheckpoint(runtime.symbol, runtime.market.last_seq, runtime.market.version,
                                                      runtime.book.snapshot().to_bytes()))
            runtime.checkpoint_seq = runtime.market.last_seq
        runtime.rows.clear()
        runtime.row_commands.clear()
        runtime.opened.clear()
        runtime.forget.extend(runtime.closed)
        runtime.closed.clear()
        runtime.new_orders = 0
        runtime.trades = 0

    @staticmethod
    def _answer_placement(batch: BatchState, index: int) -> None:
        """A new order's result: its state right after the engine handled it (later commands of the batch
        may fill or cancel it; they report that themselves, and the order's events record it)."""
        order = batch.orders.get(index)
        result = batch.outcomes[index].result
        if result is not None and isinstance(order, Order):
            result.update(status=order.status, filled_qty_lots=order.filled_qty_lots,
                          leaves_qty_lots=order.leaves_qty_lots)

    def _apply_engine_event(self, batch: BatchState, runtime: MarketRuntime, index: int, event: Any) -> None:
        kind = int(event["type"])
        symbol = runtime.symbol
        outcome = batch.outcomes[index]
        result = outcome.result if outcome.result is not None else {}
        if kind == codes.EV_TRADE:
            self._trade(batch, runtime, event)
            return
        order_id = int(event["order_id"])
        command = batch.commands[index]
        placement = self.pending.pop((symbol, order_id), None) if isinstance(command, PlaceOrder) else None
        if placement is not None:  # the engine's answer to a new order: now it becomes an Order
            self._place(batch, runtime, index, placement, event, kind)
            return
        order = self.live.get((symbol, order_id))
        if kind == codes.EV_REJECTED and isinstance(command, ExpireDue):
            require(order_id == SWEEP_ORDER_ID, "only the sweep row of an expiry sweep is rejected")
            return  # the sweep's own row: the engine ran its expiries, then refused the cancel of id 0
        if kind == codes.EV_REJECTED:
            reason = codes.REASON_NAMES[int(event["reason"])]
            result.update(status="rejected", reason=reason)
            if isinstance(command, AmendOrder) and order is not None:
                extra = batch.amend_holds.get((symbol, order_id), {}).pop(index, 0)
                if extra:
                    self._release(batch, order, extra)
            return
        require(order is not None, f"engine event for unknown order {symbol}:{order_id}")
        assert order is not None
        self._flush_fills(batch, order)
        if kind == codes.EV_CANCELLED:
            qty = int(event["qty"])
            require(qty == order.leaves_qty_lots, f"engine cancelled {qty} lots of {order.hold_ref}, "
                    f"the ledger has {order.leaves_qty_lots} open")
            reason = codes.REASON_NAMES[int(event["reason"])]
            if reason == "ioc" and order.terms["order_type"] in ("market", "stop_market"):
                reason = "no_liquidity"  # protected market orders run as ioc limits in the engine
            before = order.open_hold
            self._adjust_open_lots(order, -order.leaves_qty_lots)
            order.cancel(reason)
            self._close(batch, runtime, order, release=before)
            if isinstance(batch.commands[index], CancelOrder):
                result["status"] = "cancelled"
        elif kind == codes.EV_EXPIRED:
            before = order.open_hold
            self._adjust_open_lots(order, -order.leaves_qty_lots)
            order.expire()
            self._close(batch, runtime, order, release=before)
        elif kind == codes.EV_AMENDED:
            self._amended(batch, runtime, order, int(event["price"]), int(event["qty"]), index)
            result["status"] = "amended"
        elif kind == codes.EV_TRIGGERED:
            order.trigger()
        elif kind == EV_DECREMENTED:
            order.reduce(int(event["qty"]), "stp")
            self._release(batch, order, int(event["qty"]) * order.hold_per_lot)
            self._adjust_open_lots(order, -int(event["qty"]))
        batch.touch(order)

    def _place(self, batch: BatchState, runtime: MarketRuntime, index: int, placement: Placement, event: Any,
               kind: int) -> None:
        if kind == codes.EV_ACCEPTED:
            order = Order.place(placement.terms, OrderStatus.ACCEPTED)
            self.live[(runtime.symbol, placement.terms.order_id)] = order
            if placement.terms.tif == "gtd" and placement.terms.expire_at_ns:
                heapq.heappush(runtime.expiries, (placement.terms.expire_at_ns, placement.terms.order_id))
        else:
            require(kind == codes.EV_REJECTED, "the engine answers a new order first")
            reason = codes.REASON_NAMES[int(event["reason"])]
            order = Order.place(placement.terms, OrderStatus.REJECTED, reason)
            self._adjust_lots(placement.terms.account_id, runtime.symbol, placement.terms.side,
                              -placement.terms.qty_lots)
            self._close(batch, runtime, order, release=placement.open_hold)
        batch.orders[index] = order
        batch.touch(order)

    def _amended(self, batch: BatchState, runtime: MarketRuntime, order: Order, price: int, qty: int,
                 index: int) -> None:
        side = Side(order.terms["side"])
        extra = batch.amend_holds.get((runtime.symbol, int(order.terms["order_id"])), {}).pop(index, 0)
        held_now = order.open_hold + extra
        if order.terms["order_type"] in ("market", "stop_market"):
            price = order.price_ticks
        new_terms = hold_terms(runtime.spec, side, price)
        self._adjust_open_lots(order, qty - order.leaves_qty_lots)
        order.amend(price, qty, new_terms.per_lot)
        surplus = held_now - new_terms.amount(qty)
        require(surplus >= 0, "an amend's hold was taken before the engine ran")
        if surplus:
            self._release(batch, order, surplus)

    def _trade(self, batch: BatchState, runtime: MarketRuntime, event: Any) -> None:
        symbol, spec = runtime.symbol, runtime.spec
        taker = self.live[(symbol, int(event["order_id"]))]
        maker = self.live[(symbol, int(event["maker_order_id"]))]
        price, qty = int(event["price"]), int(event["qty"])
        runtime.trades += 1
        trade_id = f"{symbol}:{runtime.market.trades + runtime.trades}"
        notional = spec.notional(price, qty)
        base_amount = spec.base_amount(qty)
        taker_fee, maker_fee = spec.fee(notional, Liquidity.TAKER), spec.fee(notional, Liquidity.MAKER)
        taker_buys = int(event["side"]) == codes.SIDE_BUY
        buyer, seller = (taker, maker) if taker_buys else (maker, taker)
        buyer_fee, seller_fee = (taker_fee, maker_fee) if taker_buys else (maker_fee, taker_fee)
        buyer_account, seller_account = int(buyer.terms["account_id"]), int(seller.terms["account_id"])
        # Settlement postings, applied together at the end of the batch (in this order).
        if buyer_account != seller_account:
            self._pay(batch, Posting(f"{trade_id}:quote", spec.quote, notional, buyer_account,
                                          seller_account, "trade", buyer.hold_ref))
            self._pay(batch, Posting(f"{trade_id}:base", spec.base, base_amount, seller_account,
                                          buyer_account, "trade", seller.hold_ref))
        else:  # a self-trade (stp none) moves nothing between wallets: both legs just leave their holds
            self._release(batch, buyer, notional)
            self._release(batch, seller, base_amount)
        if buyer_fee:
            self._pay(batch, Posting(f"{trade_id}:fee:buyer", spec.quote, buyer_fee, buyer_account, FEE_ACCOUNT,
                                          "fee", buyer.hold_ref))
        if seller_fee:
            self._pay(batch, Posting(f"{trade_id}:fee:seller", spec.quote, seller_fee, seller_account,
                                          FEE_ACCOUNT, "fee"))
        # The buyer's hold covered qty lots at its per-lot cost; release what the fill did not use.
        unused = qty * buyer.hold_per_lot - notional - buyer_fee
        require(unused >= 0, f"trade {trade_id} costs more than the buyer's hold covers")
        if unused:
            self._release(batch, buyer, unused)
        for order, fee, liquidity in ((taker, taker_fee, Liquidity.TAKER), (maker, maker_fee, Liquidity.MAKER)):
            fill = Fill(trade_id, price, qty, fee, liquidity.value)
            batch.order_fills.setdefault(order.id, (order, []))[1].append(fill)
            fill_side = order.terms["side"]
            account = int(order.terms["account_id"])
            batch.position_fills[(account, symbol)].append(PositionFill(
                trade_id, fill_side, price, qty, price * spec.tick_lot_value, fee))
            self._adjust_open_lots(order, -qty)

    @staticmethod
    def _pay(batch: BatchState, posting: Posting) -> None:
        batch.postings.append(posting)
        if posting.hold_ref:
            batch.paid_from_hold[posting.hold_ref] += posting.amount

    def _flush_all_fills(self, batch: BatchState, command_id: str) -> None:
        """Record the fills gathered so far: one event per order, caused by the command that matched them."""
        with causation(batch.now_ns, command_id):
            for order, _ in list(batch.order_fills.values()):
                self._flush_fills(batch, order)

    def _flush_fills(self, batch: BatchState, order: Order) -> None:
        entry = batch.order_fills.pop(order.id, None)
        if entry is None:
            return
        fills = entry[1]
        order.record_fills(tuple(fills))
        batch.touch(order)
        if order.leaves_qty_lots == 0:
            runtime = self.markets[order.terms["symbol"]]
            self._close(batch, runtime, order, release=0)

    def _close(self, batch: BatchState, runtime: MarketRuntime, order: Order, release: int) -> None:
        """An order left the book: release what it still holds (`release`, checked) and stop tracking it."""
        order_id = int(order.terms["order_id"])
        extra = sum(batch.amend_holds.pop((runtime.symbol, order_id), {}).values())
        wallet = self.ledger.wallet(int(order.terms["account_id"]))
        held = wallet.hold_amount(order.hold_ref)
        to_release = held - batch.paid_from_hold[order.hold_ref]
        require(to_release == release + extra,
                f"order {order.hold_ref} holds {to_release}, expected {release} + {extra}")
        if to_release:
            self._release(batch, order, to_release)
        self.open_orders[int(order.terms["account_id"])] -= 1
        runtime.closed.append(order_id)
        batch.touch(order)

    def _release(self, batch: BatchState, order: Order, amount: int) -> None:
        wallet = self.ledger.wallet(int(order.terms["account_id"]))
        wallet.stage_release(order.hold_ref, amount)
        batch.touch(wallet)

    def _record_staged_holds(self, batch: BatchState) -> None:
        """Write each wallet's staged hold changes as one event (before anything posts to the wallet)."""
        with causation(batch.now_ns, f"holds:{batch.now_ns}"):
            for aggregate in batch.touched.values():
                if isinstance(aggregate, Wallet) and aggregate.staged:
                    aggregate.record_staged()

    def _settle(self, batch: BatchState) -> None:
        """Apply the batch's settlement postings and position fills: one event per wallet and per position."""
        require(not batch.order_fills, "every fill was recorded on its order")
        with causation(batch.now_ns, f"settlement:{batch.now_ns}"):
            self._settle_in_scope(batch)

    def _settle_in_scope(self, batch: BatchState) -> None:
        self._record_staged_holds(batch)
        if batch.postings:
            accounts = sorted({p.debit_account for p in batch.postings} | {p.credit_account for p in batch.postings})
            wallets = {account: self.ledger.wallet(account) for account in accounts}
            post(batch.postings, wallets)
            for wallet in wallets.values():
                batch.touch(wallet)
        for (account, symbol), fills in batch.position_fills.items():
            position = self._position(account, symbol, self.markets[symbol].spec, create=True)
            assert position is not None
            position.apply_fills(tuple(fills))
            batch.touch(position)

    # ---- bookkeeping ---------------------------------------------------------------------------
    def _track_open(self, order: Order) -> None:
        symbol, account = order.terms["symbol"], int(order.terms["account_id"])
        self.live[(symbol, int(order.terms["order_id"]))] = order
        if order.terms.get("tif") == "gtd" and order.terms.get("expire_at_ns"):
            heapq.heappush(self.markets[symbol].expiries, (int(order.terms["expire_at_ns"]),
                                                           int(order.terms["order_id"])))
        self._count_open(account, symbol, order.terms["side"], order.leaves_qty_lots)

    def _count_open(self, account: int, symbol: str, side: str, lots: int) -> None:
        """Count a new open order and its lots for the risk limits."""
        self.open_orders[account] += 1
        self._adjust_lots(account, symbol, side, lots)

    def _adjust_lots(self, account: int, symbol: str, side: str, delta: int) -> None:
        self.open_lots[(account, symbol)][0 if side == "buy" else 1] += delta

    def _adjust_open_lots(self, order: Order, delta: int) -> None:
        self._adjust_lots(int(order.terms["account_id"]), order.terms["symbol"], order.terms["side"], delta)

    def _forget_closed_orders(self) -> None:
        for runtime in self.markets.values():
            for order_id in runtime.forget:
                order = self.live.get((runtime.symbol, order_id))
                if order is not None and not order.is_live:
                    del self.live[(runtime.symbol, order_id)]
            runtime.forget.clear()

    def _position(self, account_id: int, symbol: str, spec: InstrumentSpec, create: bool) -> Position | None:
        cache = self.ledger.cache
        assert cache is not None
        key = (Position, (account_id, symbol))
        position = cache.get(key)
        if position is None:
            try:
                if key in self.no_position:  # looked up before: the venue is the only writer of positions
                    raise AggregateNotFoundError(key)
                position = self.ledger.repository.get(position_id(account_id, symbol))
            except AggregateNotFoundError:
                if not create:
                    self.no_position.add(key)
                    return None
                position = Position(account_id=account_id, symbol=symbol, tick_lot_value=spec.tick_lot_value)
            self.no_position.discard(key)
            cache[key] = position
        require(isinstance(position, Position), "position id resolves to a position")
        return position  # type: ignore[return-value]

    def _prefetch_positions(self, commands: Sequence[c.Command]) -> None:
        """Learn in one query which positions of the batch's new orders exist (the others are absent)."""
        cache = self.ledger.cache
        assert cache is not None
        wanted: dict[Any, tuple[type[Position], tuple[int, str]]] = {}
        for command in commands:
            if isinstance(command, PlaceOrder) and isinstance(command.account_id, int) \
                    and isinstance(command.symbol, str):
                key = (Position, (command.account_id, command.symbol))
                if key not in cache and key not in self.no_position:
                    wanted[position_id(command.account_id, command.symbol)] = key
        if wanted:
            existing = self.ledger.store.select_existing(list(wanted))
            self.no_position.update(key for aggregate_id, key in wanted.items() if aggregate_id not in existing)

    def _runtime(self, symbol: str) -> MarketRuntime:
        runtime = self.markets.get(symbol)
        if runtime is not None:
            return runtime
        instrument = self.ledger.instrument(symbol)
        cache = self.ledger.cache
        assert cache is not None
        try:
            market: Market = self.ledger.repository.get(market_id(symbol))
        except AggregateNotFoundError:
            with causation(self.ledger.clock(), f"market:{symbol}"):
                market = Market(symbol=symbol)
        cache[(Market, symbol)] = market
        runtime = MarketRuntime(symbol, OrderBook(self.book_config), market, instrument.spec, instrument.version)
        self.markets[symbol] = runtime
        return runtime

    def _refresh_spec(self, runtime: MarketRuntime, instrument: Any) -> None:
        if instrument.version != runtime.spec_version:
            runtime.spec, runtime.spec_version = instrument.spec, instrument.version

    @staticmethod
    def _packed_rows_array(first_seq: int, packed: str, width: int) -> np.ndarray:
        """The engine input of a recorded batch (domain.market's packed rows, in ROW_FIELDS order)."""
        if width != len(ROW_FIELDS):
            raise VenueStartError(f"recorded engine rows have {width} fields, this engine takes {len(ROW_FIELDS)}")
        values = np.frombuffer(base64.b64decode(packed, validate=True), dtype="<i8").reshape(-1, width)
        array = np.zeros(len(values), dtype=COMMAND_DTYPE)
        for name_index, name in enumerate(ROW_FIELDS):
            array[name] = values[:, name_index]
        array["seq"] = np.arange(first_seq, first_seq + len(values), dtype=np.int64)
        return array

    @staticmethod
    def _rows_array(first_seq: int, rows: Sequence[Sequence[int]]) -> np.ndarray:
        array = np.zeros(len(rows), dtype=COMMAND_DTYPE)
        for name_index, name in enumerate(ROW_FIELDS):
            array[name] = [row[name_index] for row in rows]
        array["seq"] = np.arange(first_seq, first_seq + len(rows), dtype=np.int64)
        return array


def warm_engine(config: BookConfig) -> None:
    """Compile the engine now (an empty batch and a depth query), not on a client's first order: about
    10 s on a fresh machine, under 0.5 s from numba's on-disk cache."""
    book = OrderBook(config)
    book.process(np.zeros(0, dtype=COMMAND_DTYPE))
    book.depth(1)


def hold_ref_of(symbol: str, order_id: int) -> str:
    return f"order:{symbol}:{order_id}"


def events_digest(events: np.ndarray) -> str:
    """sha256 of the engine events, field by field (never the raw records: their padding bytes are undefined)."""
    digest = hashlib.sha256()
    for name in events.dtype.names or ():
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(events[name]).astype(events.dtype[name].newbyteorder("<")).tobytes())
    return digest.hexdigest()


def _decimal_text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidQuantity(f"{name} must be a decimal string, got {value!r}", field=name)
    return value
