"""ClickHouse analytics store: client, tables, typed rows, batched idempotent inserts, resume positions.

The same code runs on the embedded default (chdb in-process, one data directory per process) and on a
ClickHouse server or cluster over HTTP; `clickhouse_client` picks by its arguments.

ClickHouse has no transactions, so the data carries its own tracking: every row stores the log
`position` (notification id) of the event it comes from, and a replayed batch cannot double-count,
twice over:

1. every insert carries an `insert_deduplication_token` (by default derived from the table and the
   batch's first and last position and size) and every table keeps a deduplication window
   (`non_replicated_deduplication_window`), so re-sending the same batch is dropped at insert time;
2. every table is a ReplacingMergeTree whose sorting key identifies a row by its log coordinates
   (`position`, plus `seq` where one event yields several rows), so rows replayed in a differently cut
   batch collapse at merge time, and the analytics queries read with FINAL (or argMax) so they are
   exact before the merge has happened.

The version column is `position`: rows with equal keys are copies of the same fact, and the one from
the latest log position is the one kept.

Resuming: `max_position(client, table)` is the highest position stored in a table. A projector that
writes several tables per batch records the batch's last position with `record_position` after all its
inserts, and resumes from `tracked_position` (replaying at most the batch in flight at a crash, which
the deduplication above absorbs).

Money is integers only: Int64 per row (minor units, ticks, lots, as in the ledger); the queries sum in
Int128 (`toInt128`) because ClickHouse's sum of Int64 wraps around silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from projections.market_data import TradeRow

DEDUP_WINDOW = 10_000  # inserts remembered per table for insert_deduplication_token


def clickhouse_client(*, data_dir: str | Path | None = None, host: str | None = None, port: int = 8123,
                      username: str = "default", password: str = "", database: str = "default",
                      secure: bool = False, settings: Mapping[str, Any] | None = None) -> Client:
    """A clickhouse-connect client: embedded chdb on `data_dir`, or the server at `host`.

    Embedded: `clickhouse_connect.get_client(dsn="chdb:///<abs data_dir>")`. chdb runs one engine per
    process and per data directory: close every client of one directory before opening another, and do
    not open the same directory from two processes. `database` is created if missing.
    Server: HTTP(S) to host:port with username/password; the database must exist.
    Close the client when done (`client.close()`).
    """
    extra = dict(settings or {})
    if host is not None:
        return clickhouse_connect.get_client(host=host, port=port, username=username, password=password,
                                             database=database, secure=secure, settings=extra)
    if data_dir is None:
        raise ValueError("give data_dir (embedded chdb) or host (a ClickHouse server)")
    path = Path(data_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    client = clickhouse_connect.get_client(dsn=f"chdb://{path}", settings=extra)
    if database != "default":
        client.command(f"CREATE DATABASE IF NOT EXISTS {_identifier(database)}")
        client.database = database
        client.command(f"USE {_identifier(database)}")
    return client


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


# ---- typed rows ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderEventRow:
    """One order event (or one fill of a fills event) for analytics.

    `seq` numbers the rows that one event yields (0 for most events; the fill index for FillsRecorded).
    `event_type`: placed, accepted, rejected, amended, reduced, triggered, filled, cancelled, expired.
    `qty_lots` is the event's own quantity: ordered (placed), filled (filled), removed (cancelled,
    expired, reduced), new leaves (amended); 0 where none applies.
    """

    position: int
    seq: int
    ts_ns: int
    symbol: str
    account: int
    order_id: int
    event_type: str
    side: str  # "buy" / "sell"
    order_type: str  # "limit", "market", ... ("" if the event does not say)
    price_ticks: int  # limit or fill price; 0 if none
    qty_lots: int
    leaves_qty_lots: int  # open qty after the event
    fee: int  # quote minor units paid (fills); 0 otherwise
    liquidity: str  # "maker" / "taker" for fills; "" otherwise
    trade_id: str  # fills only; "" otherwise
    reason: str  # rejections, cancellations; "" otherwise


@dataclass(frozen=True, slots=True)
class PostingRow:
    """One double-entry posting: `amount` minor units of `asset` from `debit_account` to `credit_account`.

    `seq` numbers the postings of one event. `symbol` is the instrument whose trade caused the posting
    ("" for deposits, withdrawals, transfers).
    """

    position: int
    seq: int
    ts_ns: int
    posting_id: str
    asset: str
    amount: int  # positive, minor units
    debit_account: int
    credit_account: int
    kind: str  # deposit, withdrawal, transfer, trade, fee, settlement, ...
    symbol: str


@dataclass(frozen=True, slots=True)
class PositionSnapshotRow:
    """The state of one account's position in one instrument right after the event at `position`.

    Amounts are the instrument's quote minor units; `open_cost` is signed (+ long, - short) like the
    domain's Position; unrealized PnL at a mark price p is `net_qty_lots * p * tick_lot_value - open_cost`.
    """

    position: int
    ts_ns: int
    account: int
    symbol: str
    net_qty_lots: int  # + long, - short
    open_cost: int
    realized_pnl: int
    fees_paid: int
    bought_lots: int
    sold_lots: int
    tick_lot_value: int  # quote minor units of one lot per tick


# ---- tables ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableSpec:
    """A ClickHouse table: its row type, columns (in the row type's field order) and engine clauses."""

    name: str
    row_type: type
    column_types: tuple[tuple[str, str], ...]
    order_by: str
    partition_by: str

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.column_types]

    def create_sql(self) -> str:
        columns = ",\n    ".join(f"{name} {kind}" for name, kind in self.column_types)
        return (f"CREATE TABLE IF NOT EXISTS {self.name} (\n    {columns}\n)\n"
                "ENGINE = ReplacingMergeTree(position)\n"
                f"PARTITION BY {self.partition_by}\nORDER BY ({self.order_by})\n"
                f"SETTINGS non_replicated_deduplication_window = {DEDUP_WINDOW}")


