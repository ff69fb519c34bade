"""Ledger commands: each refusal is specific and stores nothing; command ids make commands idempotent."""

from __future__ import annotations

import pytest

from commands import ledger_commands as c
from commands.ledger import Ledger
from domain import errors
from domain.values import EXTERNAL_ACCOUNT, FEE_ACCOUNT
from infra.balances_report import balance_rows, check_invariants
from tests.ledger_fixtures import ALICE, BOB, CAROL, seed_reference_data


@pytest.fixture
def ledger(memory_ledger: Ledger) -> Ledger:
    seed_reference_data(memory_ledger)
    memory_ledger.execute(c.Deposit("d-alice", ALICE, "USDT", 1_000_000))
    return memory_ledger


def head(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


BAD_COMMANDS: list[tuple[c.Command, type[errors.LedgerError]]] = [
    (c.Deposit("x1", ALICE, "DOGE", 5), errors.UnknownAsset),
    (c.Deposit("x2", ALICE, "USDT", 0), errors.InvalidAmount),
    (c.Deposit("x3", ALICE, "USDT", -5), errors.InvalidAmount),
    (c.Deposit("x4", ALICE, "USDT", 2**63), errors.InvalidAmount),
    (c.Deposit("x5", ALICE, "USDT", 1.5), errors.InvalidAmount),  # type: ignore[arg-type]
    (c.Deposit("x6", ALICE, "USDT", True), errors.InvalidAmount),  # type: ignore[arg-type]
    (c.Deposit("x7", ALICE, "USDT", "100"), errors.InvalidAmount),  # type: ignore[arg-type]
    (c.Deposit("x8", 999, "USDT", 5), errors.UnknownAccount),
    (c.Withdraw("x9", ALICE, "USDT", 1_000_001), errors.InsufficientFunds),
    (c.Withdraw("x10", CAROL, "USDT", 1), errors.AccountNotVerified),
    (c.PlaceHold("x11", ALICE, "USDT", 1_000_001, "h"), errors.InsufficientFunds),
    (c.PlaceHold("x12", CAROL, "USDT", 1, "h"), errors.AccountNotVerified),
    (c.ReleaseHold("x13", ALICE, "nope"), errors.UnknownHold),
    (c.Settle("x14", ALICE, BOB, "USDT", 10, "nope"), errors.HoldExceeded),
    (c.Settle("x15", BOB, ALICE, "USDT", 10), errors.InsufficientFunds),
    (c.ChangeInstrument("x16", "DOGE-USDT", {"tick_size": 1}), errors.UnknownInstrument),
    (c.HaltInstrument("x17", "ETH-USDT", "x"), errors.UnknownInstrument),
    (c.ListInstrument("x18", "ETH-USDT", "ETH", "USDT", 1, 1, 1, 1, 1, 1, 0, 0), errors.UnknownAsset),
    (c.ListInstrument("x19", "BTC-USDT", "BTC", "USDT", 10_000, 10_000, 1, 10, 1, 10, 0, 0), errors.DuplicateEntity),
    (c.RegisterAsset("x20", "USDT", 2), errors.DuplicateEntity),
    (c.OpenAccount("x21", ALICE), errors.DuplicateEntity),
    (c.ChangeInstrument("x22", "BTC-USDT", {"tick_size": 3}), errors.InvalidReferenceData),
]


@pytest.mark.parametrize("command, error", BAD_COMMANDS, ids=[type(cmd).__name__ + ":" + cmd.command_id
                                                              for cmd, _ in BAD_COMMANDS])
def test_bad_input_is_refused_with_a_specific_error_and_stores_nothing(
        ledger: Ledger, command: c.Command, error: type[errors.LedgerError]) -> None:
    before = head(ledger)
    with pytest.raises(error) as refused:
        ledger.execute(command)
    assert refused.value.code == error.code and refused.value.message
    assert head(ledger) == before
    # a refused command leaves no record, so its id is not used up
    assert ledger.command_records([command.command_id]) == {}


def test_frozen_account_may_not_withdraw(ledger: Ledger) -> None:
    ledger.execute(c.FreezeAccount("f", ALICE, "investigation"))
    with pytest.raises(errors.AccountFrozen):
        ledger.execute(c.Withdraw("w", ALICE, "USDT", 1))
    ledger.execute(c.UnfreezeAccount("u", ALICE))
    assert ledger.execute(c.Withdraw("w", ALICE, "USDT", 1)).result["total"] == 999_999


def test_same_command_id_twice_has_the_effect_of_once(ledger: Ledger) -> None:
    first = ledger.execute(c.Deposit("dep-1", BOB, "USDT", 500))
    again = ledger.execute(c.Deposit("dep-1", BOB, "USDT", 500))
    assert not first.duplicate and again.duplicate
    assert again.result == first.result
    assert ledger.wallet(BOB).balance("USDT").total == 500


def test_same_command_id_with_another_body_is_a_conflict(ledger: Ledger) -> None:
    ledger.execute(c.Deposit("dep-1", BOB, "USDT", 500))
    before = head(ledger)
    with pytest.raises(errors.CommandConflict):
        ledger.execute(c.Deposit("dep-1", BOB, "USDT", 501))
    with pytest.raises(errors.CommandConflict):
        ledger.execute(c.Withdraw("dep-1", BOB, "USDT", 500))
    assert head(ledger) == before


def test_full_trade_settlement_keeps_every_asset_at_zero(ledger: Ledger) -> None:
    ledger.execute(c.Deposit("d-btc", BOB, "BTC", 100_000_000))
    ledger.execute(c.PlaceHold("h-bid", ALICE, "USDT", 602_000, "bid"))
    ledger.execute(c.PlaceHold("h-ask", BOB, "BTC", 1_000_000, "ask"))
    ledger.execute(c.Settle("s1", ALICE, BOB, "USDT", 600_000, "bid"))
    ledger.execute(c.Settle("s2", BOB, ALICE, "BTC", 1_000_000, "ask"))
    ledger.execute(c.Settle("s3", ALICE, FEE_ACCOUNT, "USDT", 1_200, "bid"))
    ledger.execute(c.Settle("s4", BOB, FEE_ACCOUNT, "USDT", 600))
    released = ledger.execute(c.ReleaseHold("r1", ALICE, "bid")).result["released"]
    assert released == 602_000 - 600_000 - 1_200
    report = check_invariants(balance_rows(ledger))
    assert report.holds, report.violations
    assert report.sums == {"BTC": 0, "USDT": 0}
    assert ledger.wallet(FEE_ACCOUNT).balance("USDT").total == 1_800
    assert ledger.wallet(EXTERNAL_ACCOUNT).balance("USDT").total == -1_000_000


def test_instrument_admin_commands(ledger: Ledger) -> None:
    assert ledger.execute(c.HaltInstrument("h1", "BTC-USDT", "volatility")).result["status"] == "halted"
    assert ledger.execute(c.ResumeInstrument("r1", "BTC-USDT")).result["status"] == "trading"
    ledger.execute(c.ChangeInstrument("c1", "BTC-USDT", {"taker_fee_ppm": 2_500}))
    assert ledger.instrument("BTC-USDT").spec.taker_fee_ppm == 2_500
    assert [i.symbol for i in ledger.instruments()] == ["BTC-USDT"]


def test_events_carry_logical_time_and_the_causing_command(ledger: Ledger) -> None:
    result = ledger.execute(c.Deposit("dep-trace", BOB, "USDT", 7))
    [notification] = ledger.recorder.select_notifications(result.log_position, 1)
    event = ledger.mapper.to_domain_event(notification)
    assert event.command_id == "dep-trace"  # type: ignore[attr-defined]
    assert event.at_ns > 0  # type: ignore[attr-defined]

