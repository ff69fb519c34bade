"""Composition root: builds the ledger from settings (embedded or configured PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from commands.ledger import Clock, Ledger
from infra.clock import WallClock
from infra.embedded_postgres import EmbeddedPostgres, PgConnectionInfo
from infra.settings import Settings


def postgres_env(info: PgConnectionInfo, schema: str = "") -> dict[str, str]:
    """eventsourcing's environment for the PostgreSQL event store."""
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": info.dbname,
        "POSTGRES_HOST": info.host,
        "POSTGRES_PORT": str(info.port),
        "POSTGRES_USER": info.user,
        "POSTGRES_PASSWORD": info.password,
        "POSTGRES_POOL_SIZE": "5",
        "POSTGRES_MAX_OVERFLOW": "10",
        "POSTGRES_LOCK_TIMEOUT": "5",
        # COPY-based inserts and orjson encoding; tables, hash chain and stored bytes are those of the
        # stock eventsourcing path (docs/event-store-performance.md)
        "APPLICATION_RECORDER_TOPIC": "infra.fast_recorder:FastHashChainedRecorder",
        "MAPPER_TOPIC": "infra.fast_mapper:FastMapper",
    }
    if schema:
        env["POSTGRES_SCHEMA"] = schema
    return env


@dataclass
class Store:
    """Where the event store lives, and how long an embedded server took to start (0 when external)."""

    info: PgConnectionInfo
    embedded: bool
    startup_seconds: float


@contextmanager
def open_store(settings: Settings) -> Iterator[Store]:
    """The PostgreSQL to use: the configured one, or the embedded server (started and stopped here)."""
    if not settings.postgres.embedded:
        pg = settings.postgres
        yield Store(PgConnectionInfo(pg.host, pg.port, pg.dbname, pg.user, pg.password), False, 0.0)
        return
    server = EmbeddedPostgres(settings.embedded_pg_dir, settings.embedded_pg_port, settings.pg_bin_dir,
                              settings.postgres.dbname)
    with server as info:
        yield Store(info, True, server.startup_seconds)


@contextmanager
def open_ledger(settings: Settings, clock: Clock | None = None) -> Iterator[tuple[Ledger, Store]]:
    with ExitStack() as stack:
        store = stack.enter_context(open_store(settings))
        ledger = Ledger(env=postgres_env(store.info, settings.postgres.schema), clock=clock or WallClock())
        stack.callback(ledger.close)
        ledger.open_system_wallets()
        yield ledger, store
