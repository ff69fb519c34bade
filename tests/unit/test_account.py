"""Accounts: KYC workflow as a state table, freezing, free-form profile and preferences."""

from __future__ import annotations

import pytest

from domain import errors
from domain.account import Account, KycState


def test_a_new_account_is_pending_and_may_not_trade() -> None:
    account = Account.open(7, {"name": "Ann"}, {"lang": "en"})
    assert account.kyc_state is KycState.PENDING
    assert not account.may_trade
    with pytest.raises(errors.AccountNotVerified):
        account.require_may_trade()


def test_verified_account_may_trade_until_frozen() -> None:
    account = Account.open(7, {})
    account.verify_kyc("reviewer-1")
    assert account.may_trade
    account.freeze("chargeback investigation")
    with pytest.raises(errors.AccountFrozen):
        account.require_may_trade()
    account.unfreeze()
    assert account.may_trade
    assert [type(e).__name__ for e in account.pending_events] == ["Created", "KycVerified", "Frozen", "Unfrozen"]


def test_rejected_applicant_may_resubmit_then_be_verified() -> None:
    account = Account.open(7, {})
    account.reject_kyc("reviewer-1", "blurred passport")
    assert account.kyc_state is KycState.REJECTED
    account.submit_kyc("doc-2")
    assert account.kyc_state is KycState.PENDING
    account.verify_kyc("reviewer-2")
    assert account.kyc_state is KycState.VERIFIED


@pytest.mark.parametrize("setup, action", [
    ([], lambda a: a.unfreeze()),
    (["freeze"], lambda a: a.freeze("again")),
    (["reject"], lambda a: a.verify_kyc("r")),
    (["verify"], lambda a: a.verify_kyc("r")),
    (["verify"], lambda a: a.submit_kyc("doc")),
])
def test_illegal_transitions_raise(setup: list[str], action: object) -> None:
    account = Account.open(7, {})
    for step in setup:
        {"freeze": lambda: account.freeze("x"), "reject": lambda: account.reject_kyc("r", "x"),
         "verify": lambda: account.verify_kyc("r")}[step]()
    events_before = len(account.pending_events)
    with pytest.raises(errors.IllegalTransition):
        action(account)  # type: ignore[operator]
    assert len(account.pending_events) == events_before


def test_profile_and_preferences_are_free_form_documents() -> None:
    account = Account.open(7, {"name": "Ann", "address": {"city": "Lyon"}})
    account.update_profile({"name": "Ann B.", "tags": ["vip"]})
    account.update_preferences({"theme": "dark"})
    assert account.profile == {"name": "Ann B.", "tags": ["vip"]}
    assert account.preferences == {"theme": "dark"}
    with pytest.raises(errors.InvalidReferenceData):
        account.update_profile(["not", "an", "object"])  # type: ignore[arg-type]


@pytest.mark.parametrize("account_id", [0, -1, 2**63, "7", True])
def test_account_ids_are_positive_int64(account_id: object) -> None:
    with pytest.raises(errors.InvalidReferenceData):
        Account.open(account_id, {})  # type: ignore[arg-type]
