"""A private PostgreSQL server run from the machine's binaries, with its data in a local directory.

PostgreSQL refuses to run as root, so when we are root the server runs as the `postgres` user and
the data directory is handed to it. The server listens on 127.0.0.1 only, on a port of our choosing,
with its socket inside the data directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

SERVER_USER = "postgres"


class EmbeddedPostgresError(RuntimeError):
    pass


@dataclass(frozen=True)
class PgConnectionInfo:
    host: str
    port: int
    dbname: str
    user: str
    password: str = ""

    def conninfo(self, dbname: str | None = None) -> str:
        parts = [f"host={self.host}", f"port={self.port}", f"dbname={dbname or self.dbname}", f"user={self.user}"]
        if self.password:
            parts.append(f"password={self.password}")
        return " ".join(parts)


DEBIAN_ROOTS = (Path("/usr/lib/postgresql"),)


def find_pg_bin_dir(configured: str = "", roots: tuple[Path, ...] = DEBIAN_ROOTS, use_pg_config: bool = True) -> Path:
    """The directory holding initdb and pg_ctl: configured, else the newest /usr/lib/postgresql/N/bin."""
    candidates: list[Path] = []
    if configured:
        candidates.append(Path(configured))
    for root in roots:
        versions = sorted(root.glob("*/bin"), key=lambda p: _version_key(p.parent.name))
        candidates.extend(reversed(versions))
    pg_config = shutil.which("pg_config") if use_pg_config else None
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out:
            candidates.append(Path(out))
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    raise EmbeddedPostgresError(
        "no PostgreSQL server binaries found (initdb, pg_ctl). Install Debian's postgresql-15 "
        "(make setup does) or set TRADEX_PG_BIN to their directory.")


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmbeddedPostgres:
    """Start (initialising on first use) and stop a private PostgreSQL server.

    Usable as a context manager. If the server for this data directory is already running (another
    TradeX process started it), it is reused and left running on exit.
    """

    def __init__(self, data_dir: Path, port: int = 0, bin_dir: str = "", dbname: str = "tradex",
                 fsync: bool = True) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.requested_port = port
        self.bin_dir = find_pg_bin_dir(bin_dir)
        self.dbname = dbname
        self.fsync = fsync
        self.started_here = False
        self.info: PgConnectionInfo | None = None
        self.startup_seconds = 0.0

    # ---- process helpers -----------------------------------------------------------------------
    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=False, cwd="/")

    def _hand_over(self, path: Path) -> None:
        if self._as_root:
            shutil.chown(path, SERVER_USER, SERVER_USER)

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> PgConnectionInfo:
        began = time.perf_counter()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.data_dir)
        self.data_dir.chmod(0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        running_port = self._running_port()
        if running_port is not None:
            port = running_port
        else:
            port = self.requested_port or free_port()
            self._pg_ctl_start(port)
            self.started_here = True
        self.info = PgConnectionInfo("127.0.0.1", port, self.dbname, "postgres")
        self._ensure_database()
        self.startup_seconds = time.perf_counter() - began
        return self.info

    def stop(self) -> None:
        if self.started_here:
            result = self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop")
            if result.returncode != 0:
                raise EmbeddedPostgresError(f"pg_ctl stop failed: {result.stderr.strip()}")
            self.started_here = False

    def __enter__(self) -> PgConnectionInfo:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _initdb(self) -> None:
        result = self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                           "--no-locale", "--no-instructions")
        if result.returncode != 0:
            hint = (f" (the `{SERVER_USER}` user must be able to enter every directory above {self.data_dir})"
                    if self._as_root and "Permission denied" in result.stderr else "")
            raise EmbeddedPostgresError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}{hint}")

    def _running_port(self) -> int | None:
        status = self._run("pg_ctl", "-D", str(self.data_dir), "status")
        if status.returncode != 0:
            return None
        lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        return int(lines[3])

    def _pg_ctl_start(self, port: int) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {self.data_dir} "
                   f"-c fsync={'on' if self.fsync else 'off'} -c max_connections=200")
        log = self.data_dir / "server.log"
        result = self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-t", "60", "-l", str(log), "-o", options,
                           "start")
        if result.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise EmbeddedPostgresError(f"pg_ctl start failed: {result.stderr.strip()}\n{tail}")

    def _ensure_database(self) -> None:
        assert self.info is not None
        with psycopg.connect(self.info.conninfo("postgres"), autocommit=True) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,)).fetchone()
            if not exists:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.dbname)))


@contextmanager
def temporary_server(prefix: str, fsync: bool = True) -> Iterator[PgConnectionInfo]:
    """A private server in a new temporary directory, stopped and removed afterwards (benchmarks, tools)."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(base, 0o755)  # as root the server runs as `postgres`, which must enter its data directory
    server = EmbeddedPostgres(base / "pgdata", fsync=fsync)
    try:
        yield server.start()
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)
