"""Where PostgreSQL read models live, which generation of each is live, and how far each has read the log.

Layout (all names under one configurable prefix, `rm` by default):

- `rm.projections(name, generation, switched_at)`: the live generation of each projection. Every batch a
  projector applies takes this row FOR SHARE; a switch-over takes it FOR UPDATE, so a switch waits for
  the batch in flight and the next batch sees the new generation.
- `rm.tracking(name, generation, position, updated_at)`: the log position (last notification id read)
  of each generation. A batch's rows and its tracking update commit in ONE transaction, and the update
  is conditional on the position the batch started from (`advance`): applying a batch twice is
  impossible, even with two projector processes running.
- `rm_<name>_g<generation>`: one schema per generation holding that projection's tables. A rebuild
  fills a new generation from position 0 while the old one stays live, then switches.
- `rm.<table>`: a view per read-model table, on the live generation's table; readers use these.

Read-your-writes: every batch NOTIFYs `rm_positions` with "name:position" at commit, and
`wait_for_position` waits on it (bounded) until a projection has read up to a given log position.
"""

from __future__ import annotations

import re
import select
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

CHANNEL = "rm_positions"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


class ProjectionTimeout(TimeoutError):
    """A projection did not reach the requested log position within the allowed time."""


class ConcurrentProjector(RuntimeError):
    """Another process moved this projection's position: this batch was not applied (nothing changed)."""


class GenerationSwitched(RuntimeError):
    """The projection was switched to another generation (a rebuild finished): reload and continue."""

    def __init__(self, name: str, generation: int) -> None:
        super().__init__(f"projection {name} is now generation {generation}")
        self.generation = generation


def checked_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a plain lower-case identifier")
    return name


