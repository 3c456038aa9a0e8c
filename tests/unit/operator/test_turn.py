"""One queue turn (observe, plan, act) against an in-memory API: writes, gates, finalizer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.unit.operator import fakes
from tests.unit.operator import helpers as h
from transcode_operator.control import deps as deps_module
from transcode_operator.control import reconciler
from transcode_operator.domain import errors, observation

KEY = (h.JOB.namespace, h.JOB.name)


def _turn(d: deps_module.Deps, api: fakes.FakeApi, watch: bool = True) -> float | None:
    if watch:
        fakes.watch(d, api)
    return asyncio.run(reconciler.turn(d, KEY))


def _events(d: deps_module.Deps) -> list[str]:
    poster = d.poster
    assert isinstance(poster, fakes.RecordingPoster)
    return [e.reason for _, e in poster.posted]


def _status(api: fakes.FakeApi) -> dict[str, Any]:
    return dict(api.jobs[KEY].get("status") or {})


def test_a_new_job_gets_the_finalizer_and_one_pod_in_one_turn() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body(finalizers=[]))
    d = fakes.deps_for(api, h.WRITE_NOW)
    _turn(d, api)  # a Pod may start: the observation carries the gates' answer
    assert api.writes == [("patch_job", "trailer"), ("create_pod", "trailer-1"),
                          ("patch_job_status", "trailer")]
    assert api.jobs[KEY]["metadata"]["finalizers"] == ["kubetranscoder.io/finalizer"]
    status = _status(api)
    assert (status["phase"], status["attempts"], status["podName"]) == ("Scheduling", 1,
                                                                        "trailer-1")
    assert _events(d) == ["Created"]
    # the watch shows nothing newer yet (the informer holds our writes' answers):
    # the next turn repeats nothing
    _turn(d, api, watch=False)
    assert len(api.writes) == 3 and _events(d) == ["Created"]


def test_a_job_whose_pod_runs_soon_costs_one_status_write_until_it_ends() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())  # the finalizer is there already (admission policy)
    d = fakes.deps_for(api, h.HOLD)
    assert _turn(d, api) == h.HOLD.status.first_write_delay_seconds  # its status waits
    assert api.writes == [("create_pod", "trailer-1")] and "status" not in api.jobs[KEY]
    assert _events(d) == []  # Created waits for the write it comes with
    _turn(d, api)  # the Pod's own watch event: Pending, young, nothing written
    assert api.writes == [("create_pod", "trailer-1")]
    api.set_pod("trailer-1", h.pod(attempt=1, phase="Running", created=h.NOW, rv="500"))
    _turn(d, api)
    status = _status(api)
    assert (status["phase"], status["attempts"], status["podName"]) == ("Running", 1,
                                                                        "trailer-1")
    assert _events(d) == ["Created"]
    api.set_pod("trailer-1", h.pod(attempt=1, phase="Succeeded", exit_code=0, created=h.NOW,
                                   message=h.result(0), rv="900"))
    _turn(d, api)
    assert _status(api)["phase"] == "Succeeded"
    assert api.writes == [("create_pod", "trailer-1"), ("patch_job_status", "trailer"),
                          ("patch_job_status", "trailer")]
    assert _events(d) == ["Created", "Succeeded"]


def test_in_a_burst_a_new_job_gets_its_pod_first_and_its_status_when_the_pod_runs() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    d = fakes.deps_for(api)
    d.backlog = lambda: 250  # other jobs' turns are waiting
    assert _turn(d, api) == h.CFG.status.first_write_backlog_seconds  # looks again then
    assert api.writes == [("create_pod", "trailer-1")] and _events(d) == []
    d.backlog = lambda: 0  # the queue drains: the Pod is still starting, nothing written
    assert _turn(d, api) is not None
    assert api.writes == [("create_pod", "trailer-1")] and _events(d) == []
    api.set_pod("trailer-1", h.pod(attempt=1, phase="Running", created=h.NOW, rv="500"))
    _turn(d, api)
    assert api.writes == [("create_pod", "trailer-1"), ("patch_job_status", "trailer")]
    assert _status(api)["phase"] == "Running" and _events(d) == ["Created"]


def test_a_new_job_created_while_another_jobs_pod_starts_waits_for_its_own() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    first = fakes.job_body()
    first["metadata"] = {**first["metadata"], "name": "teaser", "uid": "uid-teaser"}
    api.add_job(first)
    clock = fakes.Clock()
    d = fakes.deps_for(api, clock=clock)
    teaser = (h.JOB.namespace, "teaser")
    fakes.watch(d, api)
    # the burst's first job: an idle queue and no other Pod starting: recorded at once
    assert asyncio.run(reconciler.turn(d, teaser)) is None
    assert api.jobs[teaser]["status"]["phase"] == "Scheduling"
    # the next job's creation turn, the queue still idle: the teaser's Pod starts, so
    # its first write waits for its own Pod (or the cap)
    assert _turn(d, api) == h.CFG.status.first_write_backlog_seconds
    assert api.writes[-1] == ("create_pod", "trailer-1") and "status" not in api.jobs[KEY]
    assert d.memory.starting == {teaser, KEY}
    # the teaser's Pod runs: it no longer counts as a burst for the jobs after it
    running = api.pods[(h.JOB.namespace, "teaser-1")]
    running["status"] = {"phase": "Running", "conditions": [
        {"type": "PodScheduled", "status": "True"}], "containerStatuses": [
        {"name": "runner", "state": {"running": {"startedAt": h.stamp(h.NOW)}}}]}
    api.set_pod("teaser-1", running)
    clock.value += h.CFG.status.progress_interval_seconds  # (a phase-only write's throttle)
    fakes.watch(d, api)
    asyncio.run(reconciler.turn(d, teaser))
    assert api.jobs[teaser]["status"]["phase"] == "Running" and d.memory.starting == {KEY}


def test_existing_pod_of_ours_is_adopted_not_duplicated() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    d = fakes.deps_for(api)
    d.memory.wants_gates.add(KEY)
    fakes.watch(d, api)
    api.set_pod("trailer-1", h.pod(attempt=1, phase="Running"))  # the watch has not shown it
    # the status says nothing and the Pod is unseen, so attempt 1 is planned again;
    # the GET that confirms a current attempt's Pod finds nothing to confirm (attempts=0),
    # the create answers 409 and the Pod is adopted.
    asyncio.run(reconciler.turn(d, KEY))
    assert [w for w in api.writes if w[0] == "create_pod"] == [("create_pod", "trailer-1")]
    assert len(api.pods) == 1 and d.informer.pods_of(KEY, h.JOB.uid)[0].name == "trailer-1"


def test_pod_of_another_job_with_our_name_makes_us_wait() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    d = fakes.deps_for(api)
    d.memory.wants_gates.add(KEY)
    fakes.watch(d, api)
    api.set_pod("trailer-1", h.pod(attempt=1, owner_uid="older-incarnation"))
    with pytest.raises(errors.Wait):
        asyncio.run(reconciler.turn(d, KEY))


def test_rejected_pod_fails_the_job_on_the_next_turn_with_the_api_servers_words() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    api.fail_create = errors.Forbidden(403, "Forbidden", 'pod rejected: RuntimeClass "nvidia" '
                                                         "not found")
    d = fakes.deps_for(api)
    d.memory.wants_gates.add(KEY)
    assert _turn(d, api) == 0.0  # refused: nothing else of that plan is done
    assert "status" not in api.jobs[KEY]
    _turn(d, api)
    status = _status(api)
    assert (status["phase"], status["reason"]) == ("Failed", "PodRejected")
    assert 'RuntimeClass "nvidia" not found' in status["message"]


def test_transient_api_errors_propagate_for_a_backoff() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    api.fail_create = errors.ApiError(503, "ServiceUnavailable")
    d = fakes.deps_for(api)
    d.memory.wants_gates.add(KEY)
    with pytest.raises(errors.ApiError):
        _turn(d, api)
    assert "status" not in api.jobs[KEY]


def test_phase_and_progress_writes_are_throttled() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    clock = fakes.Clock()
    d = fakes.deps_for(api, h.WRITE_NOW, clock=clock)
    d.memory.wants_gates.add(KEY)
    _turn(d, api)  # creates the Pod, writes Scheduling
    api.set_pod("trailer-1", h.pod(attempt=1, phase="Running", rv="500"))
    assert _turn(d, api) == 5.0  # too soon after the last write: a timer, no write
    assert len(api.writes) == 2
    clock.value += 5
    _turn(d, api)
    assert _status(api)["phase"] == "Running" and len(api.writes) == 3


def test_relayed_progress_is_written_by_the_worker_and_terminal_writes_are_not_throttled(
) -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    clock = fakes.Clock()
    d = fakes.deps_for(api, clock=clock, relay=fakes.FakeRelay())
    d.memory.wants_gates.add(KEY)
    _turn(d, api)
    api.set_pod("trailer-1", h.pod(attempt=1, phase="Running", rv="500"))
    asyncio.run(d.relayed(*KEY, {"percent": 42.0, "fps": 60.0, "speed": 2.0}))
    clock.value += 5
    _turn(d, api)
    assert _status(api)["progress"]["percent"] == 42.0
    api.set_pod("trailer-1", h.pod(attempt=1, phase="Succeeded", exit_code=0,
                                   message=h.result(0), rv="900"))
    _turn(d, api)  # at once after the Running write
    assert _status(api)["phase"] == "Succeeded" and _status(api)["progress"]["percent"] == 100
    assert _events(d) == ["Created", "Succeeded"]


@pytest.mark.parametrize("labels", [None, {}, {"kubetranscoder.io/credentials": "false"}])
def test_a_missing_or_unlabelled_secret_fails_before_any_pod(
        labels: dict[str, str] | None) -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body(storage={"credentialsSecretRef": {"name": "s3"}}))
    if labels is not None:
        api.secrets[("media", "s3")] = {"metadata": {"name": "s3", "labels": labels}, "data": {
            "AWS_ACCESS_KEY_ID": "QUtJQQ==", "AWS_SECRET_ACCESS_KEY": "czNjcjN0"}}
    d = fakes.deps_for(api)
    _turn(d, api)
    assert api.pods == {}
    assert _status(api)["reason"] == "CredentialsNotAllowed"
    assert _status(api)["message"].startswith('Secret "s3" cannot be used as S3 credentials')
    assert _events(d) == ["ConfigError"]


def test_a_labelled_secret_lets_the_pod_start() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body(storage={"credentialsSecretRef": {"name": "s3"}}))
    api.secrets[("media", "s3")] = {
        "metadata": {"name": "s3", "labels": {"kubetranscoder.io/credentials": "true"}},
        "data": {"AWS_ACCESS_KEY_ID": "QUtJQQ==", "AWS_SECRET_ACCESS_KEY": "czNjcjN0"}}
    d = fakes.deps_for(api)
    _turn(d, api)
    assert list(api.pods) == [("media", "trailer-1")]


def test_rate_limited_start_waits_and_locked_output_frees_the_slot() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    d = fakes.deps_for(api, limiter=fakes.FakeLimiter(allow=False))
    assert _turn(d, api) == 12.0
    assert api.pods == {} and _status(api)["reason"] == "RateLimited"

    api2 = fakes.FakeApi()
    api2.add_job(fakes.job_body())
    limiter2 = fakes.FakeLimiter()
    held = fakes.FakeLocks(held_by={"s3://media-out/trailer/720p.mp4": fakes.locks.LockOwner(
        "other", "media/other")})
    d2 = fakes.deps_for(api2, limiter=limiter2, locks=held)
    assert _turn(d2, api2) == 15.0
    status = _status(api2)
    assert status["reason"] == "OutputLocked" and "media/other" in status["message"]
    assert limiter2.released == [h.JOB.uid]


def _other_pod(job: str, phase: str, **kw: Any) -> dict[str, Any]:
    raw = h.pod(attempt=1, phase=phase, owner_uid=f"uid-{job}", **kw)
    raw["metadata"]["name"] = f"{job}-1"
    raw["metadata"]["uid"] = f"pod-of-{job}"
    raw["metadata"]["labels"].update({"kubetranscoder.io/job": job,
                                      "kubetranscoder.io/job-uid": f"uid-{job}"})
    return raw


def test_a_lost_running_set_is_refilled_from_the_live_runner_pods_listed_from_the_api() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    api.set_pod("running-1", _other_pod("running", "Running"))
    api.set_pod("starting-1", _other_pod("starting", "Pending"))
    api.set_pod("done-1", _other_pod("done", "Succeeded", exit_code=0, message=h.result(0)))
    api.set_pod("leaving-1", _other_pod("leaving", "Running", deleting=True))
    limiter = fakes.FakeLimiter(lost_running_set=2)
    d = fakes.deps_for(api, limiter=limiter)
    d.informer.saw_job(api.jobs[KEY])  # the Pod watch has not caught up: the API list has them
    assert _turn(d, api, watch=False) == 10.0
    assert limiter.live == {"uid-running", "uid-starting"}
    assert _status(api)["reason"] == "RateLimited" and "ConcurrencyCapReached" in \
        _status(api)["message"]
    assert ("media", "trailer-1") not in api.pods


def test_slots_still_counted_for_jobs_that_ended_or_are_gone_are_freed_at_the_cap() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    done = fakes.job_body()
    done["metadata"].update(name="done", uid="uid-done")
    done["status"] = {"phase": "Succeeded"}
    limiter = fakes.FakeLimiter(cap=3, counted=["uid-done", "uid-gone", "uid-leaving",
                                                "uid-running"])
    d = fakes.deps_for(api, limiter=limiter)
    d.informer.saw_job(done)  # its release was lost; uid-gone's job was deleted meanwhile
    api.set_pod("leaving-1", _other_pod("leaving", "Running"))  # gone, its Pod still runs
    api.set_pod("running-1", _other_pod("running", "Running"))
    _turn(d, api)
    assert limiter.released == ["uid-done", "uid-gone"]
    assert ("media", "trailer-1") in api.pods  # the freed slot is the job's now
    assert limiter.counted == ["uid-leaving", "uid-running", h.JOB.uid]


def test_finished_job_releases_its_slot_and_locks() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    limiter, held = fakes.FakeLimiter(), fakes.FakeLocks()
    d = fakes.deps_for(api, limiter=limiter, locks=held)
    d.memory.wants_gates.add(KEY)
    _turn(d, api)
    assert held.acquired == [h.JOB.uid]
    api.set_pod("trailer-1", h.pod(attempt=1, phase="Failed", exit_code=65,
                                   message=h.result(65), rv="900"))
    _turn(d, api)
    assert limiter.released == [h.JOB.uid] and held.released == [h.JOB.uid]


def test_unknown_spec_fields_are_ignored_and_bad_specs_named() -> None:
    spec, err, ignored = observation.read_spec_fields(
        {**fakes.job_body()["spec"], "futureField": 1,
         "acceleration": {"mode": "cpu", "newKnob": True}})
    assert spec is not None and err is None and spec.acceleration.mode == "cpu"
    assert set(ignored) == {"spec.futureField", "spec.acceleration.newKnob"}
    spec, err, _ = observation.read_spec_fields({"source": "ftp://x", "outputs": []})
    assert spec is None and err is not None and "spec.outputs" in err


def test_finalizer_stops_running_pods_then_releases_and_lets_the_job_go() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    api.jobs[KEY]["metadata"]["deletionTimestamp"] = h.stamp(h.NOW)
    api.set_pod("trailer-1", h.pod(attempt=1, phase="Running"))
    limiter = fakes.FakeLimiter()
    d = fakes.deps_for(api, limiter=limiter)
    d.informer.saw_job(api.jobs[KEY])  # the Pod is not in the informer: it is listed
    assert _turn(d, api, watch=False) == 2.0
    assert ("delete_pod", "trailer-1") in api.writes and limiter.released == []
    assert api.jobs[KEY]["metadata"]["finalizers"] == ["kubetranscoder.io/finalizer"]
    d.informer.pod_gone(h.pod(attempt=1))
    _turn(d, api, watch=False)  # the Pod is gone now
    assert limiter.released == [h.JOB.uid]
    assert api.jobs[KEY]["metadata"].get("finalizers") is None


def test_no_rbac_to_read_the_secret_refuses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body(storage={"credentialsSecretRef": {"name": "s3"}}))

    async def forbidden(namespace: str, name: str) -> None:
        raise errors.Forbidden(403, "Forbidden")
    monkeypatch.setattr(api, "get_secret", forbidden)
    d = fakes.deps_for(api)
    _turn(d, api)
    assert api.pods == {} and _status(api)["reason"] == "CredentialsNotAllowed"
