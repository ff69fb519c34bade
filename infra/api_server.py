"""The API's composition root: adapters from the ports of queries/ to the venue, and the server.

- `SequencerGateway` implements `queries.ports.CommandGateway` over `commands.sequencer.Sequencer`: it turns
  the API's validated fields into the command dataclasses, submits them, and awaits the sequencer's
  future with `asyncio.wrap_future`; refusals (LedgerError) come back as outcomes with their code.
- `LedgerEventFeed` implements `queries.ports.EventFeed` over the ledger's notification log.
- `build_api(...)` builds the Starlette app; `ApiServer` runs it with uvicorn on a thread (tests, `tradex
  run`), `serve_venue(...)` runs it in the foreground until interrupted.

Wiring into `tradex run` (after the venue is started and its sequencer runs):

    api = ApiSettings.from_env()
    app = build_api(ledger, venue, sequencer, api, settings.data_dir,
                    read_models_conninfo=store.info.conninfo())  # omit: queries from the in-memory fold
    serve_venue(app, api)          # blocks; Ctrl-C stops uvicorn, then stop the sequencer
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql
from psycopg.rows import tuple_row
from starlette.applications import Starlette

from commands import ledger_commands as c
from commands.ledger import Ledger
from commands.order_commands import AmendOrder, CancelOrder, PlaceOrder
from commands.sequencer import Sequencer
from commands.venue import Outcome, Venue
from domain.errors import LedgerError
from infra.chained_recorder import rendered
from infra.event_decoder import EventDecoder
from infra.settings import SettingsError
from infra.token_cli import DEFAULT_AUDIENCE, DEFAULT_ISSUER, DEV_ALGORITHM, DEV_KID, api_dir, ensure_dev_keys
from queries.app import ApiConfig, create_app
from queries.auth import ApiKeyStore, Authenticator, JwtSettings, JwtVerifier, VerificationKey
from queries.pg_read_models import PgReadModels
from queries.ports import ApiCommand, CommandOutcome, WriteSideStats


# ---- the write side ---------------------------------------------------------------------------------
def _place(f: Mapping[str, Any]) -> c.Command:
    return PlaceOrder(f["command_id"], f["account_id"], f["symbol"], f["side"], f["type"], f["qty"], f["price"],
                      f["trigger_price"], f["tif"], f["expire_at_ns"], f["post_only"], f["display_qty"], f["stp"],
                      f["protection_price"])


BUILDERS: dict[str, Callable[[Mapping[str, Any]], c.Command]] = {
    "place_order": _place,
    "amend_order": lambda f: AmendOrder(f["command_id"], f["account_id"], f["symbol"], f["order_id"], f["price"],
                                        f["qty"]),
    "cancel_order": lambda f: CancelOrder(f["command_id"], f["account_id"], f["symbol"], f["order_id"]),
    "deposit": lambda f: c.Deposit(f["command_id"], f["account_id"], f["asset"], f["amount_minor"]),
    "withdraw": lambda f: c.Withdraw(f["command_id"], f["account_id"], f["asset"], f["amount_minor"]),
    "register_asset": lambda f: c.RegisterAsset(f["command_id"], f["code"], f["scale"]),
    "list_instrument": lambda f: c.ListInstrument(
        f["command_id"], f["symbol"], f["base"], f["quote"], f["tick_size"], f["lot_size"], f["min_qty_lots"],
        f["max_qty_lots"], f["min_price_ticks"], f["max_price_ticks"], f["maker_fee_ppm"], f["taker_fee_ppm"]),
    "change_instrument": lambda f: c.ChangeInstrument(f["command_id"], f["symbol"], dict(f["changes"])),
    "halt_instrument": lambda f: c.HaltInstrument(f["command_id"], f["symbol"], f["reason"]),
    "resume_instrument": lambda f: c.ResumeInstrument(f["command_id"], f["symbol"]),
    "delist_instrument": lambda f: c.DelistInstrument(f["command_id"], f["symbol"], f["reason"]),
    "open_account": lambda f: c.OpenAccount(f["command_id"], f["account_id"], dict(f["profile"])),
    "verify_kyc": lambda f: c.VerifyKyc(f["command_id"], f["account_id"], f["reviewer"]),
    "freeze_account": lambda f: c.FreezeAccount(f["command_id"], f["account_id"], f["reason"]),
    "unfreeze_account": lambda f: c.UnfreezeAccount(f["command_id"], f["account_id"]),
}


def to_command(command: ApiCommand) -> c.Command:
    return BUILDERS[command.kind]({**command.fields, "command_id": command.command_id})


def to_outcome(outcome: Outcome) -> CommandOutcome:
    error = outcome.error
    if error is not None:
        return CommandOutcome(outcome.command_id, error_code=error.code, error_message=error.message,
                              error_details=dict(error.details))
    return CommandOutcome(outcome.command_id, result=outcome.result, duplicate=outcome.duplicate,
                          log_position=outcome.log_position)


class SequencerGateway:
    """`CommandGateway` over the venue's sequencer (and its engine books for depth)."""

    def __init__(self, venue: Venue, sequencer: Sequencer, ack_timeout_s: float = 30.0) -> None:
        self.venue = venue
        self.sequencer = sequencer
        self.ack_timeout_s = ack_timeout_s

    async def submit(self, command: ApiCommand) -> CommandOutcome:
        built = to_command(command)
        try:
            future = self.sequencer.submit(built)
        except LedgerError as error:  # Overloaded: the queue is full
            return CommandOutcome(command.command_id, error_code=error.code, error_message=error.message)
        outcome = await asyncio.wait_for(asyncio.wrap_future(future), self.ack_timeout_s)
        return to_outcome(outcome)

    async def book_depth(self, symbol: str, levels: int) -> tuple[list[tuple[int, int, int]],
                                                                   list[tuple[int, int, int]]] | None:
        runtime = self.venue.markets.get(symbol)
        if runtime is None:
            return None
        # The writer thread may be inside the engine: the compiled book holds the GIL while it runs, and a
        # read that overlaps a batch's Python steps is retried (the book is at most one batch ahead of the log).
        for attempt in range(3):
            try:
                return runtime.book.depth(levels)
            except (IndexError, ValueError):
                if attempt == 2:
                    raise
                await asyncio.sleep(0.001)
        return None

    def stats(self) -> WriteSideStats:
        stats = self.sequencer.stats
        return WriteSideStats(stats.batches, stats.commands, stats.largest_batch, stats.busy_ns,
                              self.sequencer.queue.qsize(), list(stats.batch_sizes[-1000:]))

    async def ready(self) -> tuple[bool, str]:
        if self.venue.halted:
            return False, f"venue halted: {self.venue.halted}"
        if self.sequencer.failure is not None:
            return False, f"sequencer stopped: {self.sequencer.failure}"
        return True, ""


