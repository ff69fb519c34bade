"""The running venue: write side, projectors and API in one process, started and stopped in order.

Start: the venue rebuilds its books from the log (engine checkpoint plus tail), the sequencer starts,
the projectors catch up and follow the log, the API listens; with `simulate`, a synthetic market trades.
Stop (SIGINT, SIGTERM or the end of `seconds`): the flow, then the API (no new commands), then the
sequencer (what is queued is committed), then the projectors (after catching up with the log).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from types import FrameType
from typing import TextIO

from commands.ledger import Ledger
from commands.sequencer import Sequencer
from commands.venue import Venue
from infra.api_server import ApiServer, ApiSettings, build_api
from infra.bootstrap import Store
from infra.projector_runner import ClickHouseRunner, LogReader, PgRunner
from infra.read_model_settings import load_read_model_settings
from infra.settings import Settings
from infra.simulated_flow import SIMULATED_ACCOUNTS, SimulatedFlow, market_simulation, open_simulated_accounts
from projections.catalog import PG_PROJECTORS, pg_projectors


def serve(ledger: Ledger, store: Store, settings: Settings, simulate: bool = False, rate: float = 200.0,
          seconds: float | None = None, out: TextIO | None = None) -> int:
    def say(text: str) -> None:
        print(text, file=out, flush=True)

    if simulate:
        open_simulated_accounts(ledger)
    venue = Venue(ledger)
    began = time.perf_counter()
    replayed = venue.start()
    say(f"\nvenue: books rebuilt in {time.perf_counter() - began:.2f} s ("
        + ", ".join(f"{symbol} {count} engine commands replayed" for symbol, count in replayed.items()) + ")")
    api_settings = ApiSettings.from_env(section=settings.api)
    stop = threading.Event()
    previous = _on_signals(lambda: stop.set())
    projectors = _start_projectors(ledger, store, settings, say)
    sequencer = Sequencer(venue).start()
    flow: SimulatedFlow | None = None
    try:
        app = build_api(ledger, venue, sequencer, api_settings, settings.data_dir,
                        read_models_conninfo=store.info.conninfo())
        with ApiServer(app, api_settings.host, api_settings.port) as server:
            say(f"api: {server.url} (docs {server.url}/docs, metrics {server.url}/metrics)")
            say("  TOKEN=$(tradex token --role trader --account 1001)")
            say(f'  curl -H "Authorization: Bearer $TOKEN" {server.url}/v1/accounts/1001/balances')
            if simulate:
                flow = SimulatedFlow(sequencer, market_simulation(ledger, SIMULATED_ACCOUNTS, seed=7),
                                     ledger.clock, rate=rate)
                flow.start()
                say(f"simulated market: {len(SIMULATED_ACCOUNTS)} traders, about {rate:.0f} commands/s")
            say("serving" + (f" for {seconds:g} s" if seconds else " until Ctrl-C"))
            stop.wait(seconds)
            if flow is not None:
                flow.stop()
    finally:
        sequencer.stop()
        projectors.stop()
        _restore_signals(previous)
    stats = sequencer.stats
    say(f"\nstopped: {stats.commands} commands in {stats.batches} batches"
        + (f"; simulated flow {sum(flow.counts.values())} commands" if flow is not None else "")
        + f"; log head {ledger.recorder.max_notification_id()}")
    if projectors.error is not None:
        say(f"the projectors stopped: {projectors.error}")
    if flow is not None and flow.error is not None:
        say(f"simulated flow stopped early: {flow.error}")
    failure = sequencer.failure
    if failure is not None:
        say(f"the write side halted: {failure}")
        return 1
    return 0


class _Projectors:
    """The projectors of the read side, following the log on a thread of their own."""

    def __init__(self, ledger: Ledger, store: Store, settings: Settings) -> None:
        read = load_read_model_settings(settings)
        conninfo = store.info.conninfo()
        self._stack = ExitStack()
        self.reader = LogReader(ledger, conninfo)
        self._stack.callback(self.reader.close)
        self.pg = self._stack.enter_context(PgRunner(self.reader, conninfo, pg_projectors(list(PG_PROJECTORS)),
                                                     read.store, read.batch_size))
        self.pg.setup()
        client = read.clickhouse()
        self._stack.callback(client.close)
        self.clickhouse = ClickHouseRunner(self.reader, client, read.registry, read.batch_size)
        self.clickhouse.setup()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="tradex-projectors", daemon=True)

    def start(self) -> _Projectors:
        self._thread.start()
        return self

    def _follow(self) -> None:
        try:
            while not self._stop.is_set():
                windows = self.pg.catch_up().windows + self.clickhouse.catch_up().windows
                if windows == 0:
                    self._stop.wait(0.2)
        except Exception as error:  # reported on stop; the API answers from the read models as they are
            self.error = error

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        if self.error is None:  # one last pass: the read models end at the log's head
            self.pg.catch_up()
            self.clickhouse.catch_up()
        self._stack.close()


def _start_projectors(ledger: Ledger, store: Store, settings: Settings,
                      say: Callable[[str], None]) -> _Projectors:
    began = time.perf_counter()
    projectors = _Projectors(ledger, store, settings)
    head = ledger.recorder.max_notification_id() or 0
    projectors.pg.catch_up()
    projectors.clickhouse.catch_up()
    say(f"projectors: PostgreSQL read models and ClickHouse at log position {head} "
        f"({time.perf_counter() - began:.2f} s to catch up); following the log")
    return projectors.start()


def _on_signals(handler: Callable[[], None]) -> dict[int, object]:
    previous: dict[int, object] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous

    def handle(_signum: int, _frame: FrameType | None) -> None:
        handler()

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handle)
    return previous


def _restore_signals(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]
