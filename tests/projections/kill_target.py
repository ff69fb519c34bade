"""A projector process for the crash tests: it projects the session's log and, in the chosen window, stops
in the middle of writing it (PostgreSQL: rows written, transaction open; ClickHouse: two of the four
tables inserted), writes a marker file and waits to be killed with SIGKILL.

    python -m tests.projections.kill_target postgres|clickhouse|clickhouse-python HOST PORT DBNAME TARGET MARKER WINDOW

(clickhouse: the SQL projection; clickhouse-python: the Python projector.)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from commands.ledger import Ledger
from infra.bootstrap import postgres_env
from infra.embedded_postgres import PgConnectionInfo
from infra.projector_runner import ClickHouseRunner, LogReader, PgRunner
from projections import clickhouse_store
from projections.catalog import pg_projectors
from projections.clickhouse_projector import Rows
from projections.clickhouse_registry import ClickHouseRegistry
from projections.clickhouse_store import clickhouse_client
from projections.pg_orders import OrdersProjector
from projections.pg_tracking import ReadStore

BATCH = 300


def hang(marker: Path) -> None:
    marker.write_text("in the middle of a window")
    time.sleep(120)
    raise SystemExit("not killed")


class HangingOrders(OrdersProjector):
    def __init__(self, marker: Path, window: int) -> None:
        super().__init__()
        self.marker, self.window, self.seen = marker, window, 0

    def apply(self, cur: Any, batch: Any) -> None:
        super().apply(cur, batch)
        self.seen += 1
        if self.seen == self.window:
            hang(self.marker)


def main(argv: list[str]) -> None:
    mode, host, port, dbname, target, marker_name, window_text = argv
    marker, window = Path(marker_name), int(window_text)
    info = PgConnectionInfo(host, int(port), dbname, "postgres")
    ledger = Ledger(env=postgres_env(info), clock=time.time_ns)
    reader = LogReader(ledger, info.conninfo())
    if mode == "postgres":
        projectors = [HangingOrders(marker, window), *pg_projectors(["balances", "positions", "market_data"])]
        runner = PgRunner(reader, info.conninfo(), projectors, ReadStore(target), batch_size=BATCH)
        runner.setup()
        runner.catch_up()
    else:
        client = clickhouse_client(data_dir=target)
        sql = mode == "clickhouse"
        ch_runner = ClickHouseRunner(reader, client, ClickHouseRegistry(), batch_size=BATCH, sql=sql)
        seen = [0]

        def hook(table: str) -> None:  # the SQL path: called after each insert
            if table == "trades":
                seen[0] += 1
            if table == "order_events" and seen[0] == window:
                hang(marker)

        def write(ch: Client, rows: Rows) -> None:
            seen[0] += 1
            clickhouse_store.insert_tuples(ch, clickhouse_store.TRADES, rows.trades)
            clickhouse_store.insert_tuples(ch, clickhouse_store.ORDER_EVENTS, rows.order_events)
            if seen[0] == window:
                hang(marker)
            clickhouse_store.insert_tuples(ch, clickhouse_store.POSTINGS, rows.postings)
            clickhouse_store.insert_tuples(ch, clickhouse_store.POSITION_SNAPSHOTS, rows.snapshots)

        if sql:
            ch_runner.hook = hook
        else:
            ch_runner.write = write
        ch_runner.setup()
        ch_runner.catch_up()
    raise SystemExit("the window to hang in never came")


if __name__ == "__main__":
    main(sys.argv[1:])
