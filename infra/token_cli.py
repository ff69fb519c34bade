"""Development credentials: an Ed25519 key pair in the data directory, JWTs minted with it, API keys.

`tradex token --role trader --account 1001` prints a bearer token for the API (`tradex run` verifies
tokens against the public half). The private key never leaves the data directory (mode 0600); in
production the API is configured with the identity provider's public keys instead
(TRADEX_API_JWT_PUBLIC_KEY) and this key pair is not used.

`tradex token --api-key --role trader --account 1001` issues an API key (printed once; only its SHA-256
is stored, in <data dir>/api/api_keys.json) and `tradex token --revoke KEY_ID` revokes one.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from infra.settings import SettingsError, load_settings
from queries.auth import ROLES, ApiKeyStore

DEV_KID = "tradex-dev"
DEV_ALGORITHM = "EdDSA"
DEFAULT_ISSUER = "tradex-dev"
DEFAULT_AUDIENCE = "tradex-api"


def api_dir(data_dir: Path) -> Path:
    return data_dir / "api"


def ensure_dev_keys(data_dir: Path) -> tuple[Path, Path]:
    """The development key pair (created on first use): (private PEM, public PEM)."""
    directory = api_dir(data_dir)
    private_path, public_path = directory / "dev_jwt_ed25519.pem", directory / "dev_jwt_ed25519.pub.pem"
    if private_path.exists() and public_path.exists():
        return private_path, public_path
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    temporary = private_path.with_suffix(".tmp")
    temporary.write_bytes(private_pem)
    temporary.chmod(0o600)
    temporary.replace(private_path)
    public_path.write_bytes(public_pem)
    return private_path, public_path


def mint_token(private_key: Any, role: str, accounts: list[int], subject: str = "", ttl_s: int = 3_600,
               issuer: str = DEFAULT_ISSUER, audience: str = DEFAULT_AUDIENCE, kid: str = DEV_KID,
               algorithm: str = DEV_ALGORITHM, now_s: int | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {sorted(ROLES)}")
    now = int(time.time()) if now_s is None else now_s
    claims = {"sub": subject or f"dev-{role}-{'-'.join(map(str, accounts)) or 'all'}", "role": role,
              "accounts": accounts, "iss": issuer, "aud": audience, "iat": now, "nbf": now, "exp": now + ttl_s,
              "jti": uuid.uuid4().hex}
    return jwt.encode(claims, private_key, algorithm=algorithm, headers={"kid": kid})


def add_token_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("token", help="mint a development JWT (or issue/revoke an API key)")
    parser.add_argument("--role", choices=sorted(ROLES), default="trader")
    parser.add_argument("--account", type=int, action="append", default=[], help="an account (repeatable)")
    parser.add_argument("--subject", default="", help="the token's subject (default: derived)")
    parser.add_argument("--ttl", type=int, default=3_600, help="seconds the token is valid (default 3600)")
    parser.add_argument("--data-dir", help="data directory holding the development key pair (default ./var)")
    parser.add_argument("--api-key", action="store_true", help="issue an API key instead of a JWT")
    parser.add_argument("--revoke", metavar="KEY_ID", help="revoke an API key")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"tradex token: {error}", file=sys.stderr)
        return 2
    if args.data_dir:
        settings = replace(settings, data_dir=Path(args.data_dir))
    if args.role == "trader" and not args.account and not args.revoke:
        print("tradex token: a trader needs --account", file=sys.stderr)
        return 2
    if args.revoke or args.api_key:
        store = ApiKeyStore(api_dir(settings.data_dir) / "api_keys.json")
        if args.revoke:
            found = store.revoke(args.revoke)
            print("revoked" if found else "no such key", file=sys.stderr)
            return 0 if found else 1
        print(store.issue(args.role, args.account, args.subject))
        return 0
    from infra.api_server import ApiSettings  # the issuer and audience the API checks

    api = ApiSettings.from_env(section=settings.api)
    private_path, _ = ensure_dev_keys(settings.data_dir)
    private_key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    print(mint_token(private_key, args.role, args.account, args.subject, args.ttl, api.issuer, api.audience))
    return 0
