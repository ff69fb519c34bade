"""Stream frames: resuming after a position gives every later frame, or a refusal, never a gap."""

from __future__ import annotations

import asyncio

import pytest

from queries.stream_hub import ResumeTooOld, SlowConsumer, StreamHub


def test_resume_gives_every_later_frame_or_refuses() -> None:
    async def scenario() -> None:
        hub = StreamHub(retain=3, subscriber_bound=2)
        for position in (10, 20, 30, 40):
            hub.publish("market:X", position, [{"n": position}])
        with pytest.raises(ResumeTooOld) as too_old:
            hub.subscribe("market:X", after=5)  # frame 10 is no longer kept: no silent gap
        assert too_old.value.oldest == 10
        resumed = hub.subscribe("market:X", after=20)
        assert [(await resumed.next()).position for _ in range(2)] == [30, 40]
        live = hub.subscribe("market:X", after=None)
        hub.publish("market:X", 50, [{"n": 50}])
        frame = await live.next()
        assert frame.position == 50 and frame.data == b'{"position":50,"events":[{"n":50}]}'
        for position in (60, 70, 80):  # a subscriber that does not read falls behind: told, not skipped
            hub.publish("market:X", position, [])
        with pytest.raises(SlowConsumer):  # nothing after 50 was delivered: resuming after 50 has no gap
            await live.next()
        again = hub.subscribe("market:X", after=50)
        assert [(await again.next()).position for _ in range(3)] == [60, 70, 80]
        again.close()
        live.close()
        resumed.close()
        assert hub.subscriber_count() == 0

    asyncio.run(scenario())
