"""Domain tests run inside a causation scope: a fixed logical time and command id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.clock import causation

T0_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


@pytest.fixture(autouse=True)
def in_command_scope() -> Iterator[None]:
    with causation(T0_NS, "test-command"):
        yield
