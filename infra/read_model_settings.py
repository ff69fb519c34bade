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

from infra.projector_runner import DEFAULT_BATCH, DEFAULT_CLICKHOUSE_BATCH
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
    clickhouse_batch_size: int = DEFAULT_CLICKHOUSE_BATCH

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
    """The [read_models] section of the settings file, overridden by the environment variables above."""
    env = os.environ if env is None else env
    section = settings.read_models
    unknown = set(section) - set(ReadModelSettings.__dataclass_fields__)
    if unknown:
        raise SettingsError(f"[read_models]: unknown setting(s) {sorted(unknown)}")

    def value(name: str, variable: str, default: object) -> str:
        return env.get(variable, str(section.get(name, default)))

    try:
        return ReadModelSettings(
            schema=value("schema", "TRADEX_READ_SCHEMA", "rm"),
            clickhouse_host=value("clickhouse_host", "TRADEX_CLICKHOUSE_HOST", ""),
            clickhouse_port=int(value("clickhouse_port", "TRADEX_CLICKHOUSE_PORT", 8123)),
            clickhouse_user=value("clickhouse_user", "TRADEX_CLICKHOUSE_USER", "default"),
            clickhouse_password=value("clickhouse_password", "TRADEX_CLICKHOUSE_PASSWORD", ""),
            clickhouse_secure=value("clickhouse_secure", "TRADEX_CLICKHOUSE_SECURE", "0").lower()
            in ("1", "true", "yes"),
            clickhouse_database=value("clickhouse_database", "TRADEX_CLICKHOUSE_DATABASE", "tradex"),
            clickhouse_dir=Path(value("clickhouse_dir", "TRADEX_CLICKHOUSE_DIR", settings.data_dir / "clickhouse")),
            batch_size=int(value("batch_size", "TRADEX_PROJECTION_BATCH", DEFAULT_BATCH)),
            clickhouse_batch_size=int(value("clickhouse_batch_size", "TRADEX_CLICKHOUSE_BATCH",
                                            DEFAULT_CLICKHOUSE_BATCH)),
        )
    except ValueError as error:
        raise SettingsError(f"read model settings: {error}") from None
