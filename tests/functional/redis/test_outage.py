"""Redis stopped and started again (empty, same port) while the operator runs: every
helper degrades instead of raising, the operator logs the outage once and shows it in
`transcoder_redis_up`, and the first calls after the restart succeed again."""

from __future__ import annotations

import asyncio
import json
import logging

from tests.functional.redis import lockview
from transcode_api import contract
from transcode_operator.adapters import (
    cache,
    gpustatus,
    limits,
    locks,
    metrics,
    redis_relay,
    redisconn,
)

OWNER = locks.LockOwner(token="uid-a", holder="media/job-a")
DEST = "s3://media-out/a.mp4"

POD = "0b1c2d3e-0000-4000-8000-0000000000f1"
"""The runner Pod whose progress the relay tracks."""


def test_helpers_degrade_while_redis_is_down_and_recover_after(
    redis_server, redis_url, patches, poll, caplog
):
    m = metrics.Metrics()

    def up() -> float | None:
        return m.registry.get_sample_value("transcoder_redis_up")

    async def scenario():
        client, health = await redisconn.connect(redis_url, m)
        assert health.state == "up" and up() == 1
        jobs = cache.JobStatusCache(client, health=health, metrics=m)
        open_limits = limits.NamespaceLimiter(
            client, limits.LimitPolicy(max_running=1), fail_open=True, health=health, metrics=m)
        closed_limits = limits.NamespaceLimiter(
            client, limits.LimitPolicy(max_running=1), fail_open=False, health=health, metrics=m)
        output = locks.OutputLocks(client, health=health, metrics=m)
        gpu = gpustatus.GpuStatus(client, health=health, metrics=m)
        relay = redis_relay.ProgressRelay(client, patches, health=health, metrics=m,
                                          interval=0.2, tick_interval=0.05, reconnect_delay=0.1)
        relay.track("media", "job-a", POD)
        relay_task = asyncio.create_task(relay.run())
        watcher = asyncio.create_task(health.watch(client, interval=0.1))

        async def load():
            return {"phase": "Running"}

        try:
            assert (await output.acquire([DEST], OWNER)).acquired
            await jobs.get("media", "job-a", load)

            redis_server.stop()
            await poll(lambda: health.state == "down", timeout=5)
            down = {
                "gauge": up(),
                "job": await jobs.get("media", "job-a", load),
                "open": await open_limits.acquire("media", "uid-b"),
                "closed": await closed_limits.acquire("media", "uid-c"),
                "lock": await output.acquire([DEST], locks.LockOwner("uid-b", "media/job-b")),
                "renew": await output.renew_all(),
                "relay_alive": not relay_task.done(),
            }
            try:
                await gpu.read()
                down["gpu"] = "read"
            except gpustatus.GpuStatusUnavailable:
                down["gpu"] = "unavailable"

            redis_server.start()  # same port, empty
            await poll(lambda: health.state == "up", timeout=10)
            after = {
                "gauge": up(),
                "limits": await closed_limits.acquire("media", "uid-c"),
                "renew": await output.renew_all(),  # re-takes the lock the restart lost
                "holders": await lockview.holders(client, [DEST]),
                "job": await jobs.get("media", "job-a", load),
            }
            # The relay subscribed again: a runner write after the restart arrives.
            key = contract.progress_key("media", "job-a", POD)

            async def runner_write_arrives():
                await client.set(key, json.dumps({"percent": 77.0}), ex=3600)
                await client.publish(contract.PROGRESS_CHANNEL, key)
                return patches.percents() == [77.0]

            await poll(runner_write_arrives, timeout=10, step=0.1)
            await client.set(contract.gpu_key("gpu-a"), json.dumps({"devices": []}), ex=30)
            after["gpu"] = await gpu.read(cached=False)
        finally:
            for task in (relay_task, watcher):
                task.cancel()
            await asyncio.gather(relay_task, watcher, return_exceptions=True)
            await redisconn.close(client)
        return down, after

    with caplog.at_level(logging.WARNING, logger="transcode_operator.adapters.redisconn"):
        down, after = asyncio.run(scenario())

    assert down["gauge"] == 0
    assert down["job"] == {"phase": "Running"}  # straight from the loader
    assert down["open"].allowed and down["open"].degraded
    assert not down["closed"].allowed and down["closed"].degraded
    assert down["lock"].acquired and down["lock"].degraded  # fail_open default
    assert down["renew"] == {}
    assert down["relay_alive"]
    assert down["gpu"] == "unavailable"

    assert after["gauge"] == 1
    assert after["limits"].allowed and not after["limits"].degraded
    assert after["renew"] == {}
    assert after["holders"] == {DEST: OWNER}
    assert after["job"] == {"phase": "Running"}
    assert after["gpu"]["nodes"][0]["node"] == "gpu-a"

    messages = [r.getMessage() for r in caplog.records]
    assert len([msg for msg in messages if "unreachable" in msg]) == 1
    assert len([msg for msg in messages if "reachable again" in msg]) == 1
    errors = {sample.labels["operation"]: sample.value for family in m.registry.collect()
              for sample in family.samples if sample.name == "transcoder_redis_errors_total"}
    assert {"cache.job_status.get", "limits.acquire", "locks.acquire", "gpu.scan"} <= set(errors)
