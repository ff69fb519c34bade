"""Reference data shared by ledger tests."""

from __future__ import annotations

from commands import ledger_commands as c
from commands.ledger import Ledger

ALICE, BOB, CAROL = 1001, 1002, 1003


def seed_reference_data(ledger: Ledger) -> None:
    ledger.open_system_wallets()
    for command in (
        c.RegisterAsset("a-usdt", "USDT", 6),
        c.RegisterAsset("a-btc", "BTC", 8),
        c.ListInstrument("i-btc", "BTC-USDT", "BTC", "USDT", 10_000, 10_000, 1, 1_000_000, 100_000, 50_000_000,
                         1_000, 2_000),
        c.OpenAccount("o-alice", ALICE, {"name": "Alice"}),
        c.OpenAccount("o-bob", BOB, {"name": "Bob"}),
        c.OpenAccount("o-carol", CAROL, {"name": "Carol"}),
        c.VerifyKyc("k-alice", ALICE, "reviewer"),
        c.VerifyKyc("k-bob", BOB, "reviewer"),
    ):
        ledger.execute(command)
