"""Shared fixtures. Integration tests get a real PostgreSQL that this test session starts itself.

One server per test session, on a free loopback port, with its data in a temporary directory that is
removed afterwards; each test gets a fresh database in it.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from commands.ledger import Ledger
from infra.bootstrap import postgres_env
from infra.embedded_postgres import EmbeddedPostgres, PgConnectionInfo

_database_numbers = itertools.count(1)


class FakeClock:
    """A controllable clock: int nanoseconds, advancing by `step` on every read."""

    def __init__(self, start_ns: int = 1_767_225_600_000_000_000, step_ns: int = 1_000) -> None:
        self.now_ns = start_ns
        self.step_ns = step_ns

    def __call__(self) -> int:
        self.now_ns += self.step_ns
        return self.now_ns


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[EmbeddedPostgres, PgConnectionInfo]]:
    base = Path(tempfile.mkdtemp(prefix="tradex-test-pg-"))
    base.chmod(0o711)  # the server may run as the `postgres` user, which must reach the data directory
    server = EmbeddedPostgres(base / "pgdata", fsync=False)
    try:
        info = server.start()
        yield server, info
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg(postgres_server: tuple[EmbeddedPostgres, PgConnectionInfo]) -> Iterator[PgConnectionInfo]:
    """A fresh, empty database on the session's server; dropped after the test."""
    _, server_info = postgres_server
    name = f"test_{next(_database_numbers)}"
    with psycopg.connect(server_info.conninfo("postgres"), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = PgConnectionInfo(server_info.host, server_info.port, name, server_info.user)
    yield info
    with psycopg.connect(server_info.conninfo("postgres"), autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def make_pg_ledger(pg: PgConnectionInfo, clock: FakeClock) -> Iterator[Callable[..., Ledger]]:
    """Build ledgers on the test's PostgreSQL database (several may share it, like several processes)."""
    built: list[Ledger] = []

    def make(**extra_env: str) -> Ledger:
        ledger = Ledger(env={**postgres_env(pg), **extra_env}, clock=clock)
        built.append(ledger)
        return ledger

    yield make
    for ledger in built:
        ledger.close()


@pytest.fixture
def memory_ledger(clock: FakeClock) -> Iterator[Ledger]:
    """The ledger on eventsourcing's in-memory store: for command-handling tests that need no server."""
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)
    ledger.open_system_wallets()
    yield ledger
    ledger.close()
