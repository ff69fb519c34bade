"""Fixtures of the read-model tests: a PostgreSQL connection on the test's fresh database, an embedded
ClickHouse (chdb) in a temporary directory, trade sets (hand-made and seeded random), and one scripted
trading session's log with its from-scratch model (`session_log`, built once per test run)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from clickhouse_connect.driver.client import Client

from commands.ledger import Ledger
from infra.bootstrap import postgres_env
from infra.embedded_postgres import EmbeddedPostgres, PgConnectionInfo
from projections.clickhouse_store import clickhouse_client, create_tables
from projections.market_data import NS_PER_DAY, NS_PER_MINUTE, TradeRow
from tests.projections.log_model import Logged, Model, model, read_log
from tests.projections.session import run_session, session_clock

DAY0_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
SYMBOLS = ("BTC-USDT", "ETH-USDT", "SOL-USDT")


@pytest.fixture
def pg_conn(pg: PgConnectionInfo) -> Iterator[psycopg.Connection[Any]]:
    """A connection to the test's own fresh database (not autocommit: tests commit like a projector)."""
    with psycopg.connect(pg.conninfo()) as connection:
        yield connection


@pytest.fixture
def ch(tmp_path: Path) -> Iterator[Client]:
    """An embedded ClickHouse on a fresh data directory, with the analytics tables; closed afterwards
    (chdb runs one data directory per process at a time)."""
    client = clickhouse_client(data_dir=tmp_path / "chdb")
    try:
        create_tables(client)
        yield client
    finally:
        client.close()


def trade(position: int, symbol: str, ts_ns: int, price_ticks: int, qty_lots: int, *, tick_lot_value: int = 10,
          taker_side: str = "buy", buy_account: int = 1, sell_account: int = 2) -> TradeRow:
    """A trade row with derived fields: notional = price x qty x tick_lot_value, order ids from the position."""
    number = position
    return TradeRow(position=position, trade_id=f"{symbol}:{number}", symbol=symbol, ts_ns=ts_ns,
                    price_ticks=price_ticks, qty_lots=qty_lots, notional=price_ticks * qty_lots * tick_lot_value,
                    taker_side=taker_side, buy_account=buy_account, sell_account=sell_account,
                    buy_order_id=2 * position, sell_order_id=2 * position + 1)


def random_trades(seed: int, count: int, *, days: int = 3, accounts: int = 6) -> list[TradeRow]:
    """Seeded random trades over `days` days from DAY0 - 1 day, clustered so that many share a
    timestamp (ties broken by position) and every bucket edge is crossed. Positions are 1..count
    in log order; timestamps are not monotonic in position (late data)."""
    rng = random.Random(seed)
    start = DAY0_NS - NS_PER_DAY
    rows = []
    for position in range(1, count + 1):
        if rng.random() < 0.2:  # a cluster on a bucket edge, often the very same ns
            ts_ns = start + rng.randrange(days * 24 * 12) * 5 * NS_PER_MINUTE - rng.choice((0, 0, 1, 2))
        else:
            ts_ns = start + rng.randrange(days * NS_PER_DAY)
        buyer = rng.randrange(1, accounts + 1)
        seller = rng.randrange(1, accounts + 1)
        rows.append(trade(position, rng.choice(SYMBOLS), max(ts_ns, 0), rng.randint(1, 400), rng.randint(1, 60),
                          taker_side=rng.choice(("buy", "sell")), buy_account=buyer, sell_account=seller))
    return rows


# ---- a trading session's log, shared by the projection tests ---------------------------------------


@dataclass
class SessionLog:
    """A database holding one scripted trading session's log, its ledger, and the from-scratch model."""

    info: PgConnectionInfo
    ledger: Ledger
    log: list[Logged]
    model: Model

    @property
    def conninfo(self) -> str:
        return self.info.conninfo()

    @property
    def head(self) -> int:
        return self.model.head


@pytest.fixture(scope="session")
def session_log(postgres_server: tuple[EmbeddedPostgres, PgConnectionInfo]) -> Iterator[SessionLog]:
    """The session of tests/projections/session.py, written once to its own database. Tests must not add
    events to it (each uses its own read-model prefix or ClickHouse directory)."""
    _, server = postgres_server
    name = "projection_session"
    with psycopg.connect(server.conninfo("postgres"), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    info = PgConnectionInfo(server.host, server.port, name, server.user)
    clock = session_clock()
    ledger = Ledger(env=postgres_env(info), clock=clock)
    try:
        run_session(ledger, clock)
        log = read_log(ledger)
        yield SessionLog(info, ledger, log, model(log))
    finally:
        ledger.close()
        with psycopg.connect(server.conninfo("postgres"), autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
