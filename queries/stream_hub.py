"""Streams: frames of messages per channel, each frame tagged with the log position it reflects.

A frame is `{"position": P, "events": [...]}`: every message one channel gets from the log up to
position P, at once. A client that remembers the position of the last frame it received reconnects with
`after=P` and gets every later frame: nothing is missed and nothing is repeated, as long as the channel
still retains frames after P (`retain` per channel); otherwise the subscription is refused with
`resume_too_old` and the client resynchronises from the REST queries (with `min_position`).

The follower task reads the event log (the `EventFeed` port, in a worker thread), folds it into a
`LiveState`, publishes the frames and wakes the queries waiting for a position.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

import orjson

from queries.live_state import LiveState, Messages
from queries.ports import EventFeed

log = logging.getLogger("tradex.api.streams")



class Frame:
    """One channel's messages at one log position, serialized once, when a subscriber first needs it."""

    __slots__ = ("_data", "events", "position")

    def __init__(self, position: int, events: list[dict[str, Any]]) -> None:
        self.position = position
        self.events = events
        self._data: bytes | None = None

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = orjson.dumps({"position": self.position, "events": self.events})
        return self._data


class ResumeTooOld(Exception):
    def __init__(self, channel: str, after: int, oldest: int) -> None:
        super().__init__(f"{channel} keeps frames after position {oldest} only; {after} is older")
        self.oldest = oldest


class SlowConsumer(Exception):
    pass


class Subscription:
    """One client's view of one channel: a bounded queue of frames, closed when the client falls behind."""

    def __init__(self, hub: StreamHub, channel: str, bound: int) -> None:
        self.hub = hub
        self.channel = channel
        self.queue: asyncio.Queue[Frame | None] = asyncio.Queue(maxsize=bound)
        self.overflowed = False

    def offer(self, frame: Frame) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            # Drop everything queued (never just the oldest: the client would see a gap and resume after
            # it) and tell the client; it resumes after the last frame it did receive.
            self.overflowed = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)

    async def next(self) -> Frame:
        frame = await self.queue.get()
        if frame is None:
            raise SlowConsumer(f"{self.channel}: the client fell behind")
        return frame

    def close(self) -> None:
        self.hub.unsubscribe(self)


class StreamHub:
    def __init__(self, retain: int = 10_000, subscriber_bound: int = 10_000) -> None:
        self.retain = retain
        self.subscriber_bound = subscriber_bound
        self.frames: dict[str, deque[Frame]] = defaultdict(deque)
        self.evicted: dict[str, int] = defaultdict(int)  # the newest position no longer retained
        self.subscribers: dict[str, set[Subscription]] = defaultdict(set)

    def publish(self, channel: str, position: int, events: list[dict[str, Any]]) -> None:
        frame = Frame(position, events)
        kept = self.frames[channel]
        kept.append(frame)
        if len(kept) > self.retain:
            self.evicted[channel] = kept.popleft().position
        for subscription in list(self.subscribers.get(channel, ())):
            subscription.offer(frame)

    def subscribe(self, channel: str, after: int | None) -> Subscription:
        """Frames after position `after` (None: only frames from now on), then every new one."""
        if after is not None and after < self.evicted.get(channel, 0):
            raise ResumeTooOld(channel, after, self.evicted[channel])
        backlog = [] if after is None else [frame for frame in self.frames.get(channel, ()) if frame.position > after]
        subscription = Subscription(self, channel, len(backlog) + self.subscriber_bound)  # the bound is for live frames
        for frame in backlog:
            subscription.offer(frame)
        self.subscribers[channel].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscribers.get(subscription.channel, set()).discard(subscription)

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self.subscribers.values())


class LogFollower:
    """Reads the log after the state's position, folds it, publishes frames, wakes position waiters."""

    def __init__(self, feed: EventFeed, state: LiveState, hub: StreamHub, chunk: int = 2_000, slice_events: int = 50,
                 idle_poll_s: float = 0.02, on_chunk: Callable[[int, int], None] | None = None) -> None:
        self.feed = feed
        self.state = state
        self.hub = hub
        self.chunk = chunk
        self.slice_events = slice_events  # folded between two yields to the event loop (requests wait meanwhile)
        self.idle_poll_s = idle_poll_s
        self.on_chunk = on_chunk  # (events folded, position) for metrics
        self.head = 0
        self.failures = 0
        self.last_error = ""
        self._advanced = asyncio.Event()
        self._nudged = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="tradex-log-follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def nudge(self) -> None:
        """New events were committed: read now rather than at the next poll."""
        self._nudged.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def wait_until(self, position: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.state.position < position:
            self.nudge()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            advanced = self._advanced
            try:
                await asyncio.wait_for(advanced.wait(), remaining)
            except TimeoutError:
                return self.state.position >= position
        return True

    async def _run(self) -> None:
        while True:
            try:
                caught_up = await self.step()
                self.failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the store may be restarting: back off, keep the task alive
                self.failures += 1
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning("log follower: %s", self.last_error)
                await asyncio.sleep(min(2.0, 0.05 * self.failures))
                continue
            if caught_up:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._nudged.wait(), self.idle_poll_s)
                self._nudged.clear()

    async def step(self) -> bool:
        """Fold one chunk; True when the log had nothing more."""
        after = self.state.position
        events, head = await asyncio.to_thread(self._read, after)
        self.head = max(self.head, head)
        for start in range(0, len(events), self.slice_events):
            if start:
                await asyncio.sleep(0)  # let requests run between slices
            self._fold(events[start:start + self.slice_events])
        return len(events) < self.chunk

    def _read(self, after: int) -> tuple[list[tuple[int, Any]], int]:
        events = self.feed.read(after, self.chunk)
        head = events[-1][0] if events else self.feed.head()
        return events, head

    def _fold(self, events: list[tuple[int, Any]]) -> None:
        by_channel: dict[str, list[tuple[int, list[dict[str, Any]]]]] = defaultdict(list)
        for position, event in events:
            messages: Messages = self.state.apply(position, event)
            for channel, channel_messages in messages.items():
                if not channel_messages:
                    continue
                frames = by_channel[channel]
                if frames and frames[-1][0] == position:
                    frames[-1][1].extend(channel_messages)
                else:
                    frames.append((position, list(channel_messages)))
        last = events[-1][0]
        for channel, book_messages in self.state.flush_book().items():
            frames = by_channel[channel]
            if frames and frames[-1][0] == last:
                frames[-1][1].extend(book_messages)
            else:
                frames.append((last, book_messages))
        for channel, frames in by_channel.items():
            for position, channel_events in frames:
                self.hub.publish(channel, position, channel_events)
        if self.on_chunk is not None:
            self.on_chunk(len(events), last)
        advanced, self._advanced = self._advanced, asyncio.Event()
        advanced.set()

