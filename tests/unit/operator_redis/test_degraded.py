"""Redis down or not configured: every helper answers with its fallback, nothing raises
into the caller, and the operator says once in its log and in `transcoder_redis_up`
that it runs degraded (and once that it recovered)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from redis import exceptions as redis_errors

from transcode_operator.adapters import cache, gpustatus, limits, locks, redis_relay, redisconn


def test_health_logs_once_per_outage_and_flips_the_gauge(metric_set, sample, caplog):
    health = redisconn.RedisHealth(metric_set)
    error = redis_errors.ConnectionError("Connection refused")
    assert sample(metric_set, "transcoder_redis_up") == 1
    with caplog.at_level(logging.WARNING, logger="transcode_operator.adapters.redisconn"):
        for _ in range(5):
            health.failed("cache.get", error)
        assert sample(metric_set, "transcoder_redis_up") == 0
        health.succeeded()
        health.succeeded()
    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if "unreachable" in m]) == 1
    assert len([m for m in messages if "reachable again" in m]) == 1
    assert sample(metric_set, "transcoder_redis_up") == 1
    assert sample(metric_set, "transcoder_redis_errors_total", operation="cache.get") == 5
    assert health.state == "up"


def test_a_bad_command_is_counted_but_does_not_mean_redis_is_down(metric_set):
    health = redisconn.RedisHealth(metric_set)
    health.failed("limits.acquire", redis_errors.ResponseError("ERR syntax"))
    assert health.up


def test_a_cancel_that_the_client_turns_into_a_timeout_still_cancels(metric_set):
    health = redisconn.RedisHealth(metric_set)

    async def slow_read() -> int:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:  # what a socket timeout wrapper may make of it
            raise redis_errors.TimeoutError("Timeout reading from socket") from None
        return 1

    async def scenario() -> None:
        task = asyncio.create_task(health.call("locks.renew", slow_read, 0))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert health.up  # a cancel is no Redis outage


def test_call_returns_the_fallback_or_raises_when_told(down_redis):
    health = redisconn.RedisHealth()

    async def scenario():
        assert await health.call("get", lambda: down_redis.get("k"), "fallback") == "fallback"
        with pytest.raises(redis_errors.ConnectionError):
            await health.call("get", lambda: down_redis.get("k"), None, raise_errors=True)

    asyncio.run(scenario())
    assert health.state == "down"


def test_connect_without_url_is_disabled_and_logs_it(metric_set, sample, caplog):
    with caplog.at_level(logging.WARNING):
        client, health = asyncio.run(redisconn.connect(None, metric_set))
    assert client is None
    assert health.state == "disabled"
    assert "not configured" in caplog.text
    assert sample(metric_set, "transcoder_redis_up") == 0
    assert sample(metric_set, "transcoder_redis_configured") == 0


@pytest.mark.parametrize("client_kind", ["down", "none"])
def test_caches_fall_through_to_the_loader(client_kind, down_redis, metric_set, sample):
    client = down_redis if client_kind == "down" else None
    health = redisconn.RedisHealth(metric_set, configured=client is not None)
    jobs = cache.JobStatusCache(client, health=health, metrics=metric_set)
    loads = []

    async def loader():
        loads.append(1)
        return {"phase": "Running"}

    async def scenario():
        assert await jobs.get("media", "trailer", loader) == {"phase": "Running"}
        assert await jobs.get("media", "trailer", loader) == {"phase": "Running"}
        await jobs.invalidate("media", "trailer")

    asyncio.run(scenario())
    assert len(loads) == 2
    assert sample(metric_set, "transcoder_cache_misses_total", cache="job_status") == 2
    assert sample(metric_set, "transcoder_cache_hits_total", cache="job_status") == 0


@pytest.mark.parametrize("fail_open", [True, False])
@pytest.mark.parametrize("client_kind", ["down", "none"])
def test_limits_follow_fail_open(fail_open, client_kind, down_redis, clock):
    client = down_redis if client_kind == "down" else None
    limiter = limits.NamespaceLimiter(
        client, limits.LimitPolicy(starts_per_minute=10, max_running=2),
        fail_open=fail_open, clock=clock,
    )

    async def scenario():
        decision = await limiter.acquire("media", "uid-1")
        await limiter.release("media", "uid-1")
        assert await limiter.running("media") == []
        return decision

    decision = asyncio.run(scenario())
    assert decision.allowed is fail_open
    assert decision.degraded
    assert decision.reason == limits.REASON_UNAVAILABLE
    assert (decision.retry_after == 0) is fail_open


def test_unlimited_namespaces_never_ask_redis(down_redis):
    limiter = limits.NamespaceLimiter(down_redis, overrides={"batch": limits.LimitPolicy(1, 1)})
    decision = asyncio.run(limiter.acquire("media", "uid-1"))
    assert decision.allowed and not decision.degraded
    assert down_redis.calls == 0


@pytest.mark.parametrize("fail_open", [True, False])
@pytest.mark.parametrize("client_kind", ["down", "none"])
def test_locks_follow_fail_open(fail_open, client_kind, down_redis):
    client = down_redis if client_kind == "down" else None
    output_locks = locks.OutputLocks(client, fail_open=fail_open)
    owner = locks.LockOwner(token="uid-1", holder="media/trailer")

    async def scenario():
        result = await output_locks.acquire(["s3://out/a.mp4"], owner)
        assert await output_locks.renew(["s3://out/a.mp4"], owner) == []
        assert await output_locks.release(["s3://out/a.mp4"], owner) == 0
        return result

    result = asyncio.run(scenario())
    assert result.acquired is fail_open
    assert result.degraded


def test_gpu_status_says_unavailable(down_redis):
    async def scenario(client):
        status = gpustatus.GpuStatus(client)
        with pytest.raises(gpustatus.GpuStatusUnavailable):
            await status.read()
        assert not await status.refresh()

    asyncio.run(scenario(down_redis))
    asyncio.run(scenario(None))


def test_relay_without_redis_flushes_nothing_and_keeps_running(down_redis, recorder, clock):
    async def scenario():
        relay = redis_relay.ProgressRelay(down_redis, recorder, clock=clock, reconnect_delay=1.0)
        relay.track("media", "trailer", "pod-uid-1")
        assert not await relay.flush("media", "trailer")
        task = asyncio.create_task(relay.run())
        await clock.advance(3)
        assert not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert relay.health.state == "down"

    asyncio.run(scenario())
    assert recorder.calls == []
