"""Injected logical time and causation for domain events.

The domain never reads a wall clock. The command side sets the exchange time (int nanoseconds UTC)
and the id of the command being handled for the duration of a command; every event created inside
takes its timestamp and command id from here. Creating an event outside such a scope is a bug.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from domain.errors import InvariantViolation

_NS_PER_US = 1_000
_now_ns: ContextVar[int | None] = ContextVar("tradex_now_ns", default=None)
_command_id: ContextVar[str | None] = ContextVar("tradex_command_id", default=None)


def ns_to_datetime(ns: int) -> datetime:
    """Exact conversion down to the microsecond (datetime's resolution)."""
    seconds, rest_ns = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest_ns // _NS_PER_US)


def datetime_to_ns(moment: datetime) -> int:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    delta = moment - epoch
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * _NS_PER_US


@contextmanager
def causation(now_ns: int, command_id: str) -> Iterator[None]:
    """Scope in which domain events are stamped with `now_ns` and `command_id`."""
    time_token = _now_ns.set(now_ns)
    command_token = _command_id.set(command_id)
    try:
        yield
    finally:
        _now_ns.reset(time_token)
        _command_id.reset(command_token)


def current_time() -> datetime:
    now = _now_ns.get()
    if now is None:
        raise InvariantViolation("a domain event was created outside a causation() scope")
    return ns_to_datetime(now)


def current_time_ns() -> int:
    now = _now_ns.get()
    if now is None:
        raise InvariantViolation("a domain event was created outside a causation() scope")
    return now


def current_command_id() -> str:
    command_id = _command_id.get()
    if command_id is None:
        raise InvariantViolation("a domain event was created outside a causation() scope")
    return command_id
