"""The API in a process of its own, reaching the venue's sequencer over a command link.

`ApiProcess` starts a child process (spawned, so it shares nothing with the venue's interpreter) that
builds the app with a `RemoteGateway` to the venue's `CommandLinkServer`, its own ledger reader for the
event feed (the stream fold), the configured read models, and serves it with uvicorn. The child binds
the port and reports the address back once uvicorn is serving; `stop()` sends SIGTERM (uvicorn's graceful
shutdown) to that PID only, and kills it if it does not end in time.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from commands.ledger import Ledger
from infra.api_server import ApiSettings, LedgerEventFeed, authenticator_for, uvicorn_config
from infra.clock import WallClock
from infra.command_link import RemoteGateway
from queries.app import ApiConfig, create_app
from queries.pg_read_models import PgReadModels

API_SWITCH_INTERVAL_S = 0.001
API_GC_THRESHOLDS = (20_000, 20, 1_000)
API_FREEZE_EVERY_S = 1.0


@dataclass(frozen=True)
class ApiProcessSpec:
    ledger_env: dict[str, str]  # the event store's eventsourcing environment (read only here)
    link_path: Path  # the venue's CommandLinkServer socket
    api: ApiSettings
    data_dir: Path
    read_models_conninfo: str | None = None  # None: queries from the process's own fold of the log
    config: ApiConfig | None = None  # None: the settings' limits


def _serve(spec: ApiProcessSpec, report: multiprocessing.connection.Connection) -> None:
    """The child: build the app, bind, serve until SIGTERM/SIGINT."""
    # The event loop and the log fold's reader thread share this interpreter: hand it over every 1 ms
    # rather than every 5, so a request does not wait behind a page being decoded.
    sys.setswitchinterval(API_SWITCH_INTERVAL_S)
    _tune_collector()
    ledger = Ledger(env={**spec.ledger_env, "CREATE_TABLE": "n"}, clock=WallClock())
    gateway = RemoteGateway(spec.link_path)
    read_models = PgReadModels(spec.read_models_conninfo) if spec.read_models_conninfo else None
    app = create_app(spec.config or spec.api.config(), gateway, LedgerEventFeed(ledger),
                     authenticator_for(spec.api, spec.data_dir), read_models)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((spec.api.host, spec.api.port))
    except OSError as error:
        report.send(("error", f"cannot listen on {spec.api.host}:{spec.api.port}: {error}"))
        return
    host, port = listener.getsockname()[:2]
    server = uvicorn.Server(uvicorn_config(app, host, port))

    def tell_when_serving() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.01)
        report.send(("serving", f"http://{host}:{port}"))

    threading.Thread(target=tell_when_serving, daemon=True).start()
    try:
        server.run(sockets=[listener])
    finally:
        ledger.close()


def _tune_collector() -> None:
    """Keep the collector's full passes short: the log fold holds millions of long-lived objects, and a
    full collection over them stopped every request for a few hundred ms (the API's p99 in this layout).
    Everything alive is frozen (out of the collector's sight) every `API_FREEZE_EVERY_S`, and the young
    generation is collected less often; what the fold drops is mostly freed by reference counting."""
    gc.set_threshold(*API_GC_THRESHOLDS)

    def freeze_periodically() -> None:
        while True:
            gc.freeze()
            time.sleep(API_FREEZE_EVERY_S)

    threading.Thread(target=freeze_periodically, name="tradex-api-gc", daemon=True).start()


class ApiProcess:
    """The API served by a child process; `url` once started."""

    def __init__(self, spec: ApiProcessSpec) -> None:
        self.spec = spec
        context = multiprocessing.get_context("spawn")
        self._report, child_end = context.Pipe(duplex=False)
        self._process = context.Process(target=_serve, args=(spec, child_end), name="tradex-api", daemon=True)
        self.url = ""

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def start(self, timeout_s: float = 60.0) -> ApiProcess:
        self._process.start()
        if not self._report.poll(timeout_s):
            self.stop()
            raise RuntimeError(f"the API process did not start within {timeout_s:g} s")
        try:
            kind, value = self._report.recv()
        except EOFError:  # it ended before reporting
            self._process.join(5)
            kind, value = "error", f"it exited with code {self._process.exitcode}"
        if kind != "serving":
            self.stop()
            raise RuntimeError(f"the API process did not start: {value}")
        self.url = str(value)
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        pid = self._process.pid
        if pid is not None and self._process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            self._process.join(timeout_s)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
        self._report.close()

    def __enter__(self) -> ApiProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
