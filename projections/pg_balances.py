"""The balances projection: what each account holds of each asset, and the journal of its postings.

Tables (exposed as `rm.<table>`):

- `balances`, one row per account and asset: `total`, `held` (set aside by holds), `available`
  (= total - held, a generated column), last log position and time. Key `(account_id, asset)`.
- `postings`, the journal: one row per leg of a double-entry posting as written to this account's
  wallet (signed amount, counterparty, kind, the hold it was paid from), with the running
  `balance_after` and `held_after` of that account and asset. Key `(account_id, asset, position, seq)`.

Folding follows the wallet's own rules (domain/wallet.py): an entry changes the total by its signed
amount, and a debit paid from a hold also lowers `held` by the amount paid; `HoldsChanged`, `FundsHeld`
and `HoldReleased` move `held`. Sums are `numeric` (exact integers that may pass int64), single amounts
`bigint`; everything is in the asset's minor units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Final
from uuid import UUID

import psycopg

from domain.wallet import Wallet
from projections.folds import WALLET_EVENTS, Logged, ProjectionError
from projections.pg_projector import PgProjector
from projections.pg_tracking import Table

MAX_CACHED = 1_000_000

WALLETS = Table("wallets", (("wallet_uuid", "uuid"), ("account_id", "int8 NOT NULL UNIQUE")), ("wallet_uuid",))
BALANCES = Table("balances", (
    ("account_id", "int8"), ("asset", "text"), ("total", "numeric NOT NULL"), ("held", "numeric NOT NULL"),
    ("last_position", "int8 NOT NULL"), ("updated_at_ns", "int8 NOT NULL"),
), ("account_id", "asset"),
    ("ALTER TABLE {table} ADD COLUMN available numeric GENERATED ALWAYS AS (total - held) STORED",))
POSTINGS = Table("postings", (
    ("account_id", "int8"), ("asset", "text"), ("position", "int8"), ("seq", "int4"),
    ("posting_id", "text NOT NULL"), ("amount", "int8 NOT NULL"), ("counterparty", "int8 NOT NULL"),
    ("kind", "text NOT NULL"), ("hold_ref", "text NOT NULL"), ("at_ns", "int8 NOT NULL"),
    ("command_id", "text NOT NULL"), ("balance_after", "numeric NOT NULL"), ("held_after", "numeric NOT NULL"),
), ("account_id", "asset", "position", "seq"))

_ENTRIES: Final = Wallet.EntriesPosted
_HELD: Final = frozenset({Wallet.HoldsChanged, Wallet.FundsHeld, Wallet.HoldReleased})


class _Balance:
    __slots__ = ("held", "position", "total", "updated_at_ns")

    def __init__(self, total: int, held: int, position: int, updated_at_ns: int) -> None:
        self.total, self.held, self.position, self.updated_at_ns = total, held, position, updated_at_ns


def held_changes(event: Any) -> list[tuple[str, int]]:
    """(asset, signed change of held) of a hold event."""
    kind = type(event)
    if kind is Wallet.HoldsChanged:
        return [(change.asset, change.amount) for change in event.changes]
    if kind is Wallet.FundsHeld:
        return [(event.asset, event.amount)]
    return [(event.asset, -event.amount)]  # HoldReleased


class BalancesProjector(PgProjector):
    name: ClassVar[str] = "balances"
    event_classes: ClassVar[tuple[type, ...]] = WALLET_EVENTS
    tables: ClassVar[tuple[Table, ...]] = (WALLETS, BALANCES, POSTINGS)
    public: ClassVar[tuple[str, ...]] = ("balances", "postings")

    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[int, int] = {}  # wallet id (its int: hashed in C) -> account
        self.balances: dict[tuple[int, str], _Balance] = {}

    def reset(self) -> None:
        super().reset()
        self.accounts.clear()
        self.balances.clear()

    def apply(self, cur: psycopg.Cursor[Any], batch: Sequence[Logged]) -> None:
        new_wallets = self._prefetch(cur, batch)
        balances = self.balances
        journal: list[tuple[Any, ...]] = []
        touched: set[tuple[int, str]] = set()
        for position, event in batch:
            kind = type(event)
            if kind is _ENTRIES:
                account = self.accounts[event.originator_id.int]
                for seq, entry in enumerate(event.entries):
                    key = (account, entry.asset)
                    balance = balances[key]
                    balance.total += entry.amount
                    if entry.hold_ref:
                        balance.held += entry.amount  # a debit paid from a hold: the hold shrinks by what it paid
                    balance.position, balance.updated_at_ns = position, event.at_ns
                    touched.add(key)
                    journal.append((account, entry.asset, position, seq, entry.posting_id, entry.amount,
                                    entry.counterparty, entry.kind, entry.hold_ref, event.at_ns, event.command_id,
                                    balance.total, balance.held))
            elif kind in _HELD:
                account = self.accounts[event.originator_id.int]
                for asset, change in held_changes(event):
                    key = (account, asset)
                    balance = balances[key]
                    balance.held += change
                    balance.position, balance.updated_at_ns = position, event.at_ns
                    touched.add(key)
        if new_wallets:
            WALLETS.copy(cur, new_wallets)
        if journal:
            POSTINGS.copy(cur, journal)
        BALANCES.upsert(cur, [(account, asset, balances[(account, asset)].total, balances[(account, asset)].held,
                               balances[(account, asset)].position, balances[(account, asset)].updated_at_ns)
                              for account, asset in sorted(touched)])
        if len(balances) > MAX_CACHED:
            balances.clear()

    def _prefetch(self, cur: psycopg.Cursor[Any], batch: Sequence[Logged]) -> list[tuple[UUID, int]]:
        """Learn the batch's wallets (new ones from their Opened events) and load the balances it touches."""
        new_wallets: list[tuple[UUID, int]] = []
        missing: set[UUID] = set()
        for _, event in batch:
            if type(event) is Wallet.Created:
                if event.originator_id.int in self.accounts:
                    raise ProjectionError(f"wallet {event.originator_id} opened twice")
                self.accounts[event.originator_id.int] = event.account_id
                new_wallets.append((event.originator_id, event.account_id))
            elif event.originator_id.int not in self.accounts:
                missing.add(event.originator_id)
        if missing:
            cur.execute("SELECT wallet_uuid, account_id FROM wallets WHERE wallet_uuid = ANY(%s)", (list(missing),))
            self.accounts.update({uuid.int: int(account) for uuid, account in cur.fetchall()})
            unknown = {uuid for uuid in missing if uuid.int not in self.accounts}
            if unknown:
                raise ProjectionError(f"events for wallets that were never opened: {sorted(map(str, unknown))[:5]}")
        keys: set[tuple[int, str]] = set()
        for _, event in batch:
            kind = type(event)
            if kind is _ENTRIES:
                account = self.accounts[event.originator_id.int]
                keys.update((account, entry.asset) for entry in event.entries)
            elif kind in _HELD:
                account = self.accounts[event.originator_id.int]
                keys.update((account, asset) for asset, _ in held_changes(event))
        wanted = {key for key in keys if key not in self.balances}
        if wanted:
            accounts, assets = zip(*wanted, strict=True)
            cur.execute("SELECT b.account_id, b.asset, b.total, b.held, b.last_position, b.updated_at_ns "
                        "FROM unnest(%s::int8[], %s::text[]) AS k(account_id, asset) "
                        "JOIN balances b USING (account_id, asset)", (list(accounts), list(assets)))
            for account, asset, total, held, position, at_ns in cur.fetchall():
                self.balances[(int(account), str(asset))] = _Balance(int(total), int(held), int(position), int(at_ns))
            for key in wanted:
                self.balances.setdefault(key, _Balance(0, 0, 0, 0))
        return new_wallets
