"""The job loop against an in-memory API: writes, adoption, gates, throttling, finalizer."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from tests.unit.operator import fakes
from tests.unit.operator import helpers as h
from transcode_operator import errors, jobloop, podstate
from transcode_operator import events as events_module


def _source(*views: podstate.PodView) -> jobloop.PodSource:
    return lambda ns, name: list(views)


def _step(ctx: Any, api: fakes.FakeApi, state: jobloop.LoopState,
          source: jobloop.PodSource | None = None,
          live: dict[str, Any] | None = None) -> float | None:
    live = live if live is not None else api.jobs[(h.JOB.namespace, h.JOB.name)]
    return asyncio.run(jobloop.step(ctx, live, source or _source(), state))


def _events(ctx: Any) -> list[str]:
    poster = ctx.poster
    assert isinstance(poster, events_module.RecordingPoster)
    return [e.reason for _, e in poster.posted]


def test_first_step_creates_one_pod_and_one_status_patch() -> None:
    api = fakes.FakeApi()
    stale = copy.deepcopy(api.add_job(fakes.job_body()))
    ctx = fakes.context_for(api)
    state = jobloop.LoopState()
    _step(ctx, api, state, live=stale)
    assert api.writes == [("create_pod", "trailer-1"), ("patch_job_status", "trailer")]
    status = api.jobs[("media", "trailer")]["status"]
    assert (status["phase"], status["attempts"], status["podName"]) == ("Scheduling", 1,
                                                                        "trailer-1")
    assert _events(ctx) == ["Created"]
    # the watch has not caught up (stale live body, empty index): nothing is done twice
    _step(ctx, api, state, live=stale)
    assert len(api.writes) == 2 and _events(ctx) == ["Created"]


def test_existing_pod_of_ours_is_adopted_not_duplicated() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    api.set_pod("trailer-1", h.pod(attempt=1, phase="Running"))
    ctx = fakes.context_for(api)
    state = jobloop.LoopState()
    # a crash right after the create: status says nothing, the index is empty, so
    # attempt 1 is planned again; the create answers 409 and the Pod is adopted.
    _step(ctx, api, state)
    assert [w for w in api.writes if w[0] == "create_pod"] == [("create_pod", "trailer-1")]
    assert len(api.pods) == 1
    assert "trailer-1" in state.pods


def test_pod_of_another_job_with_our_name_makes_us_wait() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    api.set_pod("trailer-1", h.pod(attempt=1, owner_uid="older-incarnation"))
    ctx = fakes.context_for(api)
    with pytest.raises(errors.Wait):
        _step(ctx, api, jobloop.LoopState())


def test_rejected_pod_fails_the_job_with_the_api_servers_words() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    api.fail_create = errors.Forbidden(403, "Forbidden", 'pod rejected: RuntimeClass "nvidia" '
                                                         "not found")
    ctx = fakes.context_for(api)
    _step(ctx, api, jobloop.LoopState())
    status = api.jobs[("media", "trailer")]["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "PodRejected")
    assert 'RuntimeClass "nvidia" not found' in status["message"]


def test_transient_api_errors_propagate_for_a_retry() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    api.fail_create = errors.ApiError(503, "ServiceUnavailable")
    with pytest.raises(errors.ApiError):
        _step(fakes.context_for(api), api, jobloop.LoopState())
    assert "status" not in api.jobs[("media", "trailer")]


def test_phase_and_progress_writes_are_throttled() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    clock = fakes.Clock()
    ctx = fakes.context_for(api, clock=clock)
    state = jobloop.LoopState()
    _step(ctx, api, state)  # creates the Pod, writes Scheduling
    running = h.view(phase="Running", rv="500")
    assert _step(ctx, api, state, _source(running)) == 5.0  # too soon after the last write
    assert len(api.writes) == 2
    clock.value += 5
    _step(ctx, api, state, _source(running))
    assert api.jobs[("media", "trailer")]["status"]["phase"] == "Running"
    assert len(api.writes) == 3


def test_terminal_writes_are_not_throttled() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    ctx = fakes.context_for(api)
    state = jobloop.LoopState()
    _step(ctx, api, state)
    done = h.view(phase="Succeeded", exit_code=0, message=h.result(0), rv="900")
    _step(ctx, api, state, _source(done))
    assert api.jobs[("media", "trailer")]["status"]["phase"] == "Succeeded"
    assert _events(ctx) == ["Created", "Succeeded"]


def test_missing_secret_fails_before_any_pod() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body(storage={"credentialsSecretRef": {"name": "s3"}}))
    ctx = fakes.context_for(api)
    _step(ctx, api, jobloop.LoopState())
    assert api.pods == {}
    assert api.jobs[("media", "trailer")]["status"]["reason"] == "SecretNotFound"
    assert _events(ctx) == ["ConfigError"]


def test_rate_limited_start_waits_and_locked_output_frees_the_slot() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    limiter = fakes.FakeLimiter(allow=False)
    ctx = fakes.context_for(api, limiter=limiter)
    assert _step(ctx, api, jobloop.LoopState()) == 12.0
    assert api.pods == {}
    assert api.jobs[("media", "trailer")]["status"]["reason"] == "RateLimited"

    api2 = fakes.FakeApi()
    api2.add_job(fakes.job_body())
    limiter2 = fakes.FakeLimiter()
    held = fakes.FakeLocks(held_by={"s3://media-out/trailer/720p.mp4": fakes.locks.LockOwner(
        "other", "media/other")})
    ctx2 = fakes.context_for(api2, limiter=limiter2, locks=held)
    assert _step(ctx2, api2, jobloop.LoopState()) == 15.0
    status = api2.jobs[("media", "trailer")]["status"]
    assert status["reason"] == "OutputLocked" and "media/other" in status["message"]
    assert limiter2.released == [h.JOB.uid]


def test_finished_job_releases_its_slot_and_locks() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    limiter, held = fakes.FakeLimiter(), fakes.FakeLocks()
    ctx = fakes.context_for(api, limiter=limiter, locks=held)
    state = jobloop.LoopState()
    _step(ctx, api, state)
    assert held.acquired == [h.JOB.uid]
    done = h.view(phase="Failed", exit_code=65, message=h.result(65), rv="900")
    _step(ctx, api, state, _source(done))
    assert limiter.released == [h.JOB.uid] and held.released == [h.JOB.uid]


def test_unknown_spec_fields_are_ignored_and_bad_specs_named() -> None:
    spec, err = jobloop.read_spec({**fakes.job_body()["spec"], "futureField": 1,
                                   "acceleration": {"mode": "cpu", "newKnob": True}})
    assert spec is not None and err is None and spec.acceleration.mode == "cpu"
    spec, err = jobloop.read_spec({"source": "ftp://x", "outputs": []})
    assert spec is None and err is not None and "spec.outputs" in err


def test_freshest_prefers_our_newer_write() -> None:
    live = {"metadata": {"resourceVersion": "10"}, "spec": {"x": 1}, "status": {"phase": "A"}}
    mine = ("12", {"phase": "B"})
    assert jobloop.freshest(live, mine) == {**live, "status": {"phase": "B"}}
    newer = {"metadata": {"resourceVersion": "13"}, "status": {"phase": "C"}}
    assert jobloop.freshest(newer, mine) is newer
    assert jobloop.freshest(live, None) is live


def test_finalizer_stops_running_pods_then_releases() -> None:
    api = fakes.FakeApi()
    body = api.add_job(fakes.job_body())
    api.set_pod("trailer-1", h.pod(attempt=1, phase="Running"))
    limiter = fakes.FakeLimiter()
    ctx = fakes.context_for(api, limiter=limiter)
    with pytest.raises(errors.Wait):
        asyncio.run(jobloop.finalize(ctx, body, _source()))
    assert ("delete_pod", "trailer-1") in api.writes and limiter.released == []
    asyncio.run(jobloop.finalize(ctx, body, _source()))  # the Pod is gone now
    assert limiter.released == [h.JOB.uid]


def test_loop_wakes_on_events_and_stops_when_told() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    ctx = fakes.context_for(api)

    class Stop:
        def __init__(self) -> None:
            self.event = asyncio.Event()

        def __bool__(self) -> bool:
            return self.event.is_set()


    async def scenario() -> None:
        stop = Stop()
        live = api.jobs[("media", "trailer")]
        task = asyncio.create_task(jobloop.run(ctx, live, _source(), stop))
        for _ in range(50):
            await asyncio.sleep(0.01)
            if api.pods:
                break
        assert ctx.wakers.wake(("media", "trailer"))
        await asyncio.sleep(0.05)
        stop.event.set()
        ctx.wakers.wake(("media", "trailer"))  # kopf's stop comes with a job event
        await asyncio.wait_for(task, 2)
        assert not ctx.wakers.wake(("media", "trailer"))

    asyncio.run(scenario())
    assert [w for w in api.writes if w[0] == "create_pod"] == [("create_pod", "trailer-1")]
