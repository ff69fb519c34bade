"""Market data in plain PostgreSQL (the fallback when TimescaleDB is absent): trades and OHLCV candles.

Tables (unqualified names: they go into the connection's current schema):

- `md_trades`: every trade, declaratively partitioned by RANGE on `ts_ns` into one partition per UTC
  day (`md_trades_pYYYYMMDD`), each created on demand by `apply_trades` before the first trade of that
  day is written. Primary key `(symbol, ts_ns, position)`: it serves "trades of a symbol in a time
  range" and makes a replayed trade a no-op.
- `md_candles_1m`, `md_candles_5m`, `md_candles_1h`, `md_candles_1d`: one table per interval with the
  columns of `projections.market_data.Candle`, primary key `(symbol, bucket_start_ns)`. The column
  names and types are exactly those of the TimescaleDB continuous aggregates (`projections.timescale`),
  and the aggregate expressions are shared with them, so both paths give the same candles.

Maintenance is incremental, inside the caller's transaction (the projector stores its tracking position
in the same transaction, so a batch is applied exactly once or not at all):

1. the trades are COPYed into a temporary staging table, then inserted into `md_trades` with
   `ON CONFLICT DO NOTHING`;
2. only the trades actually inserted are aggregated per (symbol, minute) and merged into
   `md_candles_1m` (an upsert that keeps the open of the smaller `(ts_ns, position)` key and the close
   of the larger one, and adds volumes, notionals and counts);
3. every 5m bucket that contains a touched 1m bucket is recomputed from its (at most 5) 1m rows, then
   every touched 1h bucket from its 5m rows, then every touched 1d bucket from its 1h rows.

Late data policy: there is no cut-off. A trade older than existing candles (even days older) is applied
exactly like any other: its day partition is created if missing, its 1m candle is merged by key
comparison (so it becomes the open or the close if its `(ts_ns, position)` says so), and the candles
above it are recomputed from the level below. The candles are therefore always exactly those of the
set of trades stored, whatever the arrival order. A replayed trade (same symbol, ts_ns and position)
is ignored and changes no candle.

Money and sizes are integers: bigint per trade, `numeric` for the volume and notional sums (which can
exceed int64). One writer per database is assumed (the projector), as partition creation is not
guarded against a concurrent creator.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from projections.market_data import INTERVALS, NS_PER_DAY, Candle, Interval, TradeRow

TRADES_TABLE = "md_trades"
STAGE_TABLE = "md_trades_stage"

# The trade columns, in COPY order. `position` is the trade's log notification id.
TRADE_COLUMNS: tuple[str, ...] = (
    "symbol", "ts_ns", "position", "trade_id", "price_ticks", "qty_lots", "notional", "taker_side",
    "buy_account", "sell_account", "buy_order_id", "sell_order_id",
)
_TRADE_TYPES: tuple[str, ...] = (
    "text", "int8", "int8", "text", "int8", "int8", "int8", "text", "int8", "int8", "int8", "int8",
)

# The candle columns and their PostgreSQL types: the contract shared with the TimescaleDB views.
CANDLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("symbol", "text"),
    ("bucket_start_ns", "bigint"),
    ("open_ticks", "bigint"),
    ("high_ticks", "bigint"),
    ("low_ticks", "bigint"),
    ("close_ticks", "bigint"),
    ("volume_lots", "numeric"),
    ("notional", "numeric"),
    ("trade_count", "bigint"),
    ("first_ts_ns", "bigint"),
    ("first_position", "bigint"),
    ("last_ts_ns", "bigint"),
    ("last_position", "bigint"),
)
CANDLE_COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in CANDLE_COLUMNS)

# Aggregates of a set of trades into one candle (everything after symbol and bucket_start_ns).
# min/max over ARRAY[ts_ns, position, price] pick the first and last trade by (ts_ns, position):
# arrays compare element by element, and position is unique, so the choice is total and exact.
TRADE_AGGREGATES = """
    (min(ARRAY[ts_ns, position, price_ticks]))[3] AS open_ticks,
    max(price_ticks) AS high_ticks,
    min(price_ticks) AS low_ticks,
    (max(ARRAY[ts_ns, position, price_ticks]))[3] AS close_ticks,
    sum(qty_lots) AS volume_lots,
    sum(notional) AS notional,
    count(*) AS trade_count,
    (min(ARRAY[ts_ns, position, price_ticks]))[1] AS first_ts_ns,
    (min(ARRAY[ts_ns, position, price_ticks]))[2] AS first_position,
    (max(ARRAY[ts_ns, position, price_ticks]))[1] AS last_ts_ns,
    (max(ARRAY[ts_ns, position, price_ticks]))[2] AS last_position"""

# Aggregates of child candles (the level below) into one parent candle: the same rules one level up.
ROLLUP_AGGREGATES = """
    (min(ARRAY[first_ts_ns, first_position, open_ticks]))[3] AS open_ticks,
    max(high_ticks) AS high_ticks,
    min(low_ticks) AS low_ticks,
    (max(ARRAY[last_ts_ns, last_position, close_ticks]))[3] AS close_ticks,
    sum(volume_lots) AS volume_lots,
    sum(notional) AS notional,
    sum(trade_count)::bigint AS trade_count,
    (min(ARRAY[first_ts_ns, first_position, open_ticks]))[1] AS first_ts_ns,
    (min(ARRAY[first_ts_ns, first_position, open_ticks]))[2] AS first_position,
    (max(ARRAY[last_ts_ns, last_position, close_ticks]))[1] AS last_ts_ns,
    (max(ARRAY[last_ts_ns, last_position, close_ticks]))[2] AS last_position"""


def candle_table(interval: Interval) -> str:
    """The table (fallback) or continuous aggregate (TimescaleDB) holding `interval`'s candles."""
    return f"md_candles_{interval.value}"


