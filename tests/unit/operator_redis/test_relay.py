"""The progress relay's throttle on a manual clock: one patch per 5 s per job, the
last value always delivered, nothing for jobs the operator is not running."""

from __future__ import annotations

import asyncio

from tests.unit.operator_redis.conftest import POD_UID as POD
from transcode_api import contract
from transcode_operator.adapters import redis_relay


def make_relay(fake_redis, recorder, clock, metric_set=None, **kwargs):
    return redis_relay.ProgressRelay(
        fake_redis, recorder, clock=clock, metrics=metric_set, interval=5.0, **kwargs
    )


def test_first_update_is_patched_at_once_and_the_rest_wait_for_the_interval(
    fake_redis, recorder, clock
):
    async def scenario():
        relay = make_relay(fake_redis, recorder, clock)
        relay.track("media", "trailer", POD)
        assert await relay.offer("media", "trailer", {"percent": 1.0})
        for second in range(1, 5):
            await clock.advance(1)
            assert not await relay.offer("media", "trailer", {"percent": 1.0 + second})
            assert await relay.tick() == 0
        await clock.advance(1)  # t = 5 s: the held value (5 %) goes out
        assert await relay.tick() == 1
        assert await relay.tick() == 0

    asyncio.run(scenario())
    assert recorder.values == [1.0, 5.0]
    assert [call[0] - 1_000.0 for call in recorder.calls] == [0.0, 5.0]


def test_one_second_updates_for_a_minute_make_about_twelve_patches_ending_with_the_last(
    fake_redis, recorder, clock
):
    async def scenario():
        relay = make_relay(fake_redis, recorder, clock)
        relay.track("media", "movie", POD)
        for second in range(61):
            await relay.offer("media", "movie", {"percent": second * 100 / 60, "fps": 30.0})
            await relay.tick()
            await clock.advance(1)
        await clock.advance(5)
        await relay.tick()

    asyncio.run(scenario())
    times = [call[0] for call in recorder.calls]
    assert all(later - earlier >= 5.0 for earlier, later in zip(times, times[1:], strict=False))
    assert 12 <= len(recorder.calls) <= 14
    assert recorder.values[-1] == 100.0


def test_each_job_has_its_own_interval(fake_redis, recorder, clock):
    async def scenario():
        relay = make_relay(fake_redis, recorder, clock)
        relay.track("a", "one", POD)
        relay.track("b", "two", POD)
        assert await relay.offer("a", "one", {"percent": 10.0})
        assert await relay.offer("b", "two", {"percent": 20.0})

    asyncio.run(scenario())
    assert [(call[1], call[2]) for call in recorder.calls] == [("a", "one"), ("b", "two")]


def test_flush_reads_the_key_and_sends_the_final_value_without_waiting(
    fake_redis, recorder, clock
):
    async def scenario():
        relay = make_relay(fake_redis, recorder, clock)
        relay.track("media", "trailer", POD)
        await relay.offer("media", "trailer", {"percent": 40.0})
        # The runner's last write arrives only in Redis (its message was missed).
        fake_redis.write_progress("media", "trailer", percent=100.0, fps=60.0, speed=2.5,
                                  updatedAt="2025-01-17T10:00:00Z")
        await clock.advance(1)
        assert await relay.flush("media", "trailer")
        relay.forget("media", "trailer")
        assert not await relay.offer("media", "trailer", {"percent": 5.0})  # ignored now

    asyncio.run(scenario())
    assert recorder.calls[-1][3] == {"percent": 100.0, "fps": 60.0, "speed": 2.5}
    assert recorder.calls[-1][0] - recorder.calls[0][0] == 1.0


def test_updates_of_untracked_or_forgotten_jobs_never_patch(
    fake_redis, recorder, clock, metric_set, sample
):
    async def scenario():
        relay = make_relay(fake_redis, recorder, clock, metric_set)
        assert not await relay.offer("media", "unknown", {"percent": 5.0})
        relay.track("media", "done", POD)
        await relay.offer("media", "done", {"percent": 50.0})
        await relay.offer("media", "done", {"percent": 60.0})  # held
        relay.forget("media", "done")
        await clock.advance(10)
        assert await relay.tick() == 0
        fake_redis.write_progress("media", "done", percent=99.0)
        assert not await relay.handle_message(contract.progress_key("media", "done", POD))

    asyncio.run(scenario())
    assert recorder.values == [50.0]
    assert sample(metric_set, "transcoder_progress_updates_total", outcome="ignored") == 2