@dataclass(frozen=True)
class ReadStore:
    """The read models' names in one database: `prefix` is the schema of the registry and the views."""

    prefix: str = "rm"

    def __post_init__(self) -> None:
        checked_name(self.prefix)

    @property
    def schema(self) -> sql.Identifier:
        return sql.Identifier(self.prefix)

    def generation_schema(self, name: str, generation: int) -> str:
        return f"{self.prefix}_{checked_name(name)}_g{generation}"

    # ---- registry ------------------------------------------------------------------------------
    def create_registry(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self.schema))
        cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.projections (name text PRIMARY KEY, "
                            "generation integer NOT NULL, switched_at timestamptz NOT NULL DEFAULT now())"
                            ).format(self.schema))
        cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.tracking (name text NOT NULL, generation integer NOT NULL, "
                            "position bigint NOT NULL CHECK (position >= 0), "
                            "updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (name, generation))"
                            ).format(self.schema))

    def registry_exists(self, cur: psycopg.Cursor[Any]) -> bool:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{self.prefix}.tracking",))
        row = cur.fetchone()
        return bool(row and row[0])

    def live_generation(self, cur: psycopg.Cursor[Any], name: str, lock: str = "") -> int | None:
        """The live generation of `name` (None if never created); `lock` may be "FOR SHARE"/"FOR UPDATE"."""
        if lock not in ("", "FOR SHARE", "FOR UPDATE"):
            raise ValueError(lock)
        cur.execute(sql.SQL("SELECT generation FROM {}.projections WHERE name = %s " + lock).format(self.schema),
                    (name,))
        row = cur.fetchone()
        return int(row[0]) if row else None

    def generations(self, cur: psycopg.Cursor[Any], name: str) -> dict[int, int]:
        """Every generation of `name` that has a tracking row -> its position."""
        cur.execute(sql.SQL("SELECT generation, position FROM {}.tracking WHERE name = %s").format(self.schema),
                    (name,))
        return {int(generation): int(position) for generation, position in cur.fetchall()}

    def create_generation(self, cur: psycopg.Cursor[Any], name: str, generation: int) -> str:
        """A new, empty generation: its schema and a tracking row at position 0. Returns the schema name."""
        schema = self.generation_schema(name, generation)
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        cur.execute(sql.SQL("INSERT INTO {}.tracking (name, generation, position) VALUES (%s, %s, 0)"
                            ).format(self.schema), (name, generation))
        return schema

    def drop_generation(self, cur: psycopg.Cursor[Any], name: str, generation: int) -> None:
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
            sql.Identifier(self.generation_schema(name, generation))))
        cur.execute(sql.SQL("DELETE FROM {}.tracking WHERE name = %s AND generation = %s").format(self.schema),
                    (name, generation))

    def activate(self, cur: psycopg.Cursor[Any], name: str, generation: int, tables: Sequence[str]) -> None:
        """Make `generation` the live one: registry row and the `rm.<table>` views, in the caller's transaction."""
        schema = self.generation_schema(name, generation)
        cur.execute(sql.SQL("INSERT INTO {}.projections (name, generation) VALUES (%s, %s) ON CONFLICT (name) "
                            "DO UPDATE SET generation = EXCLUDED.generation, switched_at = now()").format(self.schema),
                    (name, generation))
        for table in tables:
            view = sql.Identifier(self.prefix, table)
            cur.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(view))
            cur.execute(sql.SQL("CREATE VIEW {} AS SELECT * FROM {}").format(view, sql.Identifier(schema, table)))

    # ---- positions -----------------------------------------------------------------------------
    def claim(self, cur: psycopg.Cursor[Any], name: str, generation: int, expected: int) -> None:
        """Lock this generation's tracking row for the batch's transaction and check it is at `expected`.

        A second runner of the same projection waits here until the first commits, then finds the
        position moved and raises ConcurrentProjector before writing anything.
        """
        cur.execute(sql.SQL("SELECT position FROM {}.tracking WHERE name = %s AND generation = %s FOR UPDATE"
                            ).format(self.schema), (name, generation))
        row = cur.fetchone()
        if row is None or int(row[0]) != expected:
            found = "no tracking row" if row is None else f"position {row[0]}"
            raise ConcurrentProjector(f"projection {name} generation {generation} has {found}, not {expected}: "
                                      "another runner applied it")

    def advance(self, cur: psycopg.Cursor[Any], name: str, generation: int, expected: int, position: int) -> None:
        """Move the tracking position from `expected` to `position`, in the batch's transaction.

        Raises ConcurrentProjector (and the caller rolls back) when the stored position is not `expected`:
        another process applied this batch already, so it must not be applied again.
        """
        if position < expected:
            raise ValueError(f"a projection never moves back ({expected} -> {position})")
        cur.execute(sql.SQL("UPDATE {}.tracking SET position = %s, updated_at = now() "
                            "WHERE name = %s AND generation = %s AND position = %s").format(self.schema),
                    (position, name, generation, expected))
        if cur.rowcount != 1:
            raise ConcurrentProjector(f"projection {name} generation {generation} is no longer at {expected}")
        cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{name}:{position}"))

    def positions(self, cur: psycopg.Cursor[Any]) -> dict[str, tuple[int, int]]:
        """Every live projection -> (generation, position)."""
        if not self.registry_exists(cur):
            return {}
        cur.execute(sql.SQL("SELECT p.name, p.generation, t.position FROM {0}.projections p "
                            "JOIN {0}.tracking t USING (name, generation) ORDER BY p.name").format(self.schema))
        return {str(name): (int(generation), int(position)) for name, generation, position in cur.fetchall()}

    def position(self, cur: psycopg.Cursor[Any], name: str) -> int | None:
        found = self.positions(cur).get(name)
        return None if found is None else found[1]

    # ---- read-your-writes ----------------------------------------------------------------------
    def wait_for_position(self, conninfo: str, names: Iterable[str], position: int, timeout_s: float) -> dict[str, int]:
        """Block until every projection in `names` has read the log up to `position`; return their positions.

        Listens on the projectors' NOTIFY channel (no busy polling) and re-reads the positions on each
        notification and at least every 0.5 s. Raises ProjectionTimeout after `timeout_s`, naming the
        projections that are behind and where they are.
        """
        wanted = [checked_name(name) for name in names]
        deadline = time.monotonic() + timeout_s
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
            while True:
                with conn.cursor() as cur:
                    known = self.positions(cur)
                current = {name: known[name][1] if name in known else -1 for name in wanted}
                behind = {name: at for name, at in current.items() if at < position}
                if not behind:
                    return current
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    described = ", ".join(f"{name} at {at}" if at >= 0 else f"{name} (not created)"
                                          for name, at in sorted(behind.items()))
                    raise ProjectionTimeout(f"read models did not reach log position {position} within "
                                            f"{timeout_s:g} s: {described}")
                select.select([conn.fileno()], [], [], min(remaining, 0.5))
                for _ in conn.notifies(timeout=0, stop_after=1000):
                    pass


