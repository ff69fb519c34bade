"""Property: no sequence of wallet commands breaks zero-sum or makes a client's available negative."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands import ledger_commands as c
from commands.ledger import Ledger
from domain.errors import LedgerError
from domain.values import FEE_ACCOUNT
from infra.balances_report import balance_rows, check_invariants
from tests.conftest import FakeClock
from tests.ledger_fixtures import ALICE, BOB, CAROL, seed_reference_data

ACCOUNTS = st.sampled_from([ALICE, BOB, CAROL])
PARTIES = st.sampled_from([ALICE, BOB, CAROL, FEE_ACCOUNT])
ASSETS = st.sampled_from(["USDT", "BTC"])
AMOUNTS = st.one_of(st.integers(min_value=-5, max_value=2_000), st.sampled_from([0, 2**63, 2**63 - 1]))
HOLDS = st.sampled_from(["h1", "h2", "h3"])

OPERATIONS = st.one_of(
    st.builds(lambda a, s, n: ("deposit", a, s, n), ACCOUNTS, ASSETS, AMOUNTS),
    st.builds(lambda a, s, n: ("withdraw", a, s, n), ACCOUNTS, ASSETS, AMOUNTS),
    st.builds(lambda a, s, n, h: ("hold", a, s, n, h), ACCOUNTS, ASSETS, AMOUNTS, HOLDS),
    st.builds(lambda a, h, n: ("release", a, h, n), ACCOUNTS, HOLDS, st.one_of(st.none(), AMOUNTS)),
    st.builds(lambda p, q, s, n, h: ("settle", p, q, s, n, h), ACCOUNTS, PARTIES, ASSETS, AMOUNTS,
              st.one_of(st.just(""), HOLDS)),
)


def to_command(number: int, operation: tuple) -> c.Command:  # type: ignore[type-arg]
    kind, *args = operation
    command_id = f"op-{number}"
    if kind == "deposit":
        return c.Deposit(command_id, *args)
    if kind == "withdraw":
        return c.Withdraw(command_id, *args)
    if kind == "hold":
        return c.PlaceHold(command_id, *args)
    if kind == "release":
        return c.ReleaseHold(command_id, *args)
    payer, payee, asset, amount, hold_ref = args
    return c.Settle(command_id, payer, payee, asset, amount, hold_ref)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPERATIONS, min_size=1, max_size=40))
def test_random_wallet_operations_keep_the_books_balanced(operations: list[tuple]) -> None:  # type: ignore[type-arg]
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=FakeClock())
    seed_reference_data(ledger)
    for number, operation in enumerate(operations):
        command = to_command(number, operation)
        before = ledger.recorder.max_notification_id()
        try:
            ledger.execute(command)
        except LedgerError:
            assert ledger.recorder.max_notification_id() == before  # a refusal stores nothing
        report = check_invariants(balance_rows(ledger))
        assert report.holds, (operation, report.violations)
        for account in (ALICE, BOB, CAROL):
            wallet = ledger.wallet(account)
            for asset in ("USDT", "BTC"):
                held_by_holds = sum(int(h[1]) for h in wallet.holds.values() if h[0] == asset)
                assert wallet.balance(asset).held == held_by_holds
    ledger.close()