class LedgerEventFeed:
    """`EventFeed` over the ledger's notification log, with the ledger's mapper's upcasts.

    On PostgreSQL a page is one binary-format query on a pooled connection, decoded by the projectors'
    `EventDecoder` (the same domain events as the mapper, about half the CPU for the high-volume ones);
    on any other recorder, `select_notifications` and the mapper.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.decoder = EventDecoder(ledger.mapper)
        recorder = ledger.recorder
        self.select_page: bytes | None = None
        if isinstance(recorder, PostgresApplicationRecorder):
            table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
            self.select_page = rendered(sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
                "WHERE notification_id > %s ORDER BY notification_id LIMIT %s").format(table))
            self.datastore = recorder.datastore

    def read(self, after: int, limit: int) -> list[tuple[int, Any]]:
        if self.select_page is None:
            notifications = self.ledger.recorder.select_notifications(after + 1, limit)
            mapper = self.ledger.mapper
            return [(int(n.id), mapper.to_domain_event(n)) for n in notifications]
        with self.datastore.get_connection() as conn, conn.cursor(binary=True, row_factory=tuple_row) as cur:
            cur.execute(self.select_page, (after, limit))
            rows = cur.fetchall()
        decode = self.decoder.decode
        return [(int(row[0]), decode(*row)) for row in rows]

    def head(self) -> int:
        return int(self.ledger.recorder.max_notification_id() or 0)


# ---- settings and keys -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ApiSettings:
    """The API's settings (environment: TRADEX_API_*). Without a configured public key the API trusts the
    development key pair of the data directory (`tradex token`)."""

    host: str = "127.0.0.1"
    port: int = 8000
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    jwt_public_key: str = ""  # a PEM file; empty: the development key pair
    jwt_algorithm: str = DEV_ALGORITHM  # of that key: RS256, ES256 or EdDSA
    jwt_kid: str = DEV_KID
    hs256_secret: str = ""  # accept HS256 tokens signed with this secret too (only if set)
    rate_per_s: float = 2_000.0
    rate_burst: int = 4_000
    max_body_bytes: int = 16 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, section: Mapping[str, Any] | None = None) -> ApiSettings:
        """The settings file's [api] `section` (if given), overridden by TRADEX_API_<NAME> variables."""
        env = os.environ if env is None else env
        kinds: dict[str, Callable[[str], Any]] = {"port": int, "rate_per_s": float, "rate_burst": int,
                                                  "max_body_bytes": int}
        section = section or {}
        unknown = set(section) - set(cls.__dataclass_fields__)
        if unknown:
            raise SettingsError(f"[api]: unknown setting(s) {sorted(unknown)}")
        values: dict[str, Any] = {}
        try:
            for name in cls.__dataclass_fields__:
                variable = f"TRADEX_API_{name.upper()}"
                if variable in env:
                    values[name] = kinds.get(name, str)(env[variable])
                elif name in section:
                    values[name] = kinds.get(name, str)(str(section[name]))
        except ValueError as error:
            raise SettingsError(f"api settings: {error}") from None
        return cls(**values)

    def config(self) -> ApiConfig:
        return ApiConfig(max_body_bytes=self.max_body_bytes, rate_per_s=self.rate_per_s, rate_burst=self.rate_burst)


