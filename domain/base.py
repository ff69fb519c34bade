"""The base of every TradeX aggregate: stable topics, injected time, causation on every event."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from domain.clock import current_command_id, current_stamp, current_time, current_time_ns


class LedgerAggregate(Aggregate):
    """Aggregates of the ledger.

    Every event records the logical exchange time it happened at (`timestamp`, and `at_ns` exact to the
    nanosecond) and the id of the command that caused it (`command_id`), both taken from the scope the
    command side opens with `domain.clock.causation`. Subclasses declare `TOPIC` on the aggregate and
    on each event class so that stored names never depend on module paths.
    """

    @dataclass(frozen=True)
    class Event(Aggregate.Event):
        at_ns: int = field(default_factory=current_time_ns, kw_only=True)
        command_id: str = field(default_factory=current_command_id, kw_only=True)

        @staticmethod
        def create_timestamp() -> datetime:
            return current_time()

    def _trigger(self, event_class: type[LedgerAggregate.Event], **fields: Any) -> None:
        """eventsourcing's `trigger_event`, for events that apply themselves, stamped from one scope lookup.

        The event is built as the next in the aggregate's sequence and applied with the library's own
        `mutate` (which checks the id and version, calls the event's `apply`, and moves the version on).
        """
        at_ns, command_id, moment = current_stamp()
        event = event_class(originator_id=self.id, originator_version=self.version + 1,
                            timestamp=moment, at_ns=at_ns, command_id=command_id, **fields)
        event.mutate(self)
        self.pending_events.append(event)
