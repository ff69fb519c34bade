"""The projectors' decoder builds exactly the domain events the ledger's mapper builds, on a whole session."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import Notification

from infra.event_decoder import EventDecoder
from tests.projections.conftest import SessionLog

pytestmark = pytest.mark.integration


def test_every_event_of_a_session_decodes_as_the_mapper_decodes_it(session_log: SessionLog) -> None:
    ledger = session_log.ledger
    decoder = EventDecoder(ledger.mapper)
    assert decoder.plans, "the fast path is on for the ledger's mapper"
    fast = 0
    for notification in ledger.recorder.select_notifications(1, session_log.head + 1):
        by_mapper = ledger.mapper.to_domain_event(notification)
        by_decoder = decoder.decode(notification.id, notification.originator_id, notification.originator_version,
                                    notification.topic, notification.state)
        assert type(by_decoder) is type(by_mapper)
        assert by_decoder.__dict__ == by_mapper.__dict__, notification.topic
        fast += notification.topic in decoder.plans
    assert fast > 0.9 * session_log.head  # nearly every event took the fast path


def test_an_unexpected_state_is_left_to_the_mapper(session_log: SessionLog) -> None:
    ledger = session_log.ledger
    decoder = EventDecoder(ledger.mapper)
    notification = next(n for n in ledger.recorder.select_notifications(1, 1000)
                        if n.topic == "tradex.Order.FillsRecorded")
    for odd in (notification.state.replace(b'"_type_":"tradex.Fill"', b'"_type_":"tradex.Entry"', 1),
                notification.state.replace(b'"command_id":', b'"ratio":0.5,"command_id":', 1)):
        stored = Notification(id=notification.id, originator_id=notification.originator_id,
                              originator_version=notification.originator_version, topic=notification.topic,
                              state=odd)
        by_mapper = ledger.mapper.to_domain_event(stored)
        by_decoder = decoder.decode(notification.id, notification.originator_id, notification.originator_version,
                                    notification.topic, odd)
        assert by_decoder.__dict__ == by_mapper.__dict__
        assert [type(value) for value in by_decoder.__dict__.values()] == \
            [type(value) for value in by_mapper.__dict__.values()]
