"""Explicit checks for invariants and inputs. Unlike `assert`, these survive `python -O`."""

from __future__ import annotations

from typing import Any

from domain.errors import InvariantViolation, LedgerError

INT64_MAX = 2**63 - 1


def require(condition: bool, message: str) -> None:
    """Fail fast on a broken invariant (a bug, not bad input)."""
    if not condition:
        raise InvariantViolation(message)


def strict_int(value: Any) -> bool:
    """True for a real int (bool excluded: JSON true is not a quantity)."""
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int64(value: Any, error: type[LedgerError], name: str) -> int:
    """Return value if it is an int in 1..INT64_MAX, else raise `error` naming the field."""
    if not strict_int(value):
        raise error(f"{name} must be an integer, got {value!r}", field=name, value=repr(value))
    if value <= 0:
        raise error(f"{name} must be positive, got {value}", field=name, value=value)
    if value > INT64_MAX:
        raise error(f"{name} {value} is beyond int64", field=name, value=str(value))
    return int(value)
