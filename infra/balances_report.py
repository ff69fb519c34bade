"""Balances of every wallet and the proof of the double-entry invariants."""

from __future__ import annotations

from dataclasses import dataclass

from commands.ledger import Ledger
from domain.values import SYSTEM_ACCOUNTS
from domain.wallet import Wallet


@dataclass(frozen=True)
class BalanceRow:
    account_id: int
    asset: str
    total: int
    held: int
    available: int


@dataclass(frozen=True)
class InvariantReport:
    sums: dict[str, int]  # per asset, the sum of all wallets' totals: must be 0
    violations: list[str]

    @property
    def holds(self) -> bool:
        return not self.violations and all(total == 0 for total in self.sums.values())


def wallets(ledger: Ledger) -> list[Wallet]:
    found: list[object] = [ledger.repository.get(wallet_id) for wallet_id in ledger.list_of(Wallet.Created)]
    return sorted((w for w in found if isinstance(w, Wallet)), key=lambda w: w.account_id)


def balance_rows(ledger: Ledger) -> list[BalanceRow]:
    return [BalanceRow(w.account_id, asset, b.total, b.held, b.available)
            for w in wallets(ledger) for asset, b in w.balances().items()]


def check_invariants(rows: list[BalanceRow]) -> InvariantReport:
    sums: dict[str, int] = {}
    violations: list[str] = []
    for row in rows:
        sums[row.asset] = sums.get(row.asset, 0) + row.total
        if row.held < 0 or row.held > max(row.total, 0):
            violations.append(f"account {row.account_id} {row.asset}: held {row.held} outside 0..{row.total}")
        if row.available < 0 and row.account_id not in SYSTEM_ACCOUNTS:
            violations.append(f"account {row.account_id} {row.asset}: available {row.available} < 0")
    for asset, total in sums.items():
        if total != 0:
            violations.append(f"{asset}: balances sum to {total}, not 0")
    return InvariantReport(dict(sorted(sums.items())), violations)
