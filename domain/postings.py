"""Double-entry postings: the only way money moves between wallets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from domain.checks import positive_int64, require
from domain.errors import InvalidAmount, InvalidReferenceData
from domain.wallet import Entry, Wallet


@dataclass(frozen=True)
class Posting:
    """Move `amount` minor units of `asset` from `debit_account` to `credit_account`.

    With `hold_ref`, the debit is paid from that hold of the debit account (a settlement).
    """

    posting_id: str
    asset: str
    amount: int
    debit_account: int
    credit_account: int
    kind: str
    hold_ref: str = ""

    def __post_init__(self) -> None:
        positive_int64(self.amount, InvalidAmount, "amount")
        if self.debit_account == self.credit_account:
            raise InvalidReferenceData("a posting moves money between two different accounts")

    def legs(self) -> tuple[tuple[int, Entry], tuple[int, Entry]]:
        debit = Entry(self.posting_id, self.asset, -self.amount, self.credit_account, self.kind, self.hold_ref)
        credit = Entry(self.posting_id, self.asset, self.amount, self.debit_account, self.kind, "")
        return (self.debit_account, debit), (self.credit_account, credit)


def post(postings: Sequence[Posting], wallets: Mapping[int, Wallet]) -> None:
    """Apply postings atomically: every wallet's entries are checked before any wallet changes.

    Each touched wallet gets one `EntriesPosted` event holding its entries, in posting order.
    Raises (and changes nothing) if any wallet would be overdrawn or any hold exceeded.
    """
    require(len(postings) > 0, "nothing to post")
    per_wallet: dict[int, list[Entry]] = {}
    for posting in postings:
        for account, entry in posting.legs():
            if account not in wallets:
                raise InvalidReferenceData(f"wallet of account {account} is not loaded")
            per_wallet.setdefault(account, []).append(entry)
    batches = {account: tuple(entries) for account, entries in per_wallet.items()}
    for account, entries in batches.items():
        wallets[account].check_entries(entries)
    for account, entries in batches.items():
        wallets[account].post(entries)
