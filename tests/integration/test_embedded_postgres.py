"""The embedded PostgreSQL: initialises once, keeps its data across restarts, reuses a running server."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from infra.embedded_postgres import EmbeddedPostgres, EmbeddedPostgresError, find_pg_bin_dir

pytestmark = pytest.mark.integration


@pytest.fixture
def base_dir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="tradex-embedded-"))
    base.chmod(0o711)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_data_survives_a_restart_and_a_running_server_is_reused(base_dir: Path) -> None:
    data_dir = base_dir / "pgdata"
    first = EmbeddedPostgres(data_dir, fsync=False)
    info = first.start()
    try:
        assert first.started_here and info.host == "127.0.0.1"
        with psycopg.connect(info.conninfo(), autocommit=True) as connection:
            connection.execute("CREATE TABLE kept (value int)")
            connection.execute("INSERT INTO kept VALUES (42)")
        # a second user of the same data directory joins the running server and leaves it running
        second = EmbeddedPostgres(data_dir)
        assert second.start().port == info.port and not second.started_here
        second.stop()
        with psycopg.connect(info.conninfo()) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
    finally:
        first.stop()
    restarted = EmbeddedPostgres(data_dir, fsync=False)
    with restarted as info_again, psycopg.connect(info_again.conninfo()) as connection:
        assert connection.execute("SELECT value FROM kept").fetchone() == (42,)
    print(f"embedded PostgreSQL: first start (initdb included) then restart in {restarted.startup_seconds:.2f} s")


def test_missing_binaries_are_a_clear_error(base_dir: Path) -> None:
    with pytest.raises(EmbeddedPostgresError, match="TRADEX_PG_BIN"):
        find_pg_bin_dir(str(base_dir / "nowhere"), roots=(base_dir,), use_pg_config=False)
