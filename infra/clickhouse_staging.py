"""Staging a window of the event store in ClickHouse, for the SQL projection (projections/clickhouse_sql.py).

The event store keeps each event's state as the mapper's JSON (plain, no cipher or compression). A
window is copied out of PostgreSQL with COPY (text) into two files (order events; wallet events),
block by block, without being parsed in Python; ClickHouse reads them as TabSeparated (PostgreSQL's and
ClickHouse's escaping of tab-separated text agree), parses the JSON once per event (`JSONExtract` into
a named tuple) and fills the typed staged tables the projection reads. The embedded chdb reads the
files where they are (`file()`); a ClickHouse server receives them as inserts into `staged_events_*`
first. This module is the only place that knows the stored shape: field names, and value objects
stored as `{"_type_": ..., "_data_": [fields in order]}`.

Only events this code knows how to read are staged here: the classes the event decoder reads at
class version 1 (infra/event_decoder.py). A stored state that is not a JSON object, or that carries a
`class_version` (an upcast the mapper would apply), fails the window loudly; such a store is
projected by the Python projector instead (`sql_staging_possible` says which).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from clickhouse_connect.driver._chdbclient import ChdbClient
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from eventsourcing.utils import get_topic

from domain.order import Order
from domain.wallet import Wallet
from infra.event_decoder import EventDecoder
from projections.clickhouse_sql import STAGED_ORDER_EVENTS, STAGED_POSTINGS, STAGED_WALLETS, clear_staging
from projections.folds import ORDER_EVENT_TYPES, ProjectionError

ORDER_TOPICS: Final = tuple(get_topic(cls) for cls in ORDER_EVENT_TYPES)
POSTINGS_TOPIC: Final = get_topic(Wallet.EntriesPosted)
WALLET_TOPIC: Final = get_topic(Wallet.Created)
TOPICS: Final = (*ORDER_TOPICS, POSTINGS_TOPIC, WALLET_TOPIC)  # what the SQL projection reads from the log
_GROUPS: Final = {"orders": ORDER_TOPICS, "wallets": (POSTINGS_TOPIC, WALLET_TOPIC)}  # one file each
_COLUMNS: Final = "position Int64, topic String, originator_id UUID, version Int64, state String"

_ORDER_JSON: Final = ("Tuple(at_ns Int64, terms Tuple(symbol String, order_id Int64, account_id Int64, side String, "
                      "order_type String, qty_lots Int64, price_ticks Int64), outcome String, reason String, "
                      "qty_lots Int64, price_ticks Int64, leaves_qty_lots Int64, "
                      "fills Array(Tuple(_data_ Tuple(String, Int64, Int64, Int64, String))), "
                      "class_version Nullable(Int64))")
_POSTED_JSON: Final = ("Tuple(at_ns Int64, entries Array(Tuple(_data_ Tuple(String, String, Int64, Int64, String))), "
                       "class_version Nullable(Int64))")


def _quoted(values: tuple[str, ...]) -> str:
    for value in values:
        if "'" in value or "\\" in value:
            raise ValueError(f"unexpected character in {value!r}")
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


_PLACED: Final = get_topic(Order.Created)
_AMENDED: Final = get_topic(Order.Amended)
_EVENT_TYPE: Final = (f"transform(topic, {_quoted(ORDER_TOPICS)}, "
                      f"{_quoted(tuple(ORDER_EVENT_TYPES.values()))}, '')")

# Every staged state must be a JSON object without a class_version (an upcast the mapper would apply).
# The check is added (as 0) to the exchange time, a value every staged row keeps, so that it runs on every
# row: a check in a column nothing reads would be pruned by the optimizer and never run. A state that is
# not a JSON object parses to an exchange time of 0, which `_UNREAD` refuses.
_UNKNOWN_VERSION: Final = "an event is stored with a class_version: the SQL projection does not upcast"


def _checked(value: str, class_version: str) -> str:
    """`value` (an Int64 expression) plus 0, or an exception if `class_version` (Nullable) is set."""
    return f"({value} + throwIf(isNotNull({class_version}), '{_UNKNOWN_VERSION}'))"


_STAGE_ORDERS: Final = f"""
INSERT INTO {STAGED_ORDER_EVENTS}
SELECT position, originator_id, version, {_EVENT_TYPE}, at_ns, j.terms.symbol, j.terms.order_id,
       j.terms.account_id, j.terms.side, j.terms.order_type, j.outcome, j.reason,
       multiIf(topic = '{_PLACED}', j.terms.qty_lots, topic = '{_AMENDED}', j.leaves_qty_lots, j.qty_lots),
       multiIf(topic = '{_PLACED}', j.terms.price_ticks, topic = '{_AMENDED}', j.price_ticks, 0),
       if(topic = '{_AMENDED}', j.leaves_qty_lots, 0),
       arrayMap(f -> f._data_, j.fills)