# ---- writing rows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A read-model table: its columns and PostgreSQL types (COPY order), key and extra DDL."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    extra: tuple[str, ...] = ()  # more CREATE statements (indexes), "{table}" is replaced by the name

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def types(self) -> list[str]:
        return [kind.split()[0] for _, kind in self.columns]

    def create(self, cur: psycopg.Cursor[Any]) -> None:
        columns = ", ".join(f"{name} {kind}" for name, kind in self.columns)
        cur.execute(f"CREATE TABLE {self.name} ({columns}, PRIMARY KEY ({', '.join(self.key)}))")
        for statement in self.extra:
            cur.execute(statement.format(table=self.name))

    def copy(self, cur: psycopg.Cursor[Any], rows: Iterable[Sequence[Any]]) -> None:
        """Binary COPY of rows (in column order) into the table of the current schema."""
        with cur.copy(f"COPY {self.name} ({', '.join(self.column_names)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(self.types)
            write_row = copy.write_row
            for row in rows:
                write_row(row)

    def upsert(self, cur: psycopg.Cursor[Any], rows: Sequence[Sequence[Any]], where: str = "") -> None:
        """Insert or replace rows by key: COPY into a session stage table, then one INSERT ... ON CONFLICT.

        `where` (SQL over `t`, the stored row, and `EXCLUDED`) limits which stored rows are replaced.
        """
        if not rows:
            return
        stage = f"stage_{self.name}"
        columns = ", ".join(f"{name} {kind.split()[0]}" for name, kind in self.columns)
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ({columns})")
        with cur.copy(f"COPY {stage} FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(self.types)
            write_row = copy.write_row
            for row in rows:
                write_row(row)
        names = ", ".join(self.column_names)
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in self.column_names if name not in self.key)
        condition = f" WHERE {where}" if where else ""
        cur.execute(f"INSERT INTO {self.name} AS t ({names}) SELECT {names} FROM {stage} "
                    f"ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET {updates}{condition}")
        cur.execute(f"TRUNCATE {stage}")

    def update(self, cur: psycopg.Cursor[Any], columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Set `columns` (the key first, then the columns to change) of existing rows: COPY into a stage
        table, then one UPDATE ... FROM. Sends and rewrites only what changes; every row must exist."""
        if not rows:
            return
        types = dict(self.columns)
        stage = f"stage_{self.name}_update"
        kinds = [types[name].split()[0] for name in columns]
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
                    f"({', '.join(f'{name} {kind}' for name, kind in zip(columns, kinds, strict=True))})")
        with cur.copy(f"COPY {stage} FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(kinds)
            write_row = copy.write_row
            for row in rows:
                write_row(row)
        changes = ", ".join(f"{name} = s.{name}" for name in columns if name not in self.key)
        match = " AND ".join(f"t.{name} = s.{name}" for name in self.key)
        cur.execute(f"UPDATE {self.name} AS t SET {changes} FROM {stage} AS s WHERE {match}")
        if cur.rowcount != len(rows):
            raise RuntimeError(f"{self.name}: {len(rows)} rows to update, {cur.rowcount} found")
        cur.execute(f"TRUNCATE {stage}")

    def delete(self, cur: psycopg.Cursor[Any], keys: Sequence[Sequence[Any]]) -> None:
        """Delete rows by key (one statement, key columns as arrays)."""
        if not keys:
            return
        types = dict(self.columns)
        arrays = ", ".join(f"%s::{types[name].split()[0]}[]" for name in self.key)
        cur.execute(f"DELETE FROM {self.name} t USING unnest({arrays}) AS k({', '.join(self.key)}) "
                    f"WHERE {' AND '.join(f't.{name} = k.{name}' for name in self.key)}",
                    [list(column) for column in zip(*keys, strict=True)])