_MONTH = "toYYYYMM(fromUnixTimestamp64Nano(ts_ns, 'UTC'))"

TRADES = TableSpec(
    name="trades",
    row_type=TradeRow,
    column_types=(
        ("position", "Int64"), ("trade_id", "String"), ("symbol", "LowCardinality(String)"), ("ts_ns", "Int64"),
        ("price_ticks", "Int64"), ("qty_lots", "Int64"), ("notional", "Int64"),
        ("taker_side", "LowCardinality(String)"), ("buy_account", "Int64"), ("sell_account", "Int64"),
        ("buy_order_id", "Int64"), ("sell_order_id", "Int64"),
    ),
    # per-symbol time ranges (VWAP, candles, last price) read a contiguous key range
    order_by="symbol, ts_ns, position",
    partition_by=_MONTH,
)

ORDER_EVENTS = TableSpec(
    name="order_events",
    row_type=OrderEventRow,
    column_types=(
        ("position", "Int64"), ("seq", "UInt32"), ("ts_ns", "Int64"), ("symbol", "LowCardinality(String)"),
        ("account", "Int64"), ("order_id", "Int64"), ("event_type", "LowCardinality(String)"),
        ("side", "LowCardinality(String)"), ("order_type", "LowCardinality(String)"), ("price_ticks", "Int64"),
        ("qty_lots", "Int64"), ("leaves_qty_lots", "Int64"), ("fee", "Int64"),
        ("liquidity", "LowCardinality(String)"), ("trade_id", "String"), ("reason", "String"),
    ),
    # per-account activity (order-to-trade ratio, order history) reads a contiguous key range
    order_by="account, symbol, position, seq",
    partition_by=_MONTH,
)

POSTINGS = TableSpec(
    name="postings",
    row_type=PostingRow,
    column_types=(
        ("position", "Int64"), ("seq", "UInt32"), ("ts_ns", "Int64"), ("posting_id", "String"),
        ("asset", "LowCardinality(String)"), ("amount", "Int64"), ("debit_account", "Int64"),
        ("credit_account", "Int64"), ("kind", "LowCardinality(String)"), ("symbol", "LowCardinality(String)"),
    ),
    # fees and flows per asset and kind read a contiguous key range
    order_by="asset, kind, position, seq",
    partition_by=_MONTH,
)

POSITION_SNAPSHOTS = TableSpec(
    name="position_snapshots",
    row_type=PositionSnapshotRow,
    column_types=(
        ("position", "Int64"), ("ts_ns", "Int64"), ("account", "Int64"), ("symbol", "LowCardinality(String)"),
        ("net_qty_lots", "Int64"), ("open_cost", "Int64"), ("realized_pnl", "Int64"), ("fees_paid", "Int64"),
        ("bought_lots", "Int64"), ("sold_lots", "Int64"), ("tick_lot_value", "Int64"),
    ),
    # the latest state per (symbol, account) is argMax over a contiguous key range; history is kept
    order_by="symbol, account, position",
    partition_by=_MONTH,
)

TABLES: tuple[TableSpec, ...] = (TRADES, ORDER_EVENTS, POSTINGS, POSITION_SNAPSHOTS)

PROJECTION_POSITIONS_SQL = """CREATE TABLE IF NOT EXISTS projection_positions (
    projection_name LowCardinality(String),
    position Int64
)
ENGINE = ReplacingMergeTree(position)
ORDER BY projection_name"""


def _check_columns_match_rows() -> None:
    """Fail at import if a table's columns and its row type's fields drift apart."""
    for table in TABLES:
        field_names = [f.name for f in fields(table.row_type)]
        if sorted(field_names) != sorted(table.column_names):
            raise RuntimeError(f"{table.name}: columns {table.column_names} != row fields {field_names}")


_check_columns_match_rows()


def create_tables(client: Client) -> None:
    """Create the analytics tables and the projection positions table if missing (idempotent)."""
    for table in TABLES:
        client.command(table.create_sql())
    client.command(PROJECTION_POSITIONS_SQL)