def authenticator_for(api: ApiSettings, data_dir: Path) -> Authenticator:
    if api.jwt_public_key:
        keys = [VerificationKey(api.jwt_kid, api.jwt_algorithm, Path(api.jwt_public_key).read_bytes())]
    else:
        _, public_path = ensure_dev_keys(data_dir)
        keys = [VerificationKey(DEV_KID, DEV_ALGORITHM, public_path.read_bytes())]
    if api.hs256_secret:
        keys.append(VerificationKey("hs256", "HS256", api.hs256_secret.encode()))
    verifier = JwtVerifier(JwtSettings(tuple(keys), api.issuer, api.audience))
    return Authenticator(verifier, ApiKeyStore(api_dir(data_dir) / "api_keys.json"))


def build_api(ledger: Ledger, venue: Venue, sequencer: Sequencer, api: ApiSettings, data_dir: Path,
              authenticator: Authenticator | None = None, read_models_conninfo: str | None = None) -> Starlette:
    """The app. With `read_models_conninfo` (the database the projector runner writes `rm.*` to) queries
    are answered from the PostgreSQL read models; without it, from the API's in-memory fold of the log."""
    read_models = PgReadModels(read_models_conninfo) if read_models_conninfo else None
    return create_app(api.config(), SequencerGateway(venue, sequencer), LedgerEventFeed(ledger),
                      authenticator or authenticator_for(api, data_dir), read_models)


# ---- running it ------------------------------------------------------------------------------------
def uvicorn_config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                          ws_max_size=64 * 1024, h11_max_incomplete_event_size=64 * 1024, timeout_keep_alive=30)


class ApiServer:
    """uvicorn on a thread, on an already bound socket (port 0 picks a free one): `url` once started."""

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.host, self.port = self.socket.getsockname()[:2]
        self.server = uvicorn.Server(uvicorn_config(app, host, self.port))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                       name="tradex-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> ApiServer:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)
        with contextlib.suppress(OSError):
            self.socket.close()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_venue(app: Starlette, api: ApiSettings) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (uvicorn's own handlers)."""
    uvicorn.Server(uvicorn_config(app, api.host, api.port)).run()
