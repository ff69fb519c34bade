"""The wall clock, used only at the edge: strictly increasing int nanoseconds UTC."""

from __future__ import annotations

import threading
import time


class WallClock:
    """time.time_ns(), never going backwards and never repeating (so event times order like the log)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            now = max(time.time_ns(), self._last + 1)
            self._last = now
            return now
