"""Accounts: the owner's profile and preferences (free-form documents), KYC workflow and freezing.

Only a verified, unfrozen account may trade or withdraw.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import LedgerAggregate
from domain.errors import AccountFrozen, AccountNotVerified, IllegalTransition, InvalidReferenceData
from domain.ids import account_id_uuid
from domain.values import valid_account_id


class KycState(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


# state -> states reachable from it. A rejected applicant may resubmit; a verification stands until a
# reviewer revokes it (which is a rejection with a reason).
KYC_TRANSITIONS: dict[KycState, frozenset[KycState]] = {
    KycState.PENDING: frozenset({KycState.VERIFIED, KycState.REJECTED}),
    KycState.REJECTED: frozenset({KycState.PENDING}),
    KycState.VERIFIED: frozenset({KycState.REJECTED}),
}


class Account(LedgerAggregate):
    TOPIC = "tradex.Account"

    @staticmethod
    def create_id(account_id: int, profile: dict[str, Any], preferences: dict[str, Any]) -> UUID:
        return account_id_uuid(account_id)

    @dataclass(frozen=True)
    class Created(LedgerAggregate.Event, Aggregate.Created):
        """v2 added `preferences`; v1 events upcast with empty preferences."""

        TOPIC = "tradex.Account.Opened"
        class_version = 2
        account_id: int
        profile: dict[str, Any]
        preferences: dict[str, Any]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["preferences"] = {}

    @dataclass(frozen=True)
    class KycSubmitted(LedgerAggregate.Event):
        TOPIC = "tradex.Account.KycSubmitted"
        documents_ref: str

    @dataclass(frozen=True)
    class KycVerified(LedgerAggregate.Event):
        TOPIC = "tradex.Account.KycVerified"
        reviewer: str

    @dataclass(frozen=True)
    class KycRejected(LedgerAggregate.Event):
        TOPIC = "tradex.Account.KycRejected"
        reviewer: str
        reason: str

    @dataclass(frozen=True)
    class Frozen(LedgerAggregate.Event):
        TOPIC = "tradex.Account.Frozen"
        reason: str

    @dataclass(frozen=True)
    class Unfrozen(LedgerAggregate.Event):
        TOPIC = "tradex.Account.Unfrozen"

    @dataclass(frozen=True)
    class ProfileUpdated(LedgerAggregate.Event):
        TOPIC = "tradex.Account.ProfileUpdated"
        profile: dict[str, Any]

    @dataclass(frozen=True)
    class PreferencesUpdated(LedgerAggregate.Event):
        TOPIC = "tradex.Account.PreferencesUpdated"
        preferences: dict[str, Any]

    @classmethod
    def open(cls, account_id: int, profile: dict[str, Any], preferences: dict[str, Any] | None = None) -> Account:
        if not valid_account_id(account_id):
            raise InvalidReferenceData(f"account id {account_id!r} must be an integer in 1..2**63-1")
        _require_document(profile, "profile")
        _require_document(preferences or {}, "preferences")
        return cls(account_id=account_id, profile=dict(profile), preferences=dict(preferences or {}))

    @event(Created)
    def __init__(self, account_id: int, profile: dict[str, Any], preferences: dict[str, Any]) -> None:
        self.account_id = account_id
        self.profile = profile
        self.preferences = preferences
        self.kyc = KycState.PENDING.value
        self.frozen = False

    @property
    def kyc_state(self) -> KycState:
        return KycState(self.kyc)

    @property
    def may_trade(self) -> bool:
        return self.kyc_state is KycState.VERIFIED and not self.frozen

    def require_may_trade(self) -> None:
        """Refuses trading and withdrawals unless the account is verified and not frozen."""
        if self.frozen:
            raise AccountFrozen(f"account {self.account_id} is frozen", account_id=self.account_id)
        if self.kyc_state is not KycState.VERIFIED:
            raise AccountNotVerified(f"account {self.account_id} KYC is {self.kyc}", account_id=self.account_id)

    # ---- commands ------------------------------------------------------------------------------
    def submit_kyc(self, documents_ref: str) -> None:
        if self.kyc_state is KycState.VERIFIED:
            raise IllegalTransition(f"account {self.account_id} is already verified")
        if self.kyc_state is KycState.REJECTED:
            self._transition(KycState.PENDING)
        self._kyc_submitted(documents_ref=documents_ref)

    def verify_kyc(self, reviewer: str) -> None:
        self._transition(KycState.VERIFIED)
        self._kyc_verified(reviewer=reviewer)

    def reject_kyc(self, reviewer: str, reason: str) -> None:
        self._transition(KycState.REJECTED)
        self._kyc_rejected(reviewer=reviewer, reason=reason)

    def freeze(self, reason: str) -> None:
        if self.frozen:
            raise IllegalTransition(f"account {self.account_id} is already frozen")
        self._frozen(reason=reason)

    def unfreeze(self) -> None:
        if not self.frozen:
            raise IllegalTransition(f"account {self.account_id} is not frozen")
        self._unfrozen()

    def update_profile(self, profile: dict[str, Any]) -> None:
        _require_document(profile, "profile")
        self._profile_updated(profile=dict(profile))

    def update_preferences(self, preferences: dict[str, Any]) -> None:
        _require_document(preferences, "preferences")
        self._preferences_updated(preferences=dict(preferences))

    def _transition(self, target: KycState) -> None:
        if target not in KYC_TRANSITIONS[self.kyc_state]:
            raise IllegalTransition(f"account {self.account_id} KYC cannot go from {self.kyc} to {target.value}")

    # ---- mutators ------------------------------------------------------------------------------
    @event(KycSubmitted)
    def _kyc_submitted(self, documents_ref: str) -> None:
        self.kyc = KycState.PENDING.value

    @event(KycVerified)
    def _kyc_verified(self, reviewer: str) -> None:
        self.kyc = KycState.VERIFIED.value

    @event(KycRejected)
    def _kyc_rejected(self, reviewer: str, reason: str) -> None:
        self.kyc = KycState.REJECTED.value

    @event(Frozen)
    def _frozen(self, reason: str) -> None:
        self.frozen = True

    @event(Unfrozen)
    def _unfrozen(self) -> None:
        self.frozen = False

    @event(ProfileUpdated)
    def _profile_updated(self, profile: dict[str, Any]) -> None:
        self.profile = profile

    @event(PreferencesUpdated)
    def _preferences_updated(self, preferences: dict[str, Any]) -> None:
        self.preferences = preferences


def _require_document(document: Any, name: str) -> None:
    if not isinstance(document, dict) or not all(isinstance(key, str) for key in document):
        raise InvalidReferenceData(f"{name} must be a JSON object with string keys")
