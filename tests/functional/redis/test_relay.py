"""Progress relay against real Redis pub/sub: a runner writing 20 times a second is
patched into the job at most once per interval, and the last value always arrives."""

from __future__ import annotations

import asyncio
import json
import time

from transcode_api import contract
from transcode_operator.adapters import metrics, redis_relay, redisconn

POD = "0b1c2d3e-0000-4000-8000-0000000000f1"
"""The runner Pod whose progress the relay tracks."""


async def runner_writes(client, namespace, name, percent, **extra):
    """What the runner's report module does for each FFmpeg progress block."""
    key = contract.progress_key(namespace, name, POD)
    body = {"percent": percent, "fps": 30.0, "speed": 2.0,
            "updatedAt": "2025-01-17T10:00:00Z", **extra}
    await client.set(key, json.dumps(body), ex=contract.PROGRESS_TTL_SECONDS)
    await client.publish(contract.PROGRESS_CHANNEL, key)


async def subscribed(client) -> bool:
    """True once the relay listens on the progress channel."""
    [(_, listeners)] = await client.pubsub_numsub(contract.PROGRESS_CHANNEL)
    return listeners >= 1


def test_throttled_patches_and_last_value_delivered(redis_url, patches, poll):
    interval = 0.5
    m = metrics.Metrics()

    async def scenario():
        client = redisconn.make_client(redis_url)
        relay = redis_relay.ProgressRelay(client, patches, metrics=m, interval=interval,
                                          tick_interval=0.05)
        relay.track("media", "movie", POD)
        task = asyncio.create_task(relay.run())
        try:
            await poll(lambda: subscribed(client))
            started = time.monotonic()
            for step in range(1, 41):  # 2 s of progress at 20 Hz
                await runner_writes(client, "media", "movie", step * 2.5)
                await asyncio.sleep(0.05)
            written_for = time.monotonic() - started
            await poll(lambda: patches.percents()[-1:] == [100.0], timeout=interval * 4)
            ttl = await client.ttl(contract.progress_key("media", "movie", POD))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.aclose()
        return written_for, ttl

    written_for, ttl = asyncio.run(scenario())
    times = [call[0] for call in patches.calls]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert all(gap >= interval * 0.99 for gap in gaps), gaps
    assert len(patches.calls) <= written_for / interval + 2
    assert len(patches.calls) >= 3
    assert patches.percents() == sorted(patches.percents())
    assert 3500 < ttl <= 3600
    coalesced = m.registry.get_sample_value("transcoder_progress_updates_total",
                                            {"outcome": "coalesced"})
    assert coalesced and coalesced >= 30


def test_flush_at_pod_end_delivers_the_final_write_at_once(redis_url, patches):
    async def scenario():
        client = redisconn.make_client(redis_url)
        try:
            relay = redis_relay.ProgressRelay(client, patches, interval=60.0)
            relay.track("media", "trailer", POD)
            await relay.offer("media", "trailer", {"percent": 10.0})
            await runner_writes(client, "media", "trailer", 100.0, speed=3.5)
            assert await relay.flush("media", "trailer")
            relay.forget("media", "trailer")
            await runner_writes(client, "media", "trailer", 100.0, speed=9.9)
            assert not await relay.handle_message(contract.progress_key("media", "trailer", POD))
        finally:
            await client.aclose()

    asyncio.run(scenario())
    assert patches.calls[-1][3] == {"percent": 100.0, "fps": 30.0, "speed": 3.5}
    assert len(patches.calls) == 2


def test_catch_up_reads_tracked_jobs_after_subscribing(redis_url, patches, poll):
    """Progress written while the operator was away arrives when it starts relaying."""
    async def scenario():
        client = redisconn.make_client(redis_url)
        await runner_writes(client, "media", "resumed", 64.0)
        await runner_writes(client, "media", "not-mine", 12.0)
        relay = redis_relay.ProgressRelay(client, patches, interval=5.0, tick_interval=0.05)
        relay.track("media", "resumed", POD)
        task = asyncio.create_task(relay.run())
        try:
            await poll(lambda: patches.percents("resumed") == [64.0])
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.aclose()

    asyncio.run(scenario())
    assert [call[2] for call in patches.calls] == ["resumed"]
