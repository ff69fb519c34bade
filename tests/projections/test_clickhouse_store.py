"""The ClickHouse store on embedded chdb: table engines and keys, idempotent inserts under replay (same
token, same positions), exact resume from the stored positions, integer-only rows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from projections import clickhouse_store as store
from projections.clickhouse_store import OrderEventRow, PositionSnapshotRow, PostingRow
from tests.projections.conftest import DAY0_NS, random_trades

pytestmark = pytest.mark.integration


def _counts_and_sums(client: Client, final: bool) -> tuple[int, int, int]:
    row = client.query(f"SELECT count(), sum(toInt128(notional)), sum(toInt128(qty_lots)) FROM trades"
                       f"{' FINAL' if final else ''}").result_rows[0]
    return int(row[0]), int(row[1]), int(row[2])


def test_tables_engines_and_keys(ch: Client) -> None:
    store.create_tables(ch)  # idempotent
    rows = ch.query("SELECT name, engine, sorting_key, partition_key FROM system.tables "
                    "WHERE database = currentDatabase() ORDER BY name").result_rows
    assert rows == [
        ("order_events", "ReplacingMergeTree", "account, symbol, position, seq", store.ORDER_EVENTS.partition_by),
        ("position_snapshots", "ReplacingMergeTree", "symbol, account, position",
         store.POSITION_SNAPSHOTS.partition_by),
        ("postings", "ReplacingMergeTree", "asset, kind, position, seq", store.POSTINGS.partition_by),
        ("projection_positions", "ReplacingMergeTree", "projection_name", ""),
        ("trades", "ReplacingMergeTree", "symbol, ts_ns, position", store.TRADES.partition_by),
    ]
    for table in store.TABLES:
        described = [(str(name), str(kind)) for name, kind, *_ in ch.query(f"DESCRIBE TABLE {table.name}").result_rows]
        assert described == list(table.column_types)
        assert not any("Float" in kind or "Decimal" in kind for _, kind in described)


def test_replaying_a_batch_with_the_same_token_does_not_double_count(ch: Client) -> None:
    trades = random_trades(seed=3, count=2_000)
    for start in range(0, len(trades), 500):
        store.insert_trades(ch, trades[start:start + 500])
    once = _counts_and_sums(ch, final=False)
    assert once == (2_000, sum(t.notional for t in trades), sum(t.qty_lots for t in trades))
    for start in range(0, len(trades), 500):  # the projector restarts and sends the same batches again
        store.insert_trades(ch, trades[start:start + 500])
    assert _counts_and_sums(ch, final=False) == once  # dropped at insert time: same default token
    store.insert_trades(ch, trades[:10], dedup_token="batch-x")
    store.insert_trades(ch, trades[:10], dedup_token="batch-x")
    assert _counts_and_sums(ch, final=False)[0] == 2_010  # a new token is a new insert ...
    assert _counts_and_sums(ch, final=True) == once  # ... but the same positions collapse under FINAL
    ch.command("OPTIMIZE TABLE trades FINAL")
    assert _counts_and_sums(ch, final=False) == once  # and after the merge


def test_a_replay_cut_differently_collapses_under_final(ch: Client) -> None:
    postings = [PostingRow(position, seq, DAY0_NS + position, f"p{position}:{seq}", "USDT", 10**18, 1, -2, "fee",
                           "BTC-USDT") for position in range(1, 301) for seq in range(2)]
    store.insert_postings(ch, postings[:400])
    store.insert_postings(ch, postings[250:])  # resumed from an older position, in another cut
    row = ch.query("SELECT count(), sum(toInt128(amount)) FROM postings FINAL").result_rows[0]
    assert (int(row[0]), int(row[1])) == (600, 600 * 10**18)  # > int64 in total, exact in Int128


def test_resume_from_max_position_after_a_crash(ch: Client, tmp_path: Path) -> None:
    trades = random_trades(seed=5, count=1_000)
    assert store.max_position(ch, store.TRADES) == 0
    # the projector had written 3 of 5 batches when it was killed; on restart it reads where it was ...
    for start in range(0, 600, 200):
        store.insert_trades(ch, trades[start:start + 200])
    store.record_position(ch, "trades", 600)
    ch.close()
    client = store.clickhouse_client(data_dir=tmp_path / "chdb")  # a new process opening the same directory
    try:
        resume_at = store.max_position(client, "trades")
        assert resume_at == 600 == store.tracked_position(client, "trades")
        assert store.tracked_position(client, "other") == 0
        rest = [t for t in trades if t.position > resume_at]
        for start in range(0, len(rest), 250):  # ... and continues in differently sized batches
            store.insert_trades(client, rest[start:start + 250])
        assert _counts_and_sums(client, final=False) == (1_000, sum(t.notional for t in trades),
                                                         sum(t.qty_lots for t in trades))
        assert store.max_position(client, store.TRADES) == 1_000
    finally:
        client.close()


def test_other_tables_resume_and_replay(ch: Client) -> None:
    events = [OrderEventRow(position, 0, DAY0_NS + position, "BTC-USDT", 7, position, "placed", "buy", "limit", 100,
                            5, 5, 0, "", "", "") for position in range(1, 101)]
    snapshots = [PositionSnapshotRow(position, DAY0_NS + position, 7, "BTC-USDT", position, 100 * position, 0, 1,
                                     position, 0, 10) for position in range(1, 101)]
    for _ in range(2):
        store.insert_order_events(ch, events)
        store.insert_position_snapshots(ch, snapshots)
    for table in (store.ORDER_EVENTS, store.POSITION_SNAPSHOTS):
        assert ch.query(f"SELECT count() FROM {table.name}").result_rows == [(100,)]
        assert store.max_position(ch, table) == 100


def test_rows_must_be_exact_integers(ch: Client) -> None:
    good = random_trades(seed=1, count=1)[0]
    with pytest.raises(TypeError):
        store.insert_trades(ch, [replace(good, notional=1.5)])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.insert_trades(ch, [replace(good, qty_lots=True)])
    with pytest.raises(TypeError):
        store.insert_postings(ch, [good])  # type: ignore[list-item]
    assert store.insert_trades(ch, []) == 0
    assert ch.query("SELECT count() FROM trades").result_rows == [(0,)]


def test_client_needs_a_target() -> None:
    with pytest.raises(ValueError):
        store.clickhouse_client()


def test_embedded_client_in_a_named_database(tmp_path: Path) -> None:
    client = store.clickhouse_client(data_dir=tmp_path / "named", database="analytics")
    try:
        store.create_tables(client)
        store.insert_trades(client, random_trades(seed=2, count=10))
        tables = client.query("SELECT name FROM system.tables WHERE database = 'analytics' ORDER BY name").result_rows
        assert [name for (name,) in tables] == sorted([*(table.name for table in store.TABLES), "projection_positions"])
        assert client.query("SELECT count() FROM analytics.trades").result_rows == [(10,)]
        assert store.max_position(client, store.TRADES) == 10
    finally:
        client.close()
