"""The API over real HTTP: the venue on the test's PostgreSQL, uvicorn on a free loopback port."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import sql

from commands.ledger import Ledger
from commands.sequencer import Sequencer
from commands.venue import Venue
from infra.api_server import ApiServer, LedgerEventFeed, SequencerGateway
from infra.bootstrap import postgres_env
from infra.embedded_postgres import EmbeddedPostgres, PgConnectionInfo
from infra.token_cli import mint_token
from queries.app import ApiConfig, create_app
from queries.auth import ApiKeyStore, Authenticator, JwtSettings, JwtVerifier, VerificationKey
from tests.conftest import FakeClock
from tests.ledger_fixtures import ALICE, BOB, seed_reference_data

ISSUER, AUDIENCE, KID = "tradex-test", "tradex-api-test", "test-key"


@dataclass
class ApiVenue:
    url: str
    ledger: Ledger
    venue: Venue
    sequencer: Sequencer
    private_key: Any
    public_pem: bytes
    api_keys: ApiKeyStore
    app: Any

    def token(self, role: str, accounts: list[int] | None = None, **overrides: Any) -> str:
        return mint_token(self.private_key, role, accounts or [], issuer=overrides.pop("issuer", ISSUER),
                          audience=overrides.pop("audience", AUDIENCE), kid=overrides.pop("kid", KID), **overrides)

    def headers(self, role: str, accounts: list[int] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, accounts)}"}

    def client(self, role: str | None = None, accounts: list[int] | None = None) -> httpx.Client:
        headers = self.headers(role, accounts) if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10.0)

    def head(self) -> int:
        return int(self.ledger.recorder.max_notification_id() or 0)


@contextmanager
def running_api_venue(ledger: Ledger, directory: Path, config: ApiConfig | None = None) -> Iterator[ApiVenue]:
    """The seeded venue on `ledger`, its sequencer, and the API on a free loopback port."""
    seed_reference_data(ledger)
    venue = Venue(ledger)
    venue.start()
    sequencer = Sequencer(venue, tune_gc=False).start()
    private_key = Ed25519PrivateKey.generate()
    public_pem = private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    api_keys = ApiKeyStore(directory / "api_keys.json")
    authenticator = Authenticator(JwtVerifier(JwtSettings((VerificationKey(KID, "EdDSA", public_pem),), ISSUER,
                                                          AUDIENCE)), api_keys)
    app = create_app(config or ApiConfig(rate_per_s=100_000, rate_burst=100_000), SequencerGateway(venue, sequencer),
                     LedgerEventFeed(ledger), authenticator)
    server = ApiServer(app).start()
    try:
        yield ApiVenue(server.url, ledger, venue, sequencer, private_key, public_pem, api_keys, app)
    finally:
        server.stop()
        sequencer.stop()


@pytest.fixture
def api_venue(make_pg_ledger: Callable[..., Ledger], tmp_path: Path) -> Iterator[ApiVenue]:
    with running_api_venue(make_pg_ledger(), tmp_path) as venue:
        yield venue


@pytest.fixture(scope="module")
def module_api_venue(postgres_server: tuple[EmbeddedPostgres, PgConnectionInfo],
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiVenue]:
    """One venue for a whole module (on its own database of the session's server)."""
    _, server_info = postgres_server
    name = f"api_module_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_info.conninfo("postgres"), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = PgConnectionInfo(server_info.host, server_info.port, name, server_info.user)
    ledger = Ledger(env=postgres_env(info), clock=FakeClock())
    try:
        with running_api_venue(ledger, tmp_path_factory.mktemp("api"),
                               ApiConfig(rate_per_s=100_000, rate_burst=100_000, min_position_wait_s=0.5)) as venue:
            yield venue
    finally:
        ledger.close()
        with psycopg.connect(server_info.conninfo("postgres"), autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def wait_for(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


__all__ = ["ALICE", "BOB", "ApiVenue", "wait_for"]
