"""Generations of the ClickHouse projection: one database per generation, and which one is live.

`<base>_g<n>` holds generation n's analytics tables and its recorded position; the table
`<base>.projection_generations` (ReplacingMergeTree by generation) says which generation is live. A
rebuild fills a new database from position 0, then inserts its generation there (the switch), then
drops the old database. Readers (`tradex analytics`) look the live database up on every call.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from projections.pg_tracking import checked_name


@dataclass(frozen=True)
class ClickHouseRegistry:
    base: str = "tradex"

    def __post_init__(self) -> None:
        checked_name(self.base)

    def database(self, generation: int) -> str:
        return f"{self.base}_g{generation}"

    def ensure(self, client: Client) -> None:
        client.command(f"CREATE DATABASE IF NOT EXISTS {self.base}")
        client.command(f"CREATE TABLE IF NOT EXISTS {self.base}.projection_generations "
                       "(name LowCardinality(String), generation UInt32) "
                       "ENGINE = ReplacingMergeTree(generation) ORDER BY name")

    def live_generation(self, client: Client, name: str) -> int | None:
        self.ensure(client)
        result = client.query(f"SELECT max(generation) FROM {self.base}.projection_generations FINAL "
                              "WHERE name = {name:String}", parameters={"name": name})
        generation = int(result.result_rows[0][0]) if result.result_rows else 0
        return generation or None

    def next_generation(self, client: Client) -> int:
        """One more than any generation that has a database (live, being built, or left behind)."""
        rows = client.query("SELECT name FROM system.databases WHERE startsWith(name, {prefix:String})",
                            parameters={"prefix": f"{self.base}_g"}).result_rows
        numbers = [int(name[len(self.base) + 2:]) for (name,) in rows if name[len(self.base) + 2:].isdigit()]
        return max(numbers, default=0) + 1

    def create_generation(self, client: Client, generation: int) -> None:
        self.ensure(client)
        client.command(f"CREATE DATABASE IF NOT EXISTS {self.database(generation)}")

    def activate(self, client: Client, name: str, generation: int) -> None:
        client.insert(f"{self.base}.projection_generations", [[name, generation]],
                      column_names=["name", "generation"], column_type_names=["LowCardinality(String)", "UInt32"])

    def drop_generation(self, client: Client, generation: int) -> None:
        client.command(f"DROP DATABASE IF EXISTS {self.database(generation)}")

    def use(self, client: Client, generation: int) -> None:
        """Point the client at a generation's database (unqualified table names resolve there)."""
        database = self.database(generation)
        client.database = database
        client.command(f"USE {database}")
