"""Namespace limits against real Redis: the running cap and the starts-per-minute
window hold under many concurrent callers, and a job is never counted twice."""

from __future__ import annotations

import asyncio

from transcode_operator.adapters import clocks, limits, metrics, redisconn


def limiter(client, clock=None, **policy):
    return limits.NamespaceLimiter(client, limits.LimitPolicy(**policy),
                                   clock=clock or clocks.SystemClock())


def test_running_cap_holds_under_fifty_concurrent_starts(redis_url):
    async def scenario():
        clients = [redisconn.make_client(redis_url) for _ in range(5)]
        try:
            # Five operator connections race for the same namespace.
            limiters = [limiter(c, max_running=5) for c in clients]
            decisions = await asyncio.gather(*(
                limiters[n % 5].acquire("media", f"uid-{n}") for n in range(50)))
            allowed = [n for n, d in enumerate(decisions) if d.allowed]
            running = await limiters[0].running("media")
            for n in allowed[:2]:
                await limiters[0].release("media", f"uid-{n}")
            waiting = [n for n, d in enumerate(decisions) if not d.allowed]
            second = await asyncio.gather(*(
                limiters[n % 5].acquire("media", f"uid-{n}") for n in waiting))
            other_namespace = await limiters[1].acquire("batch", "uid-x")
        finally:
            for c in clients:
                await c.aclose()
        return decisions, allowed, running, second, other_namespace

    decisions, allowed, running, second, other_namespace = asyncio.run(scenario())
    assert len(allowed) == 5
    assert sorted(running) == sorted(f"uid-{n}" for n in allowed)
    denied = [d for d in decisions if not d.allowed]
    assert {d.reason for d in denied} == {limits.REASON_CONCURRENCY}
    assert all(d.retry_after > 0 for d in denied)
    assert sum(d.allowed for d in second) == 2
    assert other_namespace.allowed


def test_starts_per_minute_window_with_retry_after(redis_url):
    clock = clocks.ManualClock(start=1_000_000.0)
    m = metrics.Metrics()

    async def scenario():
        client = redisconn.make_client(redis_url)
        try:
            limit = limits.NamespaceLimiter(
                client, limits.LimitPolicy(starts_per_minute=10), clock=clock, metrics=m)
            burst = await asyncio.gather(*(limit.acquire("media", f"a-{n}") for n in range(30)))
            await clock.advance(20)
            later = await limit.acquire("media", "late")
            await clock.advance(40)  # the first burst leaves the window
            after_window = await asyncio.gather(*(limit.acquire("media", f"b-{n}") for n in range(12)))
        finally:
            await client.aclose()
        return burst, later, after_window

    burst, later, after_window = asyncio.run(scenario())
    assert sum(d.allowed for d in burst) == 10
    assert {d.reason for d in burst if not d.allowed} == {limits.REASON_START_RATE}
    assert not later.allowed and later.retry_after == 40.0
    assert sum(d.allowed for d in after_window) == 10
    assert m.registry.get_sample_value(
        "transcoder_rate_limited_waits_total", {"reason": limits.REASON_START_RATE}) == 20 + 1 + 2


def test_asking_again_for_a_counted_job_never_counts_it_twice(redis_url):
    """A restarted operator resumes its jobs and asks again: same UID, same slot."""
    clock = clocks.ManualClock()

    async def scenario():
        client = redisconn.make_client(redis_url)
        try:
            first = limiter(client, clock, starts_per_minute=2, max_running=2)
            assert (await first.acquire("media", "uid-1")).allowed
            restarted = limiter(client, clock, starts_per_minute=2, max_running=2)
            again = await restarted.acquire("media", "uid-1")
            assert (await restarted.acquire("media", "uid-2")).allowed
            # A retry of uid-1 after its Pod failed: released, then started again.
            await restarted.release("media", "uid-1")
            await restarted.release("media", "uid-1")  # idempotent
            retry = await restarted.acquire("media", "uid-1")
            third = await restarted.acquire("media", "uid-3")
            running = await restarted.running("media")
            await restarted.release("media", "uid-1", "uid-2")  # both at once
            after_release = await restarted.running("media")
        finally:
            await client.aclose()
        return again, retry, third, running, after_release

    again, retry, third, running, after_release = asyncio.run(scenario())
    assert again.allowed and again.reason == limits.REASON_ALREADY_COUNTED
    assert retry.allowed  # not a new start within the minute
    assert not third.allowed
    assert sorted(running) == ["uid-1", "uid-2"]
    assert after_release == []
