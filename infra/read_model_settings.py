"""Settings of the read side: where the read models live, read from TRADEX_* environment variables.

They sit beside infra/settings.py (which owns the event store's settings and the data directory):

- `TRADEX_READ_SCHEMA`: prefix of the PostgreSQL read models, the schema of their registry and views;
  each generation of a projection gets `<prefix>_<name>_g<n>` (default `rm`).
- `TRADEX_CLICKHOUSE_HOST`: a ClickHouse server (HTTP) instead of the embedded chdb (default: embedded);
  `TRADEX_CLICKHOUSE_PORT`, `_USER`, `_PASSWORD`, `_SECURE`: the connection to it (8123, default, "", 0).
- `TRADEX_CLICKHOUSE_DATABASE`: base name of the ClickHouse databases, `<base>` for the registry and
  `<base>_g<n>` for each generation's tables (default `tradex`).
- `TRADEX_CLICKHOUSE_DIR`: data directory of the embedded chdb (default `<data_dir>/clickhouse`).
- `TRADEX_PROJECTION_BATCH`: log ids per window when catching up (default 50000).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client

from infra.projector_runner import DEFAULT_BATCH
from infra.settings import Settings, SettingsError
from projections.clickhouse_registry import ClickHouseRegistry
from projections.clickhouse_store import clickhouse_client
from projections.pg_tracking import ReadStore


@dataclass(frozen=True)
class ReadModelSettings:
    schema: str = "rm"
    clickhouse_host: str = ""  # empty: embedded chdb
    clickhouse_port: int = 8123
    clickhouse_user: str = "default"
    clickhouse_password: str = ""
    clickhouse_secure: bool = False
    clickhouse_database: str = "tradex"
    clickhouse_dir: Path = Path("var/clickhouse")
    batch_size: int = DEFAULT_BATCH

    @property
    def store(self) -> ReadStore:
        return ReadStore(self.schema)

    @property
    def registry(self) -> ClickHouseRegistry:
        return ClickHouseRegistry(self.clickhouse_database)

    @property
    def clickhouse_embedded(self) -> bool:
        return not self.clickhouse_host

    def clickhouse(self) -> Client:
        """A client for the configured ClickHouse (its `default` database; generations are chosen later)."""
        if self.clickhouse_embedded:
            return clickhouse_client(data_dir=self.clickhouse_dir)
        return clickhouse_client(host=self.clickhouse_host, port=self.clickhouse_port, username=self.clickhouse_user,
                                 password=self.clickhouse_password, secure=self.clickhouse_secure)


def load_read_model_settings(settings: Settings, env: Mapping[str, str] | None = None) -> ReadModelSettings:
    env = os.environ if env is None else env
    try:
        return ReadModelSettings(
            schema=env.get("TRADEX_READ_SCHEMA", "rm"),
            clickhouse_host=env.get("TRADEX_CLICKHOUSE_HOST", ""),
            clickhouse_port=int(env.get("TRADEX_CLICKHOUSE_PORT", "8123")),
            clickhouse_user=env.get("TRADEX_CLICKHOUSE_USER", "default"),
            clickhouse_password=env.get("TRADEX_CLICKHOUSE_PASSWORD", ""),
            clickhouse_secure=env.get("TRADEX_CLICKHOUSE_SECURE", "0").lower() in ("1", "true", "yes"),
            clickhouse_database=env.get("TRADEX_CLICKHOUSE_DATABASE", "tradex"),
            clickhouse_dir=Path(env.get("TRADEX_CLICKHOUSE_DIR", str(settings.data_dir / "clickhouse"))),
            batch_size=int(env.get("TRADEX_PROJECTION_BATCH", str(DEFAULT_BATCH))),
        )
    except ValueError as error:
        raise SettingsError(f"read model settings: {error}") from None
