"""The running venue: write side, projectors and API, started and stopped in order, in three processes.

- this process: the venue (books rebuilt from the log: engine checkpoint plus tail), its sequencer, and
  the command link the API reaches it by (infra/command_link.py); with `simulate`, a synthetic market;
- the projectors' process (infra/projector_process.py): PostgreSQL read models and ClickHouse, caught up
  before the API opens, then following the log;
- the API's process (infra/api_process.py): uvicorn, queries from the PostgreSQL read models, commands
  over the link.

Each has its own interpreter, so HTTP work and the projectors' folding never delay the writer's batches.
Stop (SIGINT, SIGTERM or the end of `seconds`): the flow, then the API (no new commands), the link, the
sequencer (what is queued is committed), then the projectors (after catching up with the log).
"""

from __future__ import annotations

import shutil
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
from infra.api_process import ApiProcess, ApiProcessSpec
from infra.api_server import ApiSettings, SequencerGateway
from infra.bootstrap import Store, postgres_env
from infra.command_link import CommandLinkServer, link_directory
from infra.projector_process import ProjectorProcess, ProjectorSpec
from infra.settings import Settings
from infra.simulated_flow import SIMULATED_ACCOUNTS, SimulatedFlow, market_simulation, open_simulated_accounts


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
    ledger_env = postgres_env(store.info, settings.postgres.schema)
    conninfo = store.info.conninfo()
    stop = threading.Event()
    previous = _on_signals(lambda: stop.set())
    flow: SimulatedFlow | None = None
    with ExitStack() as stack:
        stack.callback(_restore_signals, previous)
        projectors = ProjectorProcess(ProjectorSpec(ledger_env, conninfo, settings)).start()
        stack.callback(projectors.stop)
        say(f"projectors (process {projectors.pid}): PostgreSQL read models and ClickHouse at log position "
            f"{projectors.position} ({projectors.catch_up_s:.2f} s to catch up); following the log")
        sequencer = Sequencer(venue).start()
        stack.callback(sequencer.stop)
        link_dir = link_directory()
        stack.callback(shutil.rmtree, link_dir, True)
        link = stack.enter_context(CommandLinkServer(SequencerGateway(venue, sequencer), link_dir / "commands.sock"))
        api = stack.enter_context(ApiProcess(ApiProcessSpec(ledger_env, link.path, api_settings, settings.data_dir,
                                                            read_models_conninfo=conninfo)))
        say(f"api (process {api.pid}): {api.url} (docs {api.url}/docs, metrics {api.url}/metrics)")
        say("  TOKEN=$(tradex token --role trader --account 1001)")
        say(f'  curl -H "Authorization: Bearer $TOKEN" {api.url}/v1/accounts/1001/balances')
        if simulate:
            flow = SimulatedFlow(sequencer, market_simulation(ledger, SIMULATED_ACCOUNTS, seed=7),
                                 ledger.clock, rate=rate)
            flow.start()
            say(f"simulated market: {len(SIMULATED_ACCOUNTS)} traders, about {rate:.0f} commands/s")
        say("serving" + (f" for {seconds:g} s" if seconds else " until Ctrl-C"))
        stop.wait(seconds)
        if flow is not None:
            flow.stop()
        # the stack unwinds in reverse: the API (no new commands), the link, the sequencer (what is queued
        # is committed), then the projectors (after catching up with the log)
    stats = sequencer.stats
    say(f"\nstopped: {stats.commands} commands in {stats.batches} batches"
        + (f"; simulated flow {sum(flow.counts.values())} commands" if flow is not None else "")
        + f"; log head {ledger.recorder.max_notification_id()}; read models at {projectors.position}")
    if projectors.error is not None:
        say(f"the projectors stopped: {projectors.error}")
    if flow is not None and flow.error is not None:
        say(f"simulated flow stopped early: {flow.error}")
    failure = sequencer.failure
    if failure is not None:
        say(f"the write side halted: {failure}")
        return 1
    return 0


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
