"""A small progress bar for long-running commands (on stderr, at most a few updates per second)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, total: int, enabled: bool = True, stream: TextIO = sys.stderr) -> None:
        self.label = label
        self.total = max(total, 1)
        self.enabled = enabled
        self.stream = stream
        self.began = time.monotonic()
        self._last_draw = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last_draw < 0.25 and done < self.total):
            return
        self._last_draw = now
        fraction = min(done / self.total, 1.0)
        filled = int(fraction * 30)
        rate = done / max(now - self.began, 1e-9)
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total} "
                          f"{fraction:6.1%} {rate:,.0f}/s")
        self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.update(self.total)
            self.stream.write("\n")
            self.stream.flush()