def test_a_pubsub_message_names_the_key_and_the_relay_reads_it(fake_redis, recorder, clock):
    async def scenario():
        relay = make_relay(fake_redis, recorder, clock)
        relay.track("media", "trailer", POD)
        fake_redis.write_progress("media", "trailer", percent=12.5, fps=24.0, speed=1.1)
        assert await relay.handle_message(f"kt:progress:media:trailer:{POD}".encode())
        assert not await relay.handle_message("not-a-progress-key")

    asyncio.run(scenario())
    assert recorder.calls[0][1:] == ("media", "trailer", {"percent": 12.5, "fps": 24.0, "speed": 1.1})


def test_a_failed_patch_keeps_the_value_for_the_next_round(
    fake_redis, recorder, clock, metric_set, sample
):
    recorder.fail_times = 1

    async def scenario():
        relay = make_relay(fake_redis, recorder, clock, metric_set)
        relay.track("media", "trailer", POD)
        assert not await relay.offer("media", "trailer", {"percent": 70.0})
        await clock.advance(5)
        assert await relay.tick() == 1

    asyncio.run(scenario())
    assert recorder.values == [70.0]
    assert sample(metric_set, "transcoder_progress_updates_total", outcome="failed") == 1
    assert sample(metric_set, "transcoder_progress_updates_total", outcome="patched") == 1


def test_identical_updates_are_not_patched_twice(fake_redis, recorder, clock):
    async def scenario():
        relay = make_relay(fake_redis, recorder, clock)
        relay.track("media", "trailer", POD)
        await relay.offer("media", "trailer", {"percent": 30.0})
        await clock.advance(6)
        await relay.offer("media", "trailer", {"percent": 30.0})
        assert await relay.tick() == 0

    asyncio.run(scenario())
    assert recorder.values == [30.0]


def test_parse_progress_keeps_numbers_and_needs_a_percent():
    assert redis_relay.parse_progress('{"percent": 5, "fps": null, "speed": 1.5}') == {
        "percent": 5, "speed": 1.5}
    assert redis_relay.parse_progress('{"fps": 30}') is None
    assert redis_relay.parse_progress("not json") is None
    assert redis_relay.parse_progress(None) is None


def test_a_key_of_another_pod_uid_is_rejected_counted_and_never_read(
    fake_redis, recorder, clock, metric_set, sample
):
    forged = "9f9f9f9f-0000-4000-8000-00000000dead"

    async def scenario():
        relay = make_relay(fake_redis, recorder, clock, metric_set)
        relay.track("media", "trailer", POD)
        fake_redis.write_progress("media", "trailer", pod_uid=forged, percent=99.0)
        assert not await relay.handle_message(contract.progress_key("media", "trailer", forged))
        fake_redis.write_progress("media", "trailer", percent=20.0)
        assert await relay.handle_message(contract.progress_key("media", "trailer", POD))
        fake_redis.write_progress("media", "trailer", pod_uid=forged, percent=98.0)
        await clock.advance(10)
        assert not await relay.flush("media", "trailer")  # reads the tracked Pod's key only

    asyncio.run(scenario())
    assert recorder.values == [20.0]
    assert sample(metric_set, "transcoder_progress_updates_total", outcome="rejected") == 1


def test_tracking_the_next_attempt_rejects_the_previous_pod_and_drops_its_pending_value(
    fake_redis, recorder, clock, metric_set, sample
):
    second = "0b1c2d3e-0000-4000-8000-000000000002"

    async def scenario():
        relay = make_relay(fake_redis, recorder, clock, metric_set)
        relay.track("media", "trailer", POD)
        assert await relay.offer("media", "trailer", {"percent": 50.0})
        assert not await relay.offer("media", "trailer", {"percent": 60.0})  # held
        relay.track("media", "trailer", second)  # attempt 2's Pod runs now
        await clock.advance(10)
        assert await relay.tick() == 0  # attempt 1's 60 % is gone
        fake_redis.write_progress("media", "trailer", percent=70.0)  # the old Pod writes on
        assert not await relay.handle_message(contract.progress_key("media", "trailer", POD))
        fake_redis.write_progress("media", "trailer", pod_uid=second, percent=5.0)
        assert await relay.handle_message(contract.progress_key("media", "trailer", second))

    asyncio.run(scenario())
    assert recorder.values == [50.0, 5.0]
    assert sample(metric_set, "transcoder_progress_updates_total", outcome="rejected") == 1


def test_catch_up_reads_each_tracked_jobs_own_pod_key(fake_redis, recorder, clock):
    async def scenario():
        relay = make_relay(fake_redis, recorder, clock)
        relay.track("media", "trailer", POD)
        fake_redis.write_progress("media", "trailer", pod_uid="someone-else", percent=99.0)
        assert await relay.catch_up() == 0
        fake_redis.write_progress("media", "trailer", percent=33.0)
        assert await relay.catch_up() == 1

    asyncio.run(scenario())
    assert recorder.values == [33.0]