# ---- inserts ---------------------------------------------------------------------------------------


def default_dedup_token(table: TableSpec, rows: Sequence[Any]) -> str:
    """The batch's identity: table, first and last log position, row count. Equal for a replayed batch."""
    return f"{table.name}:{rows[0].position}:{rows[-1].position}:{len(rows)}"


_INT_ONLY = frozenset({int})
_STR_ONLY = frozenset({str})


def insert_rows(client: Client, table: TableSpec, rows: Sequence[Any], dedup_token: str | None = None) -> int:
    """Insert a batch of `table.row_type` rows in one INSERT, with an insert deduplication token; return the count.

    The rows are checked first (type and integer money fields), so a bad batch fails before anything
    is written. Pass the same `dedup_token` (or let it default) when re-sending a batch.
    """
    if not rows:
        return 0
    for row in rows:
        if type(row) is not table.row_type:
            raise TypeError(f"{table.name} takes {table.row_type.__name__} rows, got {type(row).__name__}")
    columns = [list(map(attrgetter(name), rows)) for name in table.column_names]
    token = dedup_token if dedup_token is not None else default_dedup_token(table, rows)
    return insert_columns(client, table, columns, token)


def insert_tuples(client: Client, table: TableSpec, rows: Sequence[tuple[Any, ...]],
                  dedup_token: str | None = None) -> int:
    """`insert_rows` for rows given as plain tuples in the table's column order (the row type's field order):
    what a projector builds when it writes hundreds of thousands of rows (no object per row)."""
    if not rows:
        return 0
    columns = [list(column) for column in zip(*rows, strict=True)]
    if len(columns) != len(table.column_types):
        raise TypeError(f"{table.name} rows have {len(table.column_types)} values, got {len(columns)}")
    position = table.column_names.index("position")
    token = dedup_token if dedup_token is not None else \
        f"{table.name}:{rows[0][position]}:{rows[-1][position]}:{len(rows)}"
    return insert_columns(client, table, columns, token)


def insert_columns(client: Client, table: TableSpec, columns: Sequence[list[Any]], dedup_token: str) -> int:
    """One INSERT of column lists (in the table's column order), checked first: Int columns hold exact ints
    (no bool, float or Decimal on the money path), String columns strs."""
    for (name, kind), values in zip(table.column_types, columns, strict=True):
        expected = _INT_ONLY if "Int" in kind else _STR_ONLY
        if not set(map(type, values)) <= expected:
            raise TypeError(f"{table.name}.{name} must hold {'ints' if expected is _INT_ONLY else 'strs'}")
    client.insert(table.name, columns, column_names=table.column_names, column_oriented=True,
                  column_type_names=[_wire_type(kind) for _, kind in table.column_types],
                  settings={"insert_deduplicate": 1, "insert_deduplication_token": dedup_token})
    return len(columns[0]) if columns else 0


def _wire_type(kind: str) -> str:
    """The type a column is sent as: LowCardinality(T) goes as plain T and the server builds the dictionary
    (building it in Python cost a fifth of an insert's time)."""
    if kind.startswith("LowCardinality(") and kind.endswith(")"):
        return kind[len("LowCardinality("):-1]
    return kind


def insert_trades(client: Client, rows: Sequence[TradeRow], dedup_token: str | None = None) -> int:
    return insert_rows(client, TRADES, rows, dedup_token)


def insert_order_events(client: Client, rows: Sequence[OrderEventRow], dedup_token: str | None = None) -> int:
    return insert_rows(client, ORDER_EVENTS, rows, dedup_token)


def insert_postings(client: Client, rows: Sequence[PostingRow], dedup_token: str | None = None) -> int:
    return insert_rows(client, POSTINGS, rows, dedup_token)


def insert_position_snapshots(client: Client, rows: Sequence[PositionSnapshotRow],
                              dedup_token: str | None = None) -> int:
    return insert_rows(client, POSITION_SNAPSHOTS, rows, dedup_token)


# ---- resume ----------------------------------------------------------------------------------------


def max_position(client: Client, table: TableSpec | str) -> int:
    """The highest log position stored in `table` (0 if empty): where a projector of that table resumes."""
    name = table.name if isinstance(table, TableSpec) else _identifier(table)
    result = client.query(f"SELECT max(position) FROM {name}")
    return int(result.result_rows[0][0])


def record_position(client: Client, projection: str, position: int) -> None:
    """Record that `projection` has written everything up to `position` (after all of a batch's inserts)."""
    client.insert("projection_positions", [[projection], [position]], column_names=["projection_name", "position"],
                  column_oriented=True, column_type_names=["LowCardinality(String)", "Int64"])


def tracked_position(client: Client, projection: str) -> int:
    """The last position recorded for `projection` (0 if none)."""
    result = client.query("SELECT max(position) FROM projection_positions WHERE projection_name = {p:String}",
                          parameters={"p": projection})
    return int(result.result_rows[0][0])
