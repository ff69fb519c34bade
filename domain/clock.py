"""Injected logical time and causation for domain events.

The domain never reads a wall clock. The command side sets the exchange time (int nanoseconds UTC)
and the id of the command being handled for the duration of a command; every event created inside
takes its timestamp and command id from here. Creating an event outside such a scope is a bug.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from datetime import UTC, datetime

from domain.errors import InvariantViolation

_NS_PER_US = 1_000
_OUTSIDE_SCOPE = "a domain event was created outside a causation() scope"


class _Causation:
    """One causation scope: its time, its command id, and the datetime of that time once built.

    Every event of a command shares the scope's time, so the datetime is built on first use and then
    reused (datetimes are immutable): building one per event cost about a microsecond each. It is built
    lazily, not on entry, so that a scope whose time does not fit a datetime fails only when an event
    needs that datetime, exactly as before.
    """

    __slots__ = ("command_id", "moment", "now_ns")

    def __init__(self, now_ns: int, command_id: str) -> None:
        self.now_ns = now_ns
        self.command_id = command_id
        self.moment: datetime | None = None


# One ContextVar for the whole scope: every event reads it three times (time, datetime, command id).
_scope: ContextVar[_Causation | None] = ContextVar("tradex_causation", default=None)


def ns_to_datetime(ns: int) -> datetime:
    """Exact conversion down to the microsecond (datetime's resolution)."""
    seconds, rest_ns = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest_ns // _NS_PER_US)


def datetime_to_ns(moment: datetime) -> int:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    delta = moment - epoch
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * _NS_PER_US


class causation:  # lower case: used like the function it replaced, `with causation(now_ns, command_id):`
    """Scope in which domain events are stamped with `now_ns` and `command_id`.

    A plain class rather than a generator-based context manager: the write side opens one per command.
    """

    __slots__ = ("_token", "scope")

    def __init__(self, now_ns: int, command_id: str) -> None:
        self.scope = _Causation(now_ns, command_id)
        self._token: Token[_Causation | None] | None = None

    def __enter__(self) -> None:
        self._token = _scope.set(self.scope)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _scope.reset(self._token)
            self._token = None


def _current() -> _Causation:
    scope = _scope.get()
    if scope is None:
        raise InvariantViolation(_OUTSIDE_SCOPE)
    return scope


def current_stamp() -> tuple[int, str, datetime]:
    """The scope's time, command id and datetime in one lookup (what every event records)."""
    scope = _current()
    if scope.now_ns is None or scope.command_id is None:
        raise InvariantViolation(_OUTSIDE_SCOPE)
    moment = scope.moment
    if moment is None:
        moment = scope.moment = ns_to_datetime(scope.now_ns)
    return scope.now_ns, scope.command_id, moment


def current_time() -> datetime:
    scope = _current()
    moment = scope.moment
    if moment is None:
        moment = scope.moment = ns_to_datetime(current_time_ns())
    return moment


def current_time_ns() -> int:
    now_ns = _current().now_ns
    if now_ns is None:  # a scope opened without a time is no scope (as when each had its own ContextVar)
        raise InvariantViolation(_OUTSIDE_SCOPE)
    return now_ns


def current_command_id() -> str:
    command_id = _current().command_id
    if command_id is None:
        raise InvariantViolation(_OUTSIDE_SCOPE)
    return command_id
