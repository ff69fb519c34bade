"""The shape of a PostgreSQL projector, and the small pieces of state several of them keep.

A projector turns a batch of ledger events into rows of its own tables, inside a transaction that the
runner (infra/projector_runner.py) opens and commits together with the projection's tracking position.
The runner sets `search_path` to the projection's generation schema first, so projectors use
unqualified table names.

In-memory state (open orders, positions, balances) is only a cache of what the tables hold: it is
filled lazily from them (`load`, and per-batch look-ups), and after any failed transaction the runner
calls `reset`, so the next batch starts again from what was committed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, ClassVar

import psycopg

from domain.values import InstrumentSpec
from projections.folds import INSTRUMENT_EVENTS, Logged, SpecBook, topics_of
from projections.pg_tracking import Table


class PgProjector(ABC):
    """One projection into PostgreSQL. Subclasses name their events, tables and views."""

    name: ClassVar[str]
    event_classes: ClassVar[tuple[type, ...]]
    tables: ClassVar[tuple[Table, ...]]
    public: ClassVar[tuple[str, ...]]  # the tables readers see (the others are the projector's own state)
    views: ClassVar[tuple[tuple[str, str], ...]] = ()  # (view name, SELECT) over the tables, exposed too

    def __init__(self) -> None:
        self.loaded = False

    @property
    def topics(self) -> frozenset[str]:
        return topics_of(*self.event_classes)

    @property
    def exposed(self) -> tuple[str, ...]:
        """The tables and views readers get as `rm.<name>`."""
        return self.public + tuple(name for name, _ in self.views)

    def create(self, cur: psycopg.Cursor[Any]) -> None:
        """Create the tables and views in the current schema (a fresh generation)."""
        for table in self.tables:
            table.create(cur)
        for name, query in self.views:
            cur.execute(f"CREATE VIEW {name} AS {query}")

    def reset(self) -> None:
        """Forget every cached row (after a rollback, or a switch to another generation)."""
        self.loaded = False

    def load(self, cur: psycopg.Cursor[Any]) -> None:  # noqa: B027 - optional hook
        """Load what the projector keeps in memory from its tables (called before the first batch)."""

    @abstractmethod
    def apply(self, cur: psycopg.Cursor[Any], batch: Sequence[Logged]) -> None:
        """Write the rows of a batch of events (notification id order), in the caller's transaction."""


SPECS = Table("instrument_specs", (("symbol", "text"), ("spec", "jsonb"), ("position", "int8")), ("symbol",))


class SpecsKeeper:
    """An instrument spec book persisted in the projector's own `instrument_specs` table."""

    event_classes: ClassVar[tuple[type, ...]] = INSTRUMENT_EVENTS

    def __init__(self) -> None:
        self.book = SpecBook()

    def load(self, cur: psycopg.Cursor[Any]) -> None:
        self.book = SpecBook()
        cur.execute("SELECT spec FROM instrument_specs")
        for (spec,) in cur.fetchall():
            self.book.add(InstrumentSpec(**spec))

    def apply(self, cur: psycopg.Cursor[Any], event: Any, position: int) -> None:
        """Fold an instrument event; store the spec when it changed."""
        spec = self.book.apply(event)
        if spec is not None:
            SPECS.upsert(cur, [(spec.symbol, asdict(spec), position)])
