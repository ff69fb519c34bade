"""Commands of the ledger core: imperative intents, each with a client-supplied command id."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar


@dataclass(frozen=True)
class Command:
    command_id: str
    kind: ClassVar[str] = "command"

    def body(self) -> dict[str, Any]:
        """The command without its id: what a repeated id must match to count as the same command."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "command_id"}


@dataclass(frozen=True)
class RegisterAsset(Command):
    code: str
    scale: int
    kind: ClassVar[str] = "register_asset"


@dataclass(frozen=True)
class ListInstrument(Command):
    symbol: str
    base: str
    quote: str
    tick_size: int
    lot_size: int
    min_qty_lots: int
    max_qty_lots: int
    min_price_ticks: int
    max_price_ticks: int
    maker_fee_ppm: int
    taker_fee_ppm: int
    kind: ClassVar[str] = "list_instrument"


@dataclass(frozen=True)
class ChangeInstrument(Command):
    symbol: str
    changes: dict[str, int]
    kind: ClassVar[str] = "change_instrument"


@dataclass(frozen=True)
class HaltInstrument(Command):
    symbol: str
    reason: str
    kind: ClassVar[str] = "halt_instrument"


@dataclass(frozen=True)
class ResumeInstrument(Command):
    symbol: str
    kind: ClassVar[str] = "resume_instrument"


@dataclass(frozen=True)
class DelistInstrument(Command):
    symbol: str
    reason: str
    kind: ClassVar[str] = "delist_instrument"


@dataclass(frozen=True)
class OpenAccount(Command):
    account_id: int
    profile: dict[str, Any] = field(default_factory=dict)
    preferences: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "open_account"


@dataclass(frozen=True)
class SubmitKyc(Command):
    account_id: int
    documents_ref: str
    kind: ClassVar[str] = "submit_kyc"


@dataclass(frozen=True)
class VerifyKyc(Command):
    account_id: int
    reviewer: str
    kind: ClassVar[str] = "verify_kyc"


@dataclass(frozen=True)
class RejectKyc(Command):
    account_id: int
    reviewer: str
    reason: str
    kind: ClassVar[str] = "reject_kyc"


@dataclass(frozen=True)
class FreezeAccount(Command):
    account_id: int
    reason: str
    kind: ClassVar[str] = "freeze_account"


@dataclass(frozen=True)
class UnfreezeAccount(Command):
    account_id: int
    kind: ClassVar[str] = "unfreeze_account"


@dataclass(frozen=True)
class UpdateProfile(Command):
    account_id: int
    profile: dict[str, Any]
    kind: ClassVar[str] = "update_profile"


@dataclass(frozen=True)
class Deposit(Command):
    account_id: int
    asset: str
    amount: int
    kind: ClassVar[str] = "deposit"


@dataclass(frozen=True)
class Withdraw(Command):
    account_id: int
    asset: str
    amount: int
    kind: ClassVar[str] = "withdraw"


@dataclass(frozen=True)
class PlaceHold(Command):
    account_id: int
    asset: str
    amount: int
    hold_ref: str
    kind: ClassVar[str] = "place_hold"


@dataclass(frozen=True)
class ReleaseHold(Command):
    account_id: int
    hold_ref: str
    amount: int | None = None  # None releases the whole hold
    kind: ClassVar[str] = "release_hold"


@dataclass(frozen=True)
class Settle(Command):
    """Pay `amount` of `asset` from `payer` to `payee`, out of the payer's hold `hold_ref` if given."""

    payer: int
    payee: int
    asset: str
    amount: int
    hold_ref: str = ""
    kind: ClassVar[str] = "settle"