def trades_table_sql(partitioned: bool) -> str:
    """DDL of `md_trades`; partitioned by day for the fallback, plain for TimescaleDB to turn into a hypertable."""
    return f"""
CREATE TABLE IF NOT EXISTS {TRADES_TABLE} (
    symbol        text   NOT NULL,
    ts_ns         bigint NOT NULL CHECK (ts_ns >= 0),
    position      bigint NOT NULL,
    trade_id      text   NOT NULL,
    price_ticks   bigint NOT NULL CHECK (price_ticks > 0),
    qty_lots      bigint NOT NULL CHECK (qty_lots > 0),
    notional      bigint NOT NULL CHECK (notional >= 0),
    taker_side    text   NOT NULL CHECK (taker_side IN ('buy', 'sell')),
    buy_account   bigint NOT NULL,
    sell_account  bigint NOT NULL,
    buy_order_id  bigint NOT NULL,
    sell_order_id bigint NOT NULL,
    PRIMARY KEY (symbol, ts_ns, position)
){" PARTITION BY RANGE (ts_ns)" if partitioned else ""}"""


def _candle_table_sql(interval: Interval) -> str:
    columns = ",\n    ".join(f"{name} {kind} NOT NULL" for name, kind in CANDLE_COLUMNS)
    return f"""
CREATE TABLE IF NOT EXISTS {candle_table(interval)} (
    {columns},
    PRIMARY KEY (symbol, bucket_start_ns)
)"""


def create_tables(cursor: psycopg.Cursor[Any]) -> None:
    """Create the fallback's trades and candle tables if they do not exist (idempotent)."""
    cursor.execute(trades_table_sql(partitioned=True))
    for interval in INTERVALS:
        cursor.execute(_candle_table_sql(interval))


def partition_name(day: int) -> str:
    """Name of the partition of UTC day number `day` (days since the epoch): md_trades_pYYYYMMDD."""
    date = datetime.fromtimestamp(day * 86_400, tz=UTC)
    return f"{TRADES_TABLE}_p{date:%Y%m%d}"


def ensure_partitions(cursor: psycopg.Cursor[Any], days: Iterable[int]) -> list[str]:
    """Create the daily partitions of `md_trades` that are missing for these UTC day numbers; return their names.

    The partitions go into md_trades' own schema, and only md_trades' existing partitions count (not a
    same-named table elsewhere on the search path). Runs in the caller's transaction: if it rolls back,
    so does the creation.
    """
    wanted = {partition_name(day): day for day in sorted(set(days))}
    if not wanted:
        return []
    cursor.execute(
        "SELECT n.nspname, ARRAY(SELECT c.relname::text FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid"
        "                        WHERE i.inhparent = p.oid AND c.relname = ANY(%s::text[]))"
        " FROM pg_class AS p JOIN pg_namespace AS n ON n.oid = p.relnamespace WHERE p.oid = %s::regclass",
        (list(wanted), TRADES_TABLE), prepare=False)
    row = cursor.fetchone()
    if row is None:
        raise LookupError(f"{TRADES_TABLE} does not exist: call create_tables first")
    schema, existing = str(row[0]), set(row[1])
    created = [name for name in wanted if name not in existing]
    for name in created:
        day = wanted[name]
        cursor.execute(sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
            sql.Identifier(schema, name), sql.Identifier(schema, TRADES_TABLE),
            sql.Literal(day * NS_PER_DAY), sql.Literal((day + 1) * NS_PER_DAY)))
    return created