FROM (SELECT position, originator_id, version, topic, JSONExtract(state, '{_ORDER_JSON}') AS j,
             {_checked("j.at_ns", "j.class_version")} AS at_ns
      FROM <orders> WHERE topic IN {_quoted(ORDER_TOPICS)})"""

_STAGE_WALLETS: Final = f"""
INSERT INTO {STAGED_WALLETS}
SELECT originator_id, {_checked("j.account_id", "j.class_version")}
FROM (SELECT JSONExtract(state, 'Tuple(account_id Int64, class_version Nullable(Int64))') AS j, originator_id
      FROM <wallets> WHERE topic = '{WALLET_TOPIC}')"""

_STAGE_POSTINGS: Final = f"""
INSERT INTO {STAGED_POSTINGS}
SELECT position, originator_id, {_checked("j.at_ns", "j.class_version")}, arrayMap(e -> e._data_, j.entries)
FROM (SELECT position, originator_id, JSONExtract(state, '{_POSTED_JSON}') AS j
      FROM <wallets> WHERE topic = '{POSTINGS_TOPIC}')"""

_UNREAD: Final = f"""
SELECT count(), min(position) FROM (SELECT position, at_ns FROM {STAGED_ORDER_EVENTS}
                                    UNION ALL SELECT position, at_ns FROM {STAGED_POSTINGS})
WHERE at_ns <= 0"""

_STAGED: Final = f"""
SELECT (SELECT count() FROM {STAGED_ORDER_EVENTS}) + (SELECT count() FROM {STAGED_POSTINGS})
       + (SELECT count() FROM {STAGED_WALLETS})"""


def sql_staging_possible(decoder: EventDecoder, has_copy: bool) -> bool:
    """True if the store is PostgreSQL (`has_copy`) and every staged class is stored as plain JSON at
    class version 1 (what the event decoder reads too)."""
    return has_copy and all(topic in decoder.plans for topic in TOPICS)


class CopySource(Protocol):
    def copy_range(self, after: int, stop: int, topics: Sequence[str], path: Path) -> None: ...


@dataclass(frozen=True)
class Window:
    """One window of the log copied to files (a file per group of topics)."""

    files: dict[str, Path]

    def remove(self) -> None:
        for path in self.files.values():
            path.unlink(missing_ok=True)


class StagingFiles:
    """A private directory (0700) for the windows' files while a catch-up runs; removed with its files."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="tradex-ch-staging-"))

    def __enter__(self) -> StagingFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def copy(self, source: CopySource, after: int, stop: int) -> Window:
        files = {group: self.directory / f"{stop}-{group}.tsv" for group in _GROUPS}
        for group, topics in _GROUPS.items():
            source.copy_range(after, stop, topics, files[group])
        return Window(files)


def _sources(client: Client, window: Window) -> dict[str, str]:
    """Where ClickHouse reads each group: the file itself (embedded chdb, same machine), or a table the
    file was inserted into (a server)."""
    if isinstance(client, ChdbClient):
        return {group: f"file('{_path(path)}', 'TabSeparated', '{_COLUMNS}')" for group, path in window.files.items()}
    sources = {}
    for group, path in window.files.items():
        table = f"staged_events_{group}"
        client.command(f"CREATE TABLE IF NOT EXISTS {table} ({_COLUMNS}) ENGINE = Memory")
        client.command(f"TRUNCATE TABLE {table}")
        with path.open("rb") as data:
            client.raw_insert(table, None, insert_block=data, fmt="TabSeparated")
        sources[group] = table
    return sources


def _path(path: Path) -> str:
    text = str(path.resolve())
    if "'" in text or "\\" in text:
        raise ValueError(f"unexpected character in the staging path {text!r}")
    return text


def stage(client: Client, window: Window) -> int:
    """Load a copied window into the staged tables; the number of events staged."""
    clear_staging(client)
    sources = _sources(client, window)
    try:
        for statement in (_STAGE_ORDERS, _STAGE_WALLETS, _STAGE_POSTINGS):
            client.command(statement.replace("<orders>", sources["orders"]).replace("<wallets>", sources["wallets"]))
    except DatabaseError as error:
        if _UNKNOWN_VERSION in str(error):
            raise ProjectionError(f"{_UNKNOWN_VERSION}: project this store in Python") from error
        raise
    count, position = client.query(_UNREAD).result_rows[0]
    if int(count):
        raise ProjectionError(f"the event at {position} has no exchange time where this projection reads it")
    return int(client.query(_STAGED).result_rows[0][0])
