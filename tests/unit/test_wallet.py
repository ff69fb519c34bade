"""Wallets and postings, given-when-then: past movements, a command, the events it produces or its refusal."""

from __future__ import annotations

import pytest

from domain import errors
from domain.errors import InvariantViolation
from domain.postings import Posting, post
from domain.values import EXTERNAL_ACCOUNT, FEE_ACCOUNT
from domain.wallet import Balance, Entry, Wallet

ALICE, BOB = 1, 2


def given_wallets(*accounts: int) -> dict[int, Wallet]:
    return {account: Wallet.open(account) for account in (EXTERNAL_ACCOUNT, FEE_ACCOUNT, *accounts)}


def new_events(wallet: Wallet, since: int) -> list[object]:
    return wallet.pending_events[since:]


def deposit(wallets: dict[int, Wallet], account: int, asset: str, amount: int, ref: str = "dep") -> None:
    post([Posting(ref, asset, amount, EXTERNAL_ACCOUNT, account, "deposit")], wallets)


def test_deposit_is_a_balanced_posting_from_the_outside_world() -> None:
    wallets = given_wallets(ALICE)
    deposit(wallets, ALICE, "USDT", 1_000)
    [alice_event] = new_events(wallets[ALICE], 1)
    [world_event] = new_events(wallets[EXTERNAL_ACCOUNT], 1)
    assert isinstance(alice_event, Wallet.EntriesPosted)
    assert alice_event.entries == (Entry("dep", "USDT", 1_000, EXTERNAL_ACCOUNT, "deposit", ""),)
    assert isinstance(world_event, Wallet.EntriesPosted)
    assert world_event.entries == (Entry("dep", "USDT", -1_000, ALICE, "deposit", ""),)
    assert wallets[ALICE].balance("USDT") == Balance(1_000, 0)
    assert wallets[EXTERNAL_ACCOUNT].balance("USDT") == Balance(-1_000, 0)


def test_withdrawal_above_available_is_refused_and_changes_nothing() -> None:
    wallets = given_wallets(ALICE)
    deposit(wallets, ALICE, "USDT", 1_000)
    wallets[ALICE].hold("order-1", "USDT", 600)
    before = {a: len(w.pending_events) for a, w in wallets.items()}
    with pytest.raises(errors.InsufficientFunds, match="400 USDT available, 500 needed"):
        post([Posting("wd", "USDT", 500, ALICE, EXTERNAL_ACCOUNT, "withdrawal")], wallets)
    assert {a: len(w.pending_events) for a, w in wallets.items()} == before
    assert wallets[ALICE].balance("USDT") == Balance(1_000, 600)


def test_hold_sets_funds_aside_and_release_returns_them() -> None:
    wallets = given_wallets(ALICE)
    deposit(wallets, ALICE, "USDT", 1_000)
    alice = wallets[ALICE]
    alice.hold("order-1", "USDT", 700)
    assert alice.balance("USDT") == Balance(1_000, 700)
    assert alice.balance("USDT").available == 300
    assert alice.release("order-1", 200) == 200
    assert alice.hold_amount("order-1") == 500
    assert alice.release("order-1") == 500
    assert alice.balance("USDT") == Balance(1_000, 0)
    assert alice.holds == {}
    kinds = [type(e).__name__ for e in alice.pending_events[2:]]
    assert kinds == ["FundsHeld", "HoldReleased", "HoldReleased"]


def test_hold_beyond_available_is_refused() -> None:
    wallets = given_wallets(ALICE)
    deposit(wallets, ALICE, "USDT", 100)
    with pytest.raises(errors.InsufficientFunds):
        wallets[ALICE].hold("h", "USDT", 101)
    assert wallets[ALICE].holds == {}


def test_release_of_unknown_hold_or_more_than_held_is_refused() -> None:
    wallets = given_wallets(ALICE)
    deposit(wallets, ALICE, "USDT", 100)
    with pytest.raises(errors.UnknownHold):
        wallets[ALICE].release("nope")
    wallets[ALICE].hold("h", "USDT", 50)
    with pytest.raises(errors.HoldExceeded):
        wallets[ALICE].release("h", 51)


def test_a_hold_keeps_one_asset() -> None:
    wallets = given_wallets(ALICE)
    deposit(wallets, ALICE, "USDT", 100)
    deposit(wallets, ALICE, "BTC", 100, ref="dep2")
    wallets[ALICE].hold("h", "USDT", 10)
    with pytest.raises(errors.InvalidReferenceData, match="is in USDT"):
        wallets[ALICE].hold("h", "BTC", 10)


def test_settlement_pays_from_the_hold_to_the_counterparty() -> None:
    wallets = given_wallets(ALICE, BOB)
    deposit(wallets, BOB, "USDT", 1_000)
    wallets[BOB].hold("bid", "USDT", 800)
    post([Posting("t1", "USDT", 600, BOB, ALICE, "trade", "bid"),
          Posting("t1-fee", "USDT", 2, BOB, FEE_ACCOUNT, "fee", "bid")], wallets)
    assert wallets[BOB].balance("USDT") == Balance(398, 198)
    assert wallets[BOB].hold_amount("bid") == 198
    assert wallets[ALICE].balance("USDT") == Balance(600, 0)
    assert wallets[FEE_ACCOUNT].balance("USDT") == Balance(2, 0)
    [bob_event] = new_events(wallets[BOB], 3)
    assert isinstance(bob_event, Wallet.EntriesPosted) and len(bob_event.entries) == 2  # one event per wallet


