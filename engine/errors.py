"""The engine's two exceptions: bad input that is not a command, and a full book."""

from __future__ import annotations

import numpy as np


class MalformedCommand(ValueError):
    """Input that cannot become a command at all (so it cannot even be rejected with an event)."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(f"command {index}: {message}")
        self.index = index  # 0-based position in the input
        self.message = message


class CapacityExceeded(RuntimeError):
    """A BookConfig bound was hit. The commands before the failing one are applied and their events
    are here; the failing command and the rest of the batch are not applied."""

    def __init__(self, message: str, events: np.ndarray, processed: int) -> None:
        super().__init__(message)
        self.events = events
        self.processed = processed