def stage_trades(cursor: psycopg.Cursor[Any], trades: Sequence[TradeRow]) -> None:
    """COPY the trades into the session's temporary staging table (created on first use, emptied at commit)."""
    columns = ", ".join(f"{name} {kind}" for name, kind in zip(TRADE_COLUMNS, _TRADE_TYPES, strict=True))
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {STAGE_TABLE} ({columns}) ON COMMIT DELETE ROWS")
    with cursor.copy(f"COPY {STAGE_TABLE} ({', '.join(TRADE_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(list(_TRADE_TYPES))
        write_row = copy.write_row
        for t in trades:
            write_row((t.symbol, t.ts_ns, t.position, t.trade_id, t.price_ticks, t.qty_lots, t.notional,
                       t.taker_side, t.buy_account, t.sell_account, t.buy_order_id, t.sell_order_id))


def clear_stage(cursor: psycopg.Cursor[Any]) -> None:
    """Empty the staging table now (a second batch in the same transaction must not see the first)."""
    cursor.execute(f"TRUNCATE {STAGE_TABLE}")


_INSERTED_TRADES = f"""
    INSERT INTO {TRADES_TABLE} ({", ".join(TRADE_COLUMNS)})
    SELECT {", ".join(TRADE_COLUMNS)} FROM {STAGE_TABLE}
    ON CONFLICT DO NOTHING
    RETURNING symbol, ts_ns, position, price_ticks, qty_lots, notional"""


def _merge_1m_sql() -> str:
    table = candle_table(Interval.M1)
    first_is_new = "(EXCLUDED.first_ts_ns, EXCLUDED.first_position) < (c.first_ts_ns, c.first_position)"
    last_is_new = "(EXCLUDED.last_ts_ns, EXCLUDED.last_position) > (c.last_ts_ns, c.last_position)"
    return f"""
WITH inserted AS ({_INSERTED_TRADES})
INSERT INTO {table} AS c ({", ".join(CANDLE_COLUMN_NAMES)})
SELECT symbol, ts_ns - ts_ns % {Interval.M1.length_ns} AS bucket_start_ns, {TRADE_AGGREGATES}
FROM inserted
GROUP BY symbol, ts_ns - ts_ns % {Interval.M1.length_ns}
ON CONFLICT (symbol, bucket_start_ns) DO UPDATE SET
    open_ticks = CASE WHEN {first_is_new} THEN EXCLUDED.open_ticks ELSE c.open_ticks END,
    first_ts_ns = CASE WHEN {first_is_new} THEN EXCLUDED.first_ts_ns ELSE c.first_ts_ns END,
    first_position = CASE WHEN {first_is_new} THEN EXCLUDED.first_position ELSE c.first_position END,
    close_ticks = CASE WHEN {last_is_new} THEN EXCLUDED.close_ticks ELSE c.close_ticks END,
    last_ts_ns = CASE WHEN {last_is_new} THEN EXCLUDED.last_ts_ns ELSE c.last_ts_ns END,
    last_position = CASE WHEN {last_is_new} THEN EXCLUDED.last_position ELSE c.last_position END,
    high_ticks = GREATEST(c.high_ticks, EXCLUDED.high_ticks),
    low_ticks = LEAST(c.low_ticks, EXCLUDED.low_ticks),
    volume_lots = c.volume_lots + EXCLUDED.volume_lots,
    notional = c.notional + EXCLUDED.notional,
    trade_count = c.trade_count + EXCLUDED.trade_count
RETURNING symbol, bucket_start_ns, (SELECT count(*) FROM inserted)"""


def _rollup_sql(interval: Interval) -> str:
    source = interval.source
    if source is None:
        raise ValueError("1m candles are built from trades")
    # The touched parent keys come in as two arrays (distinct, bucket-aligned). The LATERAL subquery,
    # kept apart by OFFSET 0, reads each parent's children with one range scan of the source table's
    # primary key, whatever the statistics say: a plain join was measured to hash the whole source table
    # on the symbol alone (cost growing with the table, not with the batch).
    updates = ",\n    ".join(f"{name} = EXCLUDED.{name}" for name in CANDLE_COLUMN_NAMES[2:])
    return f"""
INSERT INTO {candle_table(interval)} ({", ".join(CANDLE_COLUMN_NAMES)})
SELECT k.symbol, k.bucket AS bucket_start_ns, {ROLLUP_AGGREGATES}
FROM unnest(%s::text[], %s::bigint[]) AS k(symbol, bucket)
CROSS JOIN LATERAL (
    SELECT * FROM {candle_table(source)} AS c
    WHERE c.symbol = k.symbol AND c.bucket_start_ns >= k.bucket AND c.bucket_start_ns < k.bucket + {interval.length_ns}
    OFFSET 0
) AS s
GROUP BY k.symbol, k.bucket
ON CONFLICT (symbol, bucket_start_ns) DO UPDATE SET
    {updates}"""


MERGE_1M_SQL = _merge_1m_sql()
ROLLUP_SQL: dict[Interval, str] = {interval: _rollup_sql(interval) for interval in INTERVALS[1:]}


@dataclass(frozen=True)
class ApplyResult:
    """What one `apply_trades` call changed."""

    trades_inserted: int  # new trades (replayed ones are skipped)
    candles_touched: dict[Interval, int]  # rows upserted per interval
    partitions_created: tuple[str, ...]


def apply_trades(cursor: psycopg.Cursor[Any], trades: Sequence[TradeRow]) -> ApplyResult:
    """Store a batch of trades and bring every candle interval up to date, in the caller's transaction.

    Does not commit: the projector commits this together with its tracking position. Exact for any
    arrival order (late trades included) and idempotent for replayed trades; see the module docstring.
    """
    if not trades:
        return ApplyResult(0, {interval: 0 for interval in INTERVALS}, ())
    created = ensure_partitions(cursor, {t.ts_ns // NS_PER_DAY for t in trades})
    stage_trades(cursor, trades)
    # prepare=False everywhere: a prepared generic plan cannot see the batch's size and was measured to
    # fall back to scanning whole candle tables (5x slower); a fresh plan per batch costs ~0.2 ms.
    cursor.execute(MERGE_1M_SQL, prepare=False)
    touched = cursor.fetchall()
    inserted_trades = int(touched[0][2]) if touched else 0  # no bucket touched: every trade was a replay
    clear_stage(cursor)
    counts = {Interval.M1: len(touched)}
    keys: list[tuple[str, int]] = [(str(symbol), int(bucket)) for symbol, bucket, _ in touched]
    for interval in INTERVALS[1:]:
        parents = sorted({(symbol, interval.bucket_start_ns(bucket)) for symbol, bucket in keys})
        if parents:
            cursor.execute(ROLLUP_SQL[interval], ([s for s, _ in parents], [b for _, b in parents]), prepare=False)
        counts[interval] = len(parents)
        keys = parents
    return ApplyResult(inserted_trades, counts, tuple(created))


def read_candles(cursor: psycopg.Cursor[Any], interval: Interval, symbol: str | None = None,
                 start_ns: int | None = None, end_ns: int | None = None) -> list[Candle]:
    """Candles of `interval` (optionally of one symbol, with bucket start in [start_ns, end_ns)), in key order."""
    conditions = [sql.SQL("TRUE")]
    params: list[Any] = []
    if symbol is not None:
        conditions.append(sql.SQL("symbol = %s"))
        params.append(symbol)
    if start_ns is not None:
        conditions.append(sql.SQL("bucket_start_ns >= %s"))
        params.append(start_ns)
    if end_ns is not None:
        conditions.append(sql.SQL("bucket_start_ns < %s"))
        params.append(end_ns)
    query = sql.SQL("SELECT {columns} FROM {table} WHERE {where} ORDER BY symbol, bucket_start_ns").format(
        columns=sql.SQL(", ").join(sql.Identifier(name) for name in CANDLE_COLUMN_NAMES),
        table=sql.Identifier(candle_table(interval)),
        where=sql.SQL(" AND ").join(conditions))
    cursor.execute(query, params)
    return [candle_from_row(interval, row) for row in cursor.fetchall()]


def candle_from_row(interval: Interval, row: Sequence[Any]) -> Candle:
    """A Candle from a row in CANDLE_COLUMNS order (numeric sums come back as Decimal with no fraction)."""
    values = [int(value) for value in row[1:]]
    if any(int(value) != value for value in row[1:]):
        raise ValueError(f"non-integer value in a candle row: {row!r}")
    return Candle(str(row[0]), interval, *values)
