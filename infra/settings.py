"""Settings: a TOML file (optional) overridden by TRADEX_* environment variables.

Without TRADEX_PG_HOST the ledger runs on its embedded PostgreSQL under `data_dir`. The file's `[api]`
and `[read_models]` sections are kept as given here and read by the API's and the read side's own
settings (infra/api_server.py, infra/read_model_settings.py), where their environment variables win.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_SETTINGS_FILE = "tradex.toml"


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class PostgresSettings:
    host: str = ""  # empty: start the embedded server
    port: int = 5432
    dbname: str = "tradex"
    user: str = "postgres"
    password: str = ""
    schema: str = ""  # empty: the default search path

    @property
    def embedded(self) -> bool:
        return not self.host


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("var")
    postgres: PostgresSettings = PostgresSettings()
    embedded_pg_port: int = 0  # 0: pick a free loopback port at each start
    pg_bin_dir: str = ""  # empty: discover the machine's PostgreSQL binaries
    seed_file: str = ""  # empty: the demo seed shipped with the package
    api: Mapping[str, Any] = field(default_factory=dict)  # the file's [api] section
    read_models: Mapping[str, Any] = field(default_factory=dict)  # the file's [read_models] section

    @property
    def embedded_pg_dir(self) -> Path:
        return self.data_dir / "pgdata"


_ENV: dict[str, tuple[str, str, type]] = {
    # env var: (section, field, type)
    "TRADEX_DATA_DIR": ("", "data_dir", Path),
    "TRADEX_EMBEDDED_PG_PORT": ("", "embedded_pg_port", int),
    "TRADEX_PG_BIN": ("", "pg_bin_dir", str),
    "TRADEX_SEED": ("", "seed_file", str),
    "TRADEX_PG_HOST": ("postgres", "host", str),
    "TRADEX_PG_PORT": ("postgres", "port", int),
    "TRADEX_PG_DB": ("postgres", "dbname", str),
    "TRADEX_PG_USER": ("postgres", "user", str),
    "TRADEX_PG_PASSWORD": ("postgres", "password", str),
    "TRADEX_PG_SCHEMA": ("postgres", "schema", str),
}


def load_settings(env: Mapping[str, str] | None = None, file: Path | None = None) -> Settings:
    """Settings from `file` (or TRADEX_SETTINGS, or ./tradex.toml if present), then the environment."""
    env = os.environ if env is None else env
    path = file or (Path(env["TRADEX_SETTINGS"]) if env.get("TRADEX_SETTINGS") else Path(DEFAULT_SETTINGS_FILE))
    values: dict[str, dict[str, Any]] = {"": {}, "postgres": {}}
    sections: dict[str, dict[str, Any]] = {"api": {}, "read_models": {}}
    if path.exists():
        with path.open("rb") as handle:
            document = tomllib.load(handle)
        for key, value in document.items():
            if key == "postgres" and isinstance(value, dict):
                values["postgres"].update(value)
            elif key in sections:
                if not isinstance(value, dict):
                    raise SettingsError(f"[{key}] must be a table")
                sections[key].update(value)
            else:
                values[""][key] = value
    elif file is not None or env.get("TRADEX_SETTINGS"):
        raise SettingsError(f"settings file {path} does not exist")
    for name, (section, field_name, kind) in _ENV.items():
        if name in env:
            try:
                values[section][field_name] = kind(env[name])
            except ValueError:
                raise SettingsError(f"{name}={env[name]!r} is not a valid {kind.__name__}") from None
    try:
        postgres = PostgresSettings(**values["postgres"])
        top: dict[str, Any] = {k: (Path(v) if k == "data_dir" else v) for k, v in values[""].items()}
        return replace(Settings(**top), postgres=postgres, api=sections["api"], read_models=sections["read_models"])
    except TypeError as error:
        raise SettingsError(f"unknown setting: {error}") from None
