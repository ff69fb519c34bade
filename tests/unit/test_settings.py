"""Settings come from a TOML file and are overridden by TRADEX_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import SettingsError, load_settings


def test_defaults_use_the_embedded_store(tmp_path: Path) -> None:
    settings = load_settings(env={})
    assert settings.postgres.embedded and settings.data_dir == Path("var")


def test_file_then_environment(tmp_path: Path) -> None:
    file = tmp_path / "tradex.toml"
    file.write_text('data_dir = "/srv/tradex"\n[postgres]\nhost = "db.internal"\nport = 6543\nuser = "ledger"\n')
    settings = load_settings(env={"TRADEX_PG_PORT": "7000", "TRADEX_PG_PASSWORD": "s3cret"}, file=file)
    assert settings.data_dir == Path("/srv/tradex")
    assert not settings.postgres.embedded
    assert (settings.postgres.host, settings.postgres.port, settings.postgres.user,
            settings.postgres.password) == ("db.internal", 7000, "ledger", "s3cret")


def test_bad_values_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="TRADEX_PG_PORT"):
        load_settings(env={"TRADEX_PG_PORT": "five"})
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(env={}, file=tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("colour = 'blue'\n")
    with pytest.raises(SettingsError, match="unknown setting"):
        load_settings(env={}, file=bad)


def test_api_and_read_model_sections_come_from_the_file_and_the_environment_wins(tmp_path: Path) -> None:
    from infra.api_server import ApiSettings
    from infra.read_model_settings import load_read_model_settings

    path = tmp_path / "tradex.toml"
    path.write_text('[api]\nport = 9100\nissuer = "idp.example"\n[read_models]\nschema = "reads"\nbatch_size = 7\n')
    settings = load_settings(env={}, file=path)
    api = ApiSettings.from_env(env={"TRADEX_API_PORT": "9200"}, section=settings.api)
    assert (api.port, api.issuer) == (9200, "idp.example")
    read = load_read_model_settings(settings, env={})
    assert (read.schema, read.batch_size) == ("reads", 7)
    path.write_text("[api]\nportt = 1\n")
    with pytest.raises(SettingsError, match="portt"):
        ApiSettings.from_env(env={}, section=load_settings(env={}, file=path).api)
