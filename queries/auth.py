"""Authentication and authorization: JWT bearer tokens and hashed API keys, six roles.

- JWTs are verified with pyjwt against configured keys. Each key has ONE algorithm fixed by
  configuration (RS256, ES256, EdDSA; HS256 only when a shared secret is configured): the token's header
  never chooses it, so "alg: none" and an HS256 token "signed" with a public key are refused. Expiry,
  not-before, issuer and audience are always checked; `exp` and `sub` are required.
- API keys (`X-API-Key: tdx_<key id>_<secret>`) are stored only as the SHA-256 of their random 256-bit
  secret (a slow hash adds nothing against a secret of that entropy) and can be revoked.
- Roles: trader (only the accounts in its `accounts` claim), risk, auditor and regulator (read
  everything), treasury (deposits, withdrawals; reads balances), admin (reference data; reads everything).

Every refusal is a 401 (who are you?) or 403 (not allowed) with a machine-readable code, and is logged
on the `tradex.api.auth` logger with structured fields.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jwt

from queries.errors import ApiError

log = logging.getLogger("tradex.api.auth")

Role = Literal["trader", "risk", "auditor", "regulator", "treasury", "admin"]
ROLES: frozenset[str] = frozenset({"trader", "risk", "auditor", "regulator", "treasury", "admin"})
READ_ALL: frozenset[str] = frozenset({"risk", "auditor", "regulator", "admin"})
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"})
SYMMETRIC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
API_KEY_PREFIX = "tdx_"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str
    accounts: frozenset[int] = frozenset()
    via: str = "jwt"  # jwt | api_key
    key_id: str = ""

    @property
    def rate_key(self) -> str:
        return f"{self.via}:{self.key_id or self.subject}"


@dataclass(frozen=True)
class VerificationKey:
    """One key tokens may be signed with: its id (the token's `kid`), its algorithm, the key material
    (a PEM public key, or the secret for HS*)."""

    kid: str
    algorithm: str
    key: Any

    def __post_init__(self) -> None:
        if self.algorithm not in ASYMMETRIC_ALGORITHMS | SYMMETRIC_ALGORITHMS:
            raise ValueError(f"algorithm {self.algorithm!r} is not supported")


@dataclass(frozen=True)
class JwtSettings:
    keys: tuple[VerificationKey, ...]
    issuer: str
    audience: str
    leeway_s: int = 0


def refuse(status: int, code: str, message: str, request_id: str = "", **fields: Any) -> ApiError:
    """The ApiError of an auth refusal, logged with structured fields."""
    record = {"event": "auth_refused", "status": status, "code": code, "message": message, **fields}
    if request_id:
        record["request_id"] = request_id
    log.warning(json.dumps(record, default=str, sort_keys=True), extra={"auth": record})
    headers = {"WWW-Authenticate": 'Bearer realm="tradex"'} if status == 401 else None
    return ApiError(status, code, message, {k: v for k, v in fields.items() if k != "subject"}, headers)


class JwtVerifier:
    """Verifies bearer tokens. A token that verified once is remembered (by its exact text, up to
    `cache_size` tokens) with its validity window, so a client sending the same token on every request pays
    the signature check once; the window is still checked on every use."""

    def __init__(self, settings: JwtSettings, cache_size: int = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        if not settings.keys:
            raise ValueError("at least one verification key is needed")
        self.settings = settings
        self.by_kid = {key.kid: key for key in settings.keys}
        self.cache_size = cache_size
        self.clock = clock
        self._verified: OrderedDict[str, tuple[Principal, float, float]] = OrderedDict()  # token -> (who, nbf, exp)

    def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            principal, not_before, expires = cached
            now = self.clock()
            leeway = self.settings.leeway_s
            if not_before - leeway <= now < expires + leeway:
                return principal
            del self._verified[token]  # out of its window: the full check says why
        principal, claims = self._verify(token)
        self._verified[token] = (principal, float(claims.get("nbf", 0)), float(claims["exp"]))
        if len(self._verified) > self.cache_size:
            self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> tuple[Principal, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise refuse(401, "invalid_token", "the bearer token is not a well-formed JWT") from None
        kid = header.get("kid")
        if kid is None and len(self.by_kid) == 1:
            key = next(iter(self.by_kid.values()))
        elif isinstance(kid, str) and kid in self.by_kid:
            key = self.by_kid[kid]
        else:
            raise refuse(401, "unknown_key", "the token names no configured key", kid=str(kid)[:64])
        if header.get("alg") != key.algorithm:
            raise refuse(401, "algorithm_not_allowed", f"key {key.kid} accepts {key.algorithm} tokens only",
                         alg=str(header.get("alg"))[:16], kid=key.kid)
        try:
            claims = jwt.decode(token, key.key, algorithms=[key.algorithm], audience=self.settings.audience,
                                issuer=self.settings.issuer, leeway=self.settings.leeway_s,
                                options={"require": ["exp", "sub", "iss", "aud"], "verify_signature": True})
        except jwt.ExpiredSignatureError:
            raise refuse(401, "token_expired", "the token has expired", kid=key.kid) from None
        except jwt.ImmatureSignatureError:
            raise refuse(401, "token_not_yet_valid", "the token is not valid yet (nbf/iat)", kid=key.kid) from None
        except jwt.InvalidIssuerError:
            raise refuse(401, "invalid_issuer", "the token's issuer is not accepted", kid=key.kid) from None
        except jwt.InvalidAudienceError:
            raise refuse(401, "invalid_audience", "the token is not meant for this API", kid=key.kid) from None
        except jwt.MissingRequiredClaimError as error:
            raise refuse(401, "missing_claim", f"the token lacks the {error.claim!r} claim", kid=key.kid) from None
        except jwt.InvalidSignatureError:
            raise refuse(401, "invalid_signature", "the token's signature does not verify", kid=key.kid) from None
        except jwt.InvalidAlgorithmError:
            raise refuse(401, "algorithm_not_allowed", "the token's algorithm is not accepted", kid=key.kid) from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise refuse(401, "invalid_token", "the token does not verify", kid=key.kid) from None
        return principal_from_claims(claims, "jwt", ""), claims


def principal_from_claims(claims: Mapping[str, Any], via: str, key_id: str) -> Principal:
    role = claims.get("role")
    subject = claims.get("sub")
    if role not in ROLES or not isinstance(subject, str) or not subject:
        raise refuse(401, "invalid_claims", "the credentials carry no valid role and subject",
                     role=str(role)[:32])
    accounts = claims.get("accounts", [])
    if not isinstance(accounts, list) or not all(isinstance(a, int) and not isinstance(a, bool) for a in accounts):
        raise refuse(401, "invalid_claims", "the accounts claim must be a list of integers")
    if role == "trader" and not accounts:
        raise refuse(401, "invalid_claims", "a trader's credentials name its accounts")
    return Principal(subject, str(role), frozenset(accounts), via, key_id)


@dataclass
class ApiKeyRecord:
    key_id: str
    secret_sha256: str
    role: str
    accounts: list[int] = field(default_factory=list)
    subject: str = ""
    revoked: bool = False


class ApiKeyStore:
    """API keys by id, holding only the SHA-256 of each secret; optionally kept in a JSON file, which is
    re-read when it changes (so `tradex token --revoke` takes effect in a running API at once)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.records: dict[str, ApiKeyRecord] = {}
        self._loaded_mtime_ns = -1
        self._reload()

    def _reload(self) -> None:
        if self.path is None:
            return
        try:
            mtime_ns = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if mtime_ns == self._loaded_mtime_ns:
            return
        records = {}
        for item in json.loads(self.path.read_text()):
            record = ApiKeyRecord(**item)
            records[record.key_id] = record
        self.records, self._loaded_mtime_ns = records, mtime_ns

    def issue(self, role: str, accounts: Iterable[int] = (), subject: str = "") -> str:
        """Create a key; returns the full key text, which is shown once and never stored."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        record = ApiKeyRecord(key_id, _sha256(secret), role, sorted(accounts), subject or f"api-key:{key_id}")
        with self._lock:
            self._reload()
            self.records[key_id] = record
            self._save()
        return f"{API_KEY_PREFIX}{key_id}_{secret}"

    def revoke(self, key_id: str) -> bool:
        with self._lock:
            self._reload()
            record = self.records.get(key_id)
            if record is None:
                return False
            record.revoked = True
            self._save()
            return True

    def verify(self, text: str) -> Principal:
        if not text.startswith(API_KEY_PREFIX) or text.count("_") < 2:
            raise refuse(401, "invalid_api_key", "the API key is malformed")
        key_id, _, secret = text[len(API_KEY_PREFIX):].partition("_")
        with self._lock:
            self._reload()
        record = self.records.get(key_id)
        if record is None or not hmac.compare_digest(record.secret_sha256, _sha256(secret)):
            raise refuse(401, "invalid_api_key", "the API key is not valid", key_id=key_id[:32])
        if record.revoked:
            raise refuse(401, "api_key_revoked", "the API key was revoked", key_id=key_id)
        claims = {"sub": record.subject, "role": record.role, "accounts": record.accounts}
        return principal_from_claims(claims, "api_key", key_id)

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps([record.__dict__ for record in self.records.values()], indent=1))
        temporary.chmod(0o600)
        temporary.replace(self.path)
        self._loaded_mtime_ns = self.path.stat().st_mtime_ns


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Authenticator:
    """Turns a request's headers into a Principal (or a logged 401)."""

    def __init__(self, verifier: JwtVerifier, api_keys: ApiKeyStore) -> None:
        self.verifier = verifier
        self.api_keys = api_keys

    def authenticate(self, authorization: str | None, api_key: str | None) -> Principal:
        if api_key is not None:
            return self.api_keys.verify(api_key.strip())
        if authorization is None:
            raise refuse(401, "missing_credentials", "send 'Authorization: Bearer <jwt>' or 'X-API-Key'")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise refuse(401, "invalid_token", "the Authorization header must be 'Bearer <jwt>'")
        return self.verifier.verify(token.strip())


def require_role(principal: Principal, allowed: frozenset[str], action: str) -> None:
    if principal.role not in allowed:
        raise refuse(403, "forbidden_role", f"role {principal.role} may not {action}", role=principal.role,
                     subject=principal.subject, action=action)


def require_account(principal: Principal, account_id: int, action: str, others: frozenset[str] = READ_ALL) -> None:
    """A trader acts on its own accounts only; roles in `others` may act on any account."""
    if principal.role in others:
        return
    if principal.role == "trader" and account_id in principal.accounts:
        return
    raise refuse(403, "forbidden_account", f"{principal.subject} may not {action} for account {account_id}",
                 role=principal.role, subject=principal.subject, account_id=account_id, action=action)