def test_settlement_beyond_the_hold_is_refused_for_every_wallet() -> None:
    wallets = given_wallets(ALICE, BOB)
    deposit(wallets, BOB, "USDT", 1_000)
    wallets[BOB].hold("bid", "USDT", 100)
    before = {a: len(w.pending_events) for a, w in wallets.items()}
    with pytest.raises(errors.HoldExceeded):
        post([Posting("t1", "USDT", 60, BOB, ALICE, "trade", "bid"),
              Posting("t2", "USDT", 60, BOB, ALICE, "trade", "bid")], wallets)
    assert {a: len(w.pending_events) for a, w in wallets.items()} == before


def test_a_posting_later_in_a_batch_sees_the_earlier_ones() -> None:
    wallets = given_wallets(ALICE, BOB)
    deposit(wallets, ALICE, "USDT", 100)
    # Bob has nothing, but receives 100 from Alice before paying 70 of it on.
    post([Posting("p1", "USDT", 100, ALICE, BOB, "transfer"),
          Posting("p2", "USDT", 70, BOB, FEE_ACCOUNT, "fee")], wallets)
    assert wallets[BOB].balance("USDT") == Balance(30, 0)
    with pytest.raises(errors.InsufficientFunds):
        post([Posting("p3", "USDT", 31, BOB, ALICE, "transfer"),
              Posting("p4", "USDT", 1, ALICE, BOB, "transfer")], wallets)


@pytest.mark.parametrize("amount", [0, -1, 2**63, 1.0, True, "10"])
def test_posting_amounts_are_positive_int64(amount: object) -> None:
    with pytest.raises(errors.InvalidAmount):
        Posting("p", "USDT", amount, ALICE, BOB, "transfer")  # type: ignore[arg-type]


def test_a_posting_needs_two_different_accounts() -> None:
    with pytest.raises(errors.InvalidReferenceData):
        Posting("p", "USDT", 5, ALICE, ALICE, "transfer")


def test_only_the_outside_world_may_go_negative() -> None:
    wallets = given_wallets(ALICE)
    with pytest.raises(errors.InsufficientFunds):
        post([Posting("p", "USDT", 1, FEE_ACCOUNT, ALICE, "transfer")], wallets)
    deposit(wallets, ALICE, "USDT", 1)
    assert wallets[EXTERNAL_ACCOUNT].balance("USDT").total == -1


def test_no_wallet_for_invalid_account_ids() -> None:
    for account in (0, -3, 2**63, True):
        with pytest.raises(errors.InvalidReferenceData):
            Wallet.open(account)  # type: ignore[arg-type]


def test_wallet_state_is_a_fold_of_its_events() -> None:
    wallets = given_wallets(ALICE, BOB)
    deposit(wallets, ALICE, "USDT", 1_000)
    wallets[ALICE].hold("h", "USDT", 500)
    post([Posting("t", "USDT", 300, ALICE, BOB, "trade", "h")], wallets)
    wallets[ALICE].release("h", 100)
    replayed = None
    for event in wallets[ALICE].pending_events:
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Wallet)
    assert replayed.balances() == wallets[ALICE].balances() == {"USDT": Balance(700, 100)}
    assert replayed.holds == {"h": ["USDT", 100]}


def test_staged_hold_changes_are_seen_at_once_and_recorded_as_one_event() -> None:
    wallets = given_wallets(ALICE)
    deposit(wallets, ALICE, "USDT", 1_000)
    alice = wallets[ALICE]
    events_before = len(alice.pending_events)
    alice.stage_hold("o1", "USDT", 600)
    alice.stage_hold("o2", "USDT", 300)
    with pytest.raises(errors.InsufficientFunds):
        alice.stage_hold("o3", "USDT", 101)  # the staged holds already count
    alice.stage_release("o1", 250)
    with pytest.raises(errors.HoldExceeded):
        alice.stage_release("o2", 301)
    assert alice.balance("USDT") == Balance(1_000, 650)
    assert len(alice.pending_events) == events_before
    alice.record_staged()
    [event] = alice.pending_events[events_before:]
    assert isinstance(event, Wallet.HoldsChanged) and len(event.changes) == 3
    assert alice.balance("USDT") == Balance(1_000, 650)
    assert alice.holds == {"o1": ["USDT", 350], "o2": ["USDT", 300]}
    replayed = None
    for past in alice.pending_events:
        replayed = past.mutate(replayed)
    assert isinstance(replayed, Wallet) and replayed.holds == alice.holds and replayed.held == alice.held


def test_unrecorded_staged_changes_block_direct_movements() -> None:
    wallets = given_wallets(ALICE)
    deposit(wallets, ALICE, "USDT", 1_000)
    wallets[ALICE].stage_hold("o1", "USDT", 10)
    with pytest.raises(InvariantViolation):
        deposit(wallets, ALICE, "USDT", 5, ref="dep2")
