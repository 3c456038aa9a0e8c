"""One `Created` Event per attempt, even when the operator dies in the middle of a start.

The chaos e2e run found an attempt without its `Created` Event: the operator was
SIGKILLed after creating the Pod and before kopf's queue posted the Event, and the
restarted operator only repaired `status.attempts`. Now the Event is keyed by attempt
and posted by name before the status write; a turn that finds an attempt's Pod which
the status does not count posts it again (`plan.announce`), and a second post of the
same name is refused by the API server (409), which counts as posted.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

from tests.unit.operator import fakes
from tests.unit.operator import helpers as h
from transcode_operator.adapters import poster as poster_module
from transcode_operator.control import deps as deps_module
from transcode_operator.control import reconciler
from transcode_operator.domain import errors, events, reconcile

KEY = (h.JOB.namespace, h.JOB.name)


def test_the_start_plan_and_the_repair_carry_the_same_keyed_created_event() -> None:
    start = reconcile.plan(h.observed(), h.CFG)
    (created,) = start.events
    assert (created.reason, created.key) == ("Created", "created-1")
    # the Pod exists, the status never counted it (killed between the create and the write)
    repair = reconcile.plan(h.observed(h.view(gpu=True)), h.CFG)
    assert repair.create is None and repair.announce == created
    assert repair.status is not None and repair.status.attempts == 1
    # counted: the Event was posted before that write, nothing to repair
    counted = reconcile.plan(h.observed(h.view(gpu=True), status=h.running_status()), h.CFG)
    assert counted.announce is None


def _turn(d: deps_module.Deps, api: fakes.FakeApi) -> None:
    fakes.watch(d, api)
    asyncio.run(reconciler.turn(d, KEY))


def _created(poster: fakes.RecordingPoster) -> list[str]:
    return [e.message for _, e in poster.posted if e.reason == "Created"]


def test_a_restart_after_the_pod_was_created_posts_the_lost_created_event_once() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    api.set_pod("trailer-1", h.pod(attempt=1, gpu=True, phase="Running"))  # no status yet
    d = fakes.deps_for(api)
    poster = d.poster
    assert isinstance(poster, fakes.RecordingPoster)
    _turn(d, api)
    assert _created(poster) == ["created runner Pod trailer-1 (attempt 1, GPU)"]
    assert api.jobs[KEY]["status"]["attempts"] == 1
    _turn(d, api)  # counted now: nothing more
    assert len(_created(poster)) == 1 and poster.once_calls == 1


def test_a_restart_after_the_event_was_posted_adds_no_second_one() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body(finalizers=[]))
    first = fakes.deps_for(api)
    _turn(first, api)  # creates trailer-1, posts Created, writes the status
    poster = first.poster
    assert isinstance(poster, fakes.RecordingPoster)
    assert [w[0] for w in api.writes].count("create_pod") == 1
    api.jobs[KEY]["status"].pop("attempts")  # as if killed before that write
    restarted = fakes.deps_for(api)
    restarted.poster = poster  # the same API server's Events
    _turn(restarted, api)
    assert poster.once_calls == 2  # posted again by name ...
    assert len(_created(poster)) == 1  # ... and refused as a duplicate
    assert [w[0] for w in api.writes].count("create_pod") == 1


class _EventApi:
    def __init__(self, error: errors.ApiError | None = None) -> None:
        self.error, self.bodies = error, []  # type: tuple[errors.ApiError | None, list[Any]]

    async def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        self.bodies.append((namespace, body))
        if self.error is not None:
            raise self.error


def _target() -> dict[str, Any]:
    return {"apiVersion": "kubetranscoder.io/v1alpha1", "kind": "TranscodeJob",
            "metadata": {"name": "trailer", "namespace": "media", "uid": "u-1"}}


def test_post_once_names_the_event_and_treats_409_as_posted() -> None:
    event = events.Event.normal(events.Reason.CREATED, "created runner Pod trailer-2",
                                key="created-2")
    api = _EventApi()
    assert asyncio.run(poster_module.KopfPoster(api, "op-0").post_once(_target(), event))
    namespace, body = api.bodies[0]
    assert namespace == "media" and body["metadata"]["name"] == "trailer.u-1.created-2"
    assert body["involvedObject"] == {**{k: _target()[k] for k in ("apiVersion", "kind")},
                                      "name": "trailer", "namespace": "media", "uid": "u-1"}
    assert (body["type"], body["reason"], body["reportingInstance"]) == (
        "Normal", "Created", "op-0")
    assert datetime.datetime.fromisoformat(body["eventTime"]).tzinfo is not None
    conflict = _EventApi(errors.Conflict(409, "AlreadyExists", "events already exists"))
    assert asyncio.run(poster_module.KopfPoster(conflict).post_once(_target(), event))
    down = _EventApi(errors.ApiError(503, "ServiceUnavailable", "etcd is down"))
    assert not asyncio.run(poster_module.KopfPoster(down).post_once(_target(), event))
