"""Wallets: per-asset balances of one account, moved only by balanced double-entry postings.

Each account (system accounts included) has one wallet. A posting moves `amount` of one asset from a
debit account to a credit account, so it writes one entry of -amount into the payer's wallet and one of
+amount into the payee's wallet: summed over all wallets, every asset's balance is always zero.
The outside world (EXTERNAL_ACCOUNT) is the only wallet whose balance may go negative: deposits come
from it and withdrawals go to it.

Holds set funds aside (for open orders, pending withdrawals): held <= total and
available = total - held >= 0 in every wallet but the external one. A posting may be paid from a
hold (`hold_ref`), which consumes that hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.base import LedgerAggregate
from domain.checks import require
from domain.errors import HoldExceeded, InsufficientFunds, InvalidReferenceData, UnknownHold
from domain.ids import wallet_id
from domain.values import EXTERNAL_ACCOUNT, SYSTEM_ACCOUNTS, valid_account_id


@dataclass(frozen=True)
class Entry:
    """One leg of a posting, as seen from the wallet it is written to."""

    posting_id: str
    asset: str
    amount: int  # signed change of this wallet's total: + received, - paid
    counterparty: int  # the account on the other leg
    kind: str  # deposit, withdrawal, transfer, trade, fee, ...
    hold_ref: str = ""  # for a debit paid from a hold: that hold; else ""


@dataclass(frozen=True)
class HoldChange:
    """One change of one hold: + sets funds aside, - releases them."""

    hold_ref: str
    asset: str
    amount: int


@dataclass(frozen=True)
class Balance:
    total: int
    held: int

    @property
    def available(self) -> int:
        return self.total - self.held


class Wallet(LedgerAggregate):
    TOPIC = "tradex.Wallet"

    @staticmethod
    def create_id(account_id: int) -> UUID:
        return wallet_id(account_id)

    @dataclass(frozen=True)
    class Created(LedgerAggregate.Event, Aggregate.Created):
        TOPIC = "tradex.Wallet.Opened"
        account_id: int

    @dataclass(frozen=True)
    class EntriesPosted(LedgerAggregate.Event):
        TOPIC = "tradex.Wallet.EntriesPosted"
        entries: tuple[Entry, ...]

        def apply(self, aggregate: Any) -> None:
            totals = aggregate.totals
            for entry in self.entries:
                totals[entry.asset] = totals.get(entry.asset, 0) + entry.amount
                if entry.hold_ref:
                    aggregate._reduce_hold(entry.hold_ref, entry.asset, -entry.amount)

    @dataclass(frozen=True)
    class FundsHeld(LedgerAggregate.Event):
        TOPIC = "tradex.Wallet.FundsHeld"
        hold_ref: str
        asset: str
        amount: int

        def apply(self, aggregate: Any) -> None:
            aggregate._apply_hold_change(HoldChange(self.hold_ref, self.asset, self.amount))

    @dataclass(frozen=True)
    class HoldReleased(LedgerAggregate.Event):
        TOPIC = "tradex.Wallet.HoldReleased"
        hold_ref: str
        asset: str
        amount: int

        def apply(self, aggregate: Any) -> None:
            aggregate._reduce_hold(self.hold_ref, self.asset, self.amount)

    @dataclass(frozen=True)
    class HoldsChanged(LedgerAggregate.Event):
        """Several hold changes at once: what a batch of orders held and released in this wallet."""

        TOPIC = "tradex.Wallet.HoldsChanged"
        changes: tuple[HoldChange, ...]

        def apply(self, aggregate: Any) -> None:
            for change in self.changes:
                aggregate._apply_hold_change(change)

    @classmethod
    def open(cls, account_id: int) -> Wallet:
        if not (valid_account_id(account_id) or account_id in SYSTEM_ACCOUNTS):
            raise InvalidReferenceData(f"no wallet can exist for account {account_id!r}")
        return cls(account_id=account_id)

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        self.totals: dict[str, int] = {}
        self.held: dict[str, int] = {}
        self.holds: dict[str, list[Any]] = {}  # hold_ref -> [asset, amount]
        self.staged: list[HoldChange] = []  # hold changes applied but not yet recorded (see stage_hold)

    # ---- queries -------------------------------------------------------------------------------
    @property
    def may_go_negative(self) -> bool:
        return bool(self.account_id == EXTERNAL_ACCOUNT)

    def balance(self, asset: str) -> Balance:
        return Balance(self.totals.get(asset, 0), self.held.get(asset, 0))

    def balances(self) -> dict[str, Balance]:
        return {asset: self.balance(asset) for asset in sorted(set(self.totals) | set(self.held))}

    def hold_amount(self, hold_ref: str) -> int:
        entry = self.holds.get(hold_ref)
        return int(entry[1]) if entry else 0

    # ---- commands (validate, then trigger) -----------------------------------------------------
    def hold(self, hold_ref: str, asset: str, amount: int) -> None:
        """Set `amount` aside under `hold_ref` (adding to that hold if it exists)."""
        require(amount > 0, "hold amount must be positive")
        require(not self.staged, "record staged hold changes first")
        self._check_hold(hold_ref, asset, amount)
        self._trigger(self.FundsHeld, hold_ref=hold_ref, asset=asset, amount=amount)

    def _check_hold(self, hold_ref: str, asset: str, amount: int) -> None:
        existing = self.holds.get(hold_ref)
        if existing is not None and existing[0] != asset:
            raise InvalidReferenceData(f"hold {hold_ref} is in {existing[0]}, not {asset}", hold_ref=hold_ref)
        available = self.balance(asset).available
        if available < amount:
            raise InsufficientFunds(
                f"account {self.account_id} has {available} {asset} available, {amount} needed",
                account_id=self.account_id, asset=asset, available=available, requested=amount)

    def _held_by(self, hold_ref: str) -> tuple[str, int]:
        existing = self.holds.get(hold_ref)
        if existing is None:
            raise UnknownHold(f"account {self.account_id} has no hold {hold_ref}", hold_ref=hold_ref)
        return str(existing[0]), int(existing[1])

    # ---- staged holds: one event for many changes ---------------------------------------------
    # A batch writer makes hundreds of hold changes in one wallet. Staging applies each change to the
    # state at once (so later checks in the batch see it) and `record_staged` writes them all as one
    # HoldsChanged event. Staged changes must be recorded before the wallet is saved or posted to.
    def stage_hold(self, hold_ref: str, asset: str, amount: int) -> None:
        require(amount > 0, "hold amount must be positive")
        self._check_hold(hold_ref, asset, amount)
        change = HoldChange(hold_ref, asset, amount)
        self._apply_hold_change(change)
        self.staged.append(change)

    def stage_release(self, hold_ref: str, amount: int) -> None:
        require(amount > 0, "release amount must be positive")
        asset, held = self._held_by(hold_ref)
        if amount > held:
            raise HoldExceeded(f"hold {hold_ref} has {held} {asset}, cannot release {amount}",
                               hold_ref=hold_ref, held=held, requested=amount)
        change = HoldChange(hold_ref, asset, -amount)
        self._apply_hold_change(change)
        self.staged.append(change)

    def record_staged(self) -> None:
        if not self.staged:
            return
        changes = tuple(self.staged)
        for change in reversed(changes):  # undo, so that the event's mutator applies them exactly once
            self._apply_hold_change(HoldChange(change.hold_ref, change.asset, -change.amount))
        self.staged = []
        self._trigger(self.HoldsChanged, changes=changes)

    def release(self, hold_ref: str, amount: int | None = None) -> int:
        """Release `amount` of a hold (all of it when None); returns the amount released."""
        require(not self.staged, "record staged hold changes first")
        asset, held = self._held_by(hold_ref)
        to_release = held if amount is None else amount
        require(to_release > 0, "release amount must be positive")
        if to_release > held:
            raise HoldExceeded(f"hold {hold_ref} has {held} {asset}, cannot release {to_release}",
                               hold_ref=hold_ref, held=held, requested=to_release)
        self._trigger(self.HoldReleased, hold_ref=hold_ref, asset=asset, amount=to_release)
        return to_release

    def post(self, entries: tuple[Entry, ...]) -> None:
        """Write entries prepared by `domain.postings` (which checks both legs of each posting)."""
        require(len(entries) > 0, "no entries to post")
        require(not self.staged, "record staged hold changes before posting")
        self.check_entries(entries)
        self._trigger(self.EntriesPosted, entries=entries)

    def check_entries(self, entries: tuple[Entry, ...]) -> None:
        """Refuse entries that would overdraw the wallet or a hold, considering them in order."""
        totals: dict[str, int] = {}
        held: dict[str, int] = {}
        holds: dict[str, int] = {}
        for entry in entries:
            require(entry.amount != 0, "an entry moves a non-zero amount")
            asset = entry.asset
            total = totals.get(asset, self.totals.get(asset, 0)) + entry.amount
            held_now = held.get(asset, self.held.get(asset, 0))
            if entry.hold_ref:
                require(entry.amount < 0, "only a debit can be paid from a hold")
                hold_asset = self.holds[entry.hold_ref][0] if entry.hold_ref in self.holds else None
                remaining = holds.get(entry.hold_ref, self.hold_amount(entry.hold_ref))
                if hold_asset != asset or remaining < -entry.amount:
                    raise HoldExceeded(
                        f"hold {entry.hold_ref} of account {self.account_id} has {remaining} {asset}, "
                        f"{-entry.amount} needed", hold_ref=entry.hold_ref, held=remaining,
                        requested=-entry.amount)
                holds[entry.hold_ref] = remaining + entry.amount
                held_now += entry.amount
            if not self.may_go_negative and total - held_now < 0:
                raise InsufficientFunds(
                    f"account {self.account_id} has {total - held_now - entry.amount} {asset} available, "
                    f"{-entry.amount} needed", account_id=self.account_id, asset=asset,
                    available=total - held_now - entry.amount, requested=-entry.amount)
            totals[asset] = total
            held[asset] = held_now

    # ---- state changes, shared by the events' apply methods and by staging ---------------------
    def _apply_hold_change(self, change: HoldChange) -> None:
        if change.amount > 0:
            self.held[change.asset] = self.held.get(change.asset, 0) + change.amount
            entry = self.holds.get(change.hold_ref)
            self.holds[change.hold_ref] = [change.asset, (int(entry[1]) if entry else 0) + change.amount]
        else:
            self._reduce_hold(change.hold_ref, change.asset, -change.amount)

    def _reduce_hold(self, hold_ref: str, asset: str, amount: int) -> None:
        remaining = int(self.holds[hold_ref][1]) - amount
        if remaining:
            self.holds[hold_ref] = [asset, remaining]
        else:
            del self.holds[hold_ref]
        held = self.held[asset] - amount
        if held:
            self.held[asset] = held
        else:
            del self.held[asset]
