"""The ledger application: handles ledger commands and saves each one's events in one transaction."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, JSONTranscoder, Recording, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.utils import get_topic

from commands import ledger_commands as c
from commands.ledger_store import (
    EngineCheckpoint,
    HandledCommand,
    LedgerRecorder,
    MemoryLedgerRecorder,
    body_digest,
)
from commands.transcodings import register_value_transcodings
from domain.account import Account
from domain.asset import AssetDefinition
from domain.checks import positive_int64
from domain.clock import causation
from domain.errors import (
    CommandConflict,
    DuplicateEntity,
    InvalidAmount,
    InvalidReferenceData,
    LedgerError,
    UnknownAccount,
    UnknownAsset,
    UnknownInstrument,
)
from domain.ids import account_id_uuid, asset_id, instrument_id, wallet_id
from domain.instrument import Instrument
from domain.market import Market
from domain.order import Order
from domain.position import Position
from domain.postings import Posting, post
from domain.values import EXTERNAL_ACCOUNT, SYSTEM_ACCOUNTS, Asset, InstrumentSpec
from domain.wallet import Wallet

A = TypeVar("A", bound=Aggregate)
Clock = Callable[[], int]  # int nanoseconds UTC
Handled = tuple[list[Aggregate], dict[str, Any]]

SYSTEM_COMMAND_ID = "system:open-system-wallets"


class ConcurrentUpdate(LedgerError):
    """Another writer changed an aggregate this command read; retrying the command is safe."""

    code = "concurrent_update"


@dataclass(frozen=True)
class CommandResult:
    command_id: str
    result: dict[str, Any]
    log_position: int  # read models at or after this position reflect the command
    duplicate: bool = False


class Ledger(Application[UUID]):
    """Aggregates of the ledger core, persisted by eventsourcing (PostgreSQL in every real mode)."""

    name = "Ledger"
    snapshotting_intervals = {Wallet: 100, Position: 100, Account: 50, Instrument: 50, Market: 100}  # noqa: RUF012

    def __init__(self, env: Mapping[str, str] | None = None, clock: Clock | None = None) -> None:
        super().__init__(env=env)
        if clock is None:
            raise InvalidReferenceData("the ledger needs a clock (int nanoseconds UTC)")
        self.clock = clock
        # The single writer keeps the aggregates it has loaded or created (None: load every time).
        self.cache: dict[tuple[type[Aggregate], Any], Aggregate] | None = None
        self._handlers: dict[type[c.Command], Callable[[Any], Handled]] = {
            c.RegisterAsset: self._register_asset,
            c.ListInstrument: self._list_instrument,
            c.ChangeInstrument: self._change_instrument,
            c.HaltInstrument: lambda cmd: self._instrument_step(cmd, lambda i: i.halt(cmd.reason)),
            c.ResumeInstrument: lambda cmd: self._instrument_step(cmd, lambda i: i.resume()),
            c.DelistInstrument: lambda cmd: self._instrument_step(cmd, lambda i: i.delist(cmd.reason)),
            c.OpenAccount: self._open_account,
            c.SubmitKyc: lambda cmd: self._account_step(cmd, lambda a: a.submit_kyc(cmd.documents_ref)),
            c.VerifyKyc: lambda cmd: self._account_step(cmd, lambda a: a.verify_kyc(cmd.reviewer)),
            c.RejectKyc: lambda cmd: self._account_step(cmd, lambda a: a.reject_kyc(cmd.reviewer, cmd.reason)),
            c.FreezeAccount: lambda cmd: self._account_step(cmd, lambda a: a.freeze(cmd.reason)),
            c.UnfreezeAccount: lambda cmd: self._account_step(cmd, lambda a: a.unfreeze()),
            c.UpdateProfile: lambda cmd: self._account_step(cmd, lambda a: a.update_profile(cmd.profile)),
            c.Deposit: self._deposit,
            c.Withdraw: self._withdraw,
            c.PlaceHold: self._place_hold,
            c.ReleaseHold: self._release_hold,
            c.Settle: self._settle,
        }

    def construct_recorder(self) -> ApplicationRecorder:
        recorder = super().construct_recorder()
        if type(recorder) is POPOApplicationRecorder:  # the in-memory store, plus its command table
            recorder = MemoryLedgerRecorder()
        if not isinstance(recorder, LedgerRecorder):
            raise InvalidReferenceData(f"the ledger needs a recorder with a command log, not {type(recorder)}")
        return recorder

    @property
    def store(self) -> LedgerRecorder:
        recorder: Any = self.recorder
        return recorder  # type: ignore[no-any-return]

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """eventsourcing's save, collecting the events of aggregates without a runtime protocol check per
        object (which cost more than the rest of collecting at thousands of aggregates per batch)."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        events = processing_event.events
        for obj in objs:
            if isinstance(obj, Aggregate):
                events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            elif obj is not None:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def record(self, events: list[Any], commands: Sequence[HandledCommand],
               engine_checkpoints: Sequence[EngineCheckpoint] = (), snapshots: Sequence[StoredEvent] = ()) -> int:
        """Store already collected events and the handled commands in one transaction; returns the log
        position (the last notification id written, or the head).

        Unlike `save`, this builds no Recording objects and takes no snapshots itself: `snapshots` (encoded
        by `encode_due_snapshots`) are stored after the events, as eventsourcing stores snapshots after a
        save.
        """
        stored = [self.mapper.to_stored_event(event) for event in events]
        ids = self.recorder.insert_events(stored, commands=commands, engine_checkpoints=engine_checkpoints)
        if self.snapshots is not None and snapshots:
            # a snapshot at that version may exist already: snapshots only shorten loading
            with contextlib.suppress(IntegrityError):
                self.snapshots.recorder.insert_events(list(snapshots))
        if ids:
            return int(ids[-1])
        return int(self.recorder.max_notification_id() or 0)

    def encode_due_snapshots(self, events: Sequence[Any], aggregates: Mapping[UUID, Aggregate]) -> list[StoredEvent]:
        """Snapshots of the aggregates whose version reached a multiple of their snapshot interval in
        `events`, taken from their state NOW and encoded at once (so the aggregates may move on before
        the events are stored). eventsourcing's own `take_snapshot` rebuilds the aggregate from the store
        instead: up to an interval's worth of events decoded per snapshot, which cost the single writer
        more than the rest of a batch's saving."""
        if self.snapshots is None or not self.snapshotting_intervals:
            return []
        due: dict[UUID, Aggregate] = {}
        for event in events:
            aggregate = aggregates.get(event.originator_id)
            if aggregate is None:
                continue
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval and event.originator_version % interval == 0:
                due[aggregate.id] = aggregate
        stored = []
        for aggregate in due.values():
            snapshot_class: Any = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
            stored.append(self.snapshots.mapper.to_stored_event(snapshot_class.take(aggregate)))
        return stored

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_value_transcodings(transcoder)

    # ---- the one entry point for commands ------------------------------------------------------
    def execute(self, command: c.Command) -> CommandResult:
        """Handle a command once. Raises a LedgerError (and stores nothing) when it is refused."""
        digest = self.digest(command)
        previous = self._previous_result(command, digest)
        if previous is not None:
            return previous
        with causation(self.clock(), command.command_id):
            aggregates, result = self.handle(command)
        try:
            recordings = self.save(*aggregates, commands=[HandledCommand(command.command_id, command.kind, digest,
                                                                         result)])
        except IntegrityError:
            previous = self._previous_result(command, digest)
            if previous is not None:
                return previous
            raise ConcurrentUpdate(f"command {command.command_id} raced another writer; retry it") from None
        position = max(r.notification.id for r in recordings)
        return CommandResult(command.command_id, result, position)

    @staticmethod
    def digest(command: c.Command) -> str:
        if not isinstance(command.command_id, str) or not 1 <= len(command.command_id) <= 128:
            raise InvalidReferenceData("command_id must be a string of 1 to 128 characters")
        return body_digest(command.kind, command.body())

    def handle(self, command: c.Command) -> Handled:
        """Validate and apply a command to its aggregates (not saved). Call inside a causation scope.

        Either raises a LedgerError before any aggregate changes, or returns every aggregate it changed.
        """
        handler = self._handlers.get(type(command))
        if handler is None:
            raise InvalidReferenceData(f"no handler for {type(command).__name__}")
        return handler(command)

    def command_records(self, command_ids: Sequence[str]) -> dict[str, HandledCommand]:
        """The recorded commands among `command_ids` (one query on PostgreSQL)."""
        return self.store.select_commands(command_ids)

    def _previous_result(self, command: c.Command, digest: str) -> CommandResult | None:
        record = self.store.select_commands([command.command_id]).get(command.command_id)
        if record is None:
            return None
        if record.digest != digest:
            raise CommandConflict(f"command id {command.command_id} was already used for a different command",
                                  command_id=command.command_id, kind=record.kind)
        return CommandResult(command.command_id, record.result, record.log_position, duplicate=True)

    # ---- loading -------------------------------------------------------------------------------
    def _get(self, cls: type[A], id_of: Callable[[Any], UUID], key: Any) -> A | None:
        """The aggregate of `cls` whose natural key is `key` (its id is `id_of(key)`), or None.

        The single writer's cache is keyed by (class, natural key): ints and strings hash in C, where a
        UUID key would call UUID.__hash__ in Python on every lookup (several per command).
        """
        cache = self.cache
        if cache is not None:
            cached = cache.get((cls, key))
            if cached is not None:
                return cached  # type: ignore[return-value]
        aggregate = self._load(cls, id_of(key))
        if aggregate is None:
            return None
        if cache is not None:
            cache[(cls, key)] = aggregate
        return aggregate

    def asset(self, code: Any) -> Asset:
        definition = self._get(AssetDefinition, asset_id, code) if isinstance(code, str) else None
        if definition is None:
            raise UnknownAsset(f"unknown asset {code!r}", asset=repr(code))
        return definition.asset

    def instrument(self, symbol: Any) -> Instrument:
        instrument = self._get(Instrument, instrument_id, symbol) if isinstance(symbol, str) else None
        if instrument is None:
            raise UnknownInstrument(f"unknown instrument {symbol!r}", symbol=repr(symbol))
        return instrument

    def account(self, account_id: Any) -> Account:
        account = self._get(Account, account_id_uuid, account_id) if _is_int(account_id) else None
        if account is None:
            raise UnknownAccount(f"unknown account {account_id!r}", account_id=repr(account_id))
        return account

    def wallet(self, account_id: int) -> Wallet:
        if account_id not in SYSTEM_ACCOUNTS:
            self.account(account_id)
        wallet = self._get(Wallet, wallet_id, account_id)
        if wallet is None:
            raise UnknownAccount(f"account {account_id} has no wallet", account_id=account_id)
        return wallet

    def order(self, order_aggregate_id: UUID) -> Order | None:
        """An order as stored (orders are not cached here: the venue keeps its open orders itself)."""
        try:
            order: Aggregate = self.repository.get(order_aggregate_id)
        except AggregateNotFoundError:
            return None
        if not isinstance(order, Order):
            raise InvalidReferenceData(f"{order_aggregate_id} is not an order")
        return order

    def _canonical(self, aggregate: A, key: Any) -> A:
        """The cached copy of an aggregate loaded by id, if there is one (one object per aggregate)."""
        if self.cache is None:
            return aggregate
        return self.cache.setdefault((type(aggregate), key), aggregate)  # type: ignore[return-value]

    def _load(self, cls: type[A], aggregate_id: UUID) -> A | None:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        if not isinstance(aggregate, cls):
            raise InvalidReferenceData(f"{aggregate_id} is not a {cls.__name__}")
        return aggregate

    def list_of(self, created_event: type[Aggregate.Event]) -> Iterator[UUID]:
        """Ids of every aggregate created with `created_event`, in log order (reference data lookups)."""
        topic = get_topic(created_event)
        start, page = 1, 1000
        while True:
            notifications = self.recorder.select_notifications(start, page, topics=[topic])
            for notification in notifications:
                yield UUID(str(notification.originator_id))
            if len(notifications) < page:
                return
            start = notifications[-1].id + 1

    def instruments(self) -> list[Instrument]:
        return [self.instrument_by_id(i) for i in self.list_of(Instrument.Created)]

    def instrument_by_id(self, aggregate_id: UUID) -> Instrument:
        instrument = self._load(Instrument, aggregate_id)
        if instrument is None:
            raise UnknownInstrument(f"unknown instrument {aggregate_id}")
        return self._canonical(instrument, instrument.symbol)

    def accounts(self) -> list[Account]:
        found = (self._load(Account, i) for i in self.list_of(Account.Created))
        return [self._canonical(a, a.account_id) for a in found if a is not None]

    # ---- bootstrap -----------------------------------------------------------------------------
    def open_system_wallets(self) -> None:
        """Open the wallets of the system accounts (external world, fees) once; safe to call again."""
        if self.store.select_commands([SYSTEM_COMMAND_ID]):
            return
        with causation(self.clock(), SYSTEM_COMMAND_ID):
            wallets = [Wallet.open(account) for account in sorted(SYSTEM_ACCOUNTS)]
        record = HandledCommand(SYSTEM_COMMAND_ID, "open_system_wallets", "", {"accounts": sorted(SYSTEM_ACCOUNTS)})
        try:
            self.save(*wallets, commands=[record])
        except IntegrityError:
            if not self.store.select_commands([SYSTEM_COMMAND_ID]):
                raise

    # ---- handlers: validate, build events, return what to save ---------------------------------
    def _created(self, aggregate: A, key: Any) -> A:
        if self.cache is not None:
            self.cache[(type(aggregate), key)] = aggregate
        return aggregate

    def _register_asset(self, cmd: c.RegisterAsset) -> Handled:
        asset = Asset(cmd.code, cmd.scale)
        if self._get(AssetDefinition, asset_id, asset.code) is not None:
            raise DuplicateEntity(f"asset {asset.code} is already registered", asset=asset.code)
        return [self._created(AssetDefinition(code=asset.code, scale=asset.scale), asset.code)], {"asset": asset.code}

    def _list_instrument(self, cmd: c.ListInstrument) -> Handled:
        base, quote = self.asset(cmd.base), self.asset(cmd.quote)
        body = cmd.body()
        spec = InstrumentSpec(base_scale=base.scale, quote_scale=quote.scale, **body)
        if self._get(Instrument, instrument_id, spec.symbol) is not None:
            raise DuplicateEntity(f"instrument {spec.symbol} is already listed", symbol=spec.symbol)
        if spec.symbol != f"{spec.base}-{spec.quote}":
            raise InvalidReferenceData(f"symbol {spec.symbol} must be {spec.base}-{spec.quote}")
        return [self._created(Instrument.from_spec(spec), spec.symbol)], {"symbol": spec.symbol}

    def _change_instrument(self, cmd: c.ChangeInstrument) -> Handled:
        instrument = self.instrument(cmd.symbol)
        instrument.change(dict(cmd.changes))
        return [instrument], {"symbol": instrument.symbol, "changes": dict(cmd.changes)}

    def _instrument_step(self, cmd: Any, step: Callable[[Instrument], None]) -> Handled:
        instrument = self.instrument(cmd.symbol)
        step(instrument)
        return [instrument], {"symbol": instrument.symbol, "status": instrument.status}

    def _open_account(self, cmd: c.OpenAccount) -> Handled:
        account = Account.open(cmd.account_id, cmd.profile, cmd.preferences)
        if self._get(Account, account_id_uuid, cmd.account_id) is not None:
            raise DuplicateEntity(f"account {cmd.account_id} already exists", account_id=cmd.account_id)
        wallet = Wallet.open(cmd.account_id)
        created: list[Aggregate] = [self._created(account, cmd.account_id), self._created(wallet, cmd.account_id)]
        return created, {"account_id": cmd.account_id}

    def _account_step(self, cmd: Any, step: Callable[[Account], None]) -> Handled:
        account = self.account(cmd.account_id)
        step(account)
        return [account], {"account_id": account.account_id, "kyc": account.kyc, "frozen": account.frozen}

    def _deposit(self, cmd: c.Deposit) -> Handled:
        asset = self.asset(cmd.asset)
        amount = positive_int64(cmd.amount, InvalidAmount, "amount")
        wallet, world = self.wallet(cmd.account_id), self.wallet(EXTERNAL_ACCOUNT)
        post([Posting(cmd.command_id, asset.code, amount, EXTERNAL_ACCOUNT, cmd.account_id, "deposit")],
             {EXTERNAL_ACCOUNT: world, cmd.account_id: wallet})
        return [wallet, world], self._balance_result(wallet, asset.code)

    def _withdraw(self, cmd: c.Withdraw) -> Handled:
        asset = self.asset(cmd.asset)
        amount = positive_int64(cmd.amount, InvalidAmount, "amount")
        self.account(cmd.account_id).require_may_trade()
        wallet, world = self.wallet(cmd.account_id), self.wallet(EXTERNAL_ACCOUNT)
        post([Posting(cmd.command_id, asset.code, amount, cmd.account_id, EXTERNAL_ACCOUNT, "withdrawal")],
             {EXTERNAL_ACCOUNT: world, cmd.account_id: wallet})
        return [wallet, world], self._balance_result(wallet, asset.code)

    def _place_hold(self, cmd: c.PlaceHold) -> Handled:
        asset = self.asset(cmd.asset)
        amount = positive_int64(cmd.amount, InvalidAmount, "amount")
        if not isinstance(cmd.hold_ref, str) or not cmd.hold_ref:
            raise InvalidReferenceData("hold_ref must be a non-empty string")
        self.account(cmd.account_id).require_may_trade()
        wallet = self.wallet(cmd.account_id)
        wallet.hold(cmd.hold_ref, asset.code, amount)
        return [wallet], self._balance_result(wallet, asset.code)

    def _release_hold(self, cmd: c.ReleaseHold) -> Handled:
        amount = None if cmd.amount is None else positive_int64(cmd.amount, InvalidAmount, "amount")
        wallet = self.wallet(cmd.account_id)
        released = wallet.release(cmd.hold_ref, amount)
        asset = str(wallet.pending_events[-1].asset)  # type: ignore[attr-defined]
        return [wallet], {**self._balance_result(wallet, asset), "released": released}

    def _settle(self, cmd: c.Settle) -> Handled:
        asset = self.asset(cmd.asset)
        amount = positive_int64(cmd.amount, InvalidAmount, "amount")
        payer, payee = self.wallet(cmd.payer), self.wallet(cmd.payee)
        post([Posting(cmd.command_id, asset.code, amount, cmd.payer, cmd.payee, "settlement", cmd.hold_ref)],
             {cmd.payer: payer, cmd.payee: payee})
        return [payer, payee], {"payer": self._balance_result(payer, asset.code),
                                "payee": self._balance_result(payee, asset.code)}

    @staticmethod
    def _balance_result(wallet: Wallet, asset: str) -> dict[str, Any]:
        balance = wallet.balance(asset)
        return {"account_id": wallet.account_id, "asset": asset, "total": balance.total,
                "held": balance.held, "available": balance.available}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
