"""The write side over a local socket: an API in a process of its own reaches the venue's sequencer.

The venue process runs a `CommandLinkServer` next to its sequencer; each API process holds a
`RemoteGateway`, which implements `queries.ports.CommandGateway` by sending requests over a Unix socket.
One interpreter per process is the point: the HTTP work, the API's log fold and the writer no longer take
turns on one interpreter lock, and the writer's round trips to PostgreSQL no longer wait for it.

Frames are a 4-byte big-endian length and a pickle: requests `(request id, op, args)`, replies
`(request id, ok, value)`; many requests are in flight on one connection and the replies come back as
their batches commit, in any order. Pickle is used because both ends are this program: the socket lives
in a directory only the venue's user may enter (mode 0700) and is never bound to a network address.

ops: `submit` (ApiCommand -> CommandOutcome), `depth` (symbol, levels -> book depth or None), `stats`
(-> WriteSideStats), `ready` (-> (accepting, why)).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pickle
import struct
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from queries.errors import ApiError
from queries.ports import ApiCommand, CommandGateway, CommandOutcome, WriteSideStats

_LENGTH: Final = struct.Struct(">I")
MAX_FRAME_BYTES: Final = 16 * 1024 * 1024
STATS_REFRESH_S: Final = 0.5


def link_directory() -> Path:
    """A private directory (0700) for a link's socket."""
    return Path(tempfile.mkdtemp(prefix="tradex-link-"))


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    header = await reader.readexactly(_LENGTH.size)
    (length,) = _LENGTH.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise ConnectionError(f"a frame of {length} bytes exceeds the link's limit")
    return pickle.loads(await reader.readexactly(length))  # the peer is this program (module doc)


def _frame(message: Any) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


class CommandLinkServer:
    """Serves a `CommandGateway` (the venue's own) on a Unix socket, from an event loop on a thread."""

    def __init__(self, gateway: CommandGateway, path: Path) -> None:
        self.gateway = gateway
        self.path = path
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tradex-command-link", daemon=True)
        self._ops: dict[str, Callable[..., Awaitable[Any]]] = {
            "submit": self._submit, "depth": self._depth, "stats": self._stats, "ready": self._ready}

    def start(self, timeout_s: float = 10.0) -> CommandLinkServer:
        self._thread.start()
        if not self._started.wait(timeout_s) or self._error is not None:
            raise RuntimeError(f"the command link did not start: {self._error}")
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> CommandLinkServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(asyncio.start_unix_server(self._serve, str(self.path)))
            os.chmod(self.path, 0o600)
        except BaseException as error:  # reported by start()
            self._error = error
            self._started.set()
            return
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                request_id, op, args = await _read_frame(reader)
                task = asyncio.create_task(self._answer(writer, request_id, op, args))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the API process went away; what it sent is still committed or refused
        finally:
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, request_id: int, op: str, args: tuple[Any, ...]) -> None:
        handler = self._ops.get(op)
        try:
            if handler is None:
                raise ValueError(f"unknown op {op!r}")
            reply = (request_id, True, await handler(*args))
        except Exception as error:  # the API process raises it as its own
            reply = (request_id, False, f"{type(error).__name__}: {error}")
        if not writer.is_closing():
            writer.write(_frame(reply))

    async def _submit(self, command: ApiCommand) -> CommandOutcome:
        return await self.gateway.submit(command)

    async def _depth(self, symbol: str, levels: int) -> Any:
        return await self.gateway.book_depth(symbol, levels)

    async def _stats(self) -> WriteSideStats:
        return self.gateway.stats()

    async def _ready(self) -> tuple[bool, str]:
        return await self.gateway.ready()


class RemoteGateway:
    """`CommandGateway` over a `CommandLinkServer`'s socket; connects on first use, in the caller's loop."""

    def __init__(self, path: Path, timeout_s: float = 30.0) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._connecting: asyncio.Lock | None = None
        self._stats = WriteSideStats(0, 0, 0, 0, 0, [])
        self._stats_at = 0.0
        self._refreshing: asyncio.Task[None] | None = None

    async def submit(self, command: ApiCommand) -> CommandOutcome:
        outcome: CommandOutcome = await self._call("submit", command)
        return outcome

    async def book_depth(self, symbol: str, levels: int) -> tuple[list[tuple[int, int, int]],
                                                                   list[tuple[int, int, int]]] | None:
        depth: tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]] | None = await self._call(
            "depth", symbol, levels)
        return depth

    def stats(self) -> WriteSideStats:
        """The write side's numbers as of the last refresh (at most STATS_REFRESH_S old when asked often)."""
        if time.monotonic() - self._stats_at > STATS_REFRESH_S and self._refreshing is None:
            with contextlib.suppress(RuntimeError):  # no running loop: keep what we have
                self._refreshing = asyncio.get_running_loop().create_task(self._refresh_stats())
        return self._stats

    async def _refresh_stats(self) -> None:
        try:
            self._stats = await self._call("stats")
            self._stats_at = time.monotonic()
        except ApiError:
            pass
        finally:
            self._refreshing = None

    async def ready(self) -> tuple[bool, str]:
        try:
            accepting, why = await self._call("ready")
        except ApiError as error:
            return False, error.message
        return bool(accepting), str(why)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task

    async def _call(self, op: str, *args: Any) -> Any:
        writer = await self._connected()
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            writer.write(_frame((request_id, op, args)))
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            raise ApiError(503, "write_side_timeout",
                           f"the write side did not answer within {self.timeout_s:g} s") from None
        finally:
            self._pending.pop(request_id, None)

    async def _connected(self) -> asyncio.StreamWriter:
        if self._writer is not None and not self._writer.is_closing():
            return self._writer
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._writer is None or self._writer.is_closing():
                try:
                    reader, self._writer = await asyncio.open_unix_connection(str(self.path))
                except OSError as error:
                    raise ApiError(503, "write_side_unavailable", f"the write side is not reachable: {error}") \
                        from None
                self._reader_task = asyncio.create_task(self._read_replies(reader))
            return self._writer

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                request_id, ok, value = await _read_frame(reader)
                future = self._pending.get(request_id)
                if future is None or future.done():
                    continue  # its caller gave up (timeout)
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(RuntimeError(f"the write side failed: {value}"))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            lost = ApiError(503, "write_side_unavailable", "the connection to the write side was lost")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(lost)
            if self._writer is not None:
                self._writer.close()
