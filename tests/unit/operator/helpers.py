"""Builders of test inputs for the operator's unit tests: specs, Pods, observations.

`spec(...)` makes a valid TranscodeJobSpec; `pod(...)` a raw Pod dict the way
the API server returns it (pending, unschedulable, running, terminated,
evicted) built from the real Pod builder so labels and owners match;
`observed(...)` the input of `reconcile.plan`. Everything is plain data: no
cluster, no clock but the one passed in.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from transcode_api import contract
from transcode_api import spec as job_spec
from transcode_api import status as job_status
from transcode_operator.domain import builders, observation, podstate
from transcode_operator.domain import settings as settings_module

NOW = datetime.datetime(2025, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
JOB = builders.JobRef("media", "trailer", "uid-1234")
CFG = settings_module.Settings(storage_policy={"ambient_credentials_namespaces": ["media"]})
"""The default settings, except that JOB's namespace may use ambient credentials (most
test specs name no credentials Secret)."""
WRITE_NOW = CFG
"""CFG, whose new job's first status write is made at once (status.firstWriteDelaySeconds=0,
the default)."""
HOLD = CFG.model_copy(update={"status": CFG.status.model_copy(
    update={"first_write_delay_seconds": 30.0})})
"""CFG with the opt-in hold of a new job's first status write (firstWriteDelaySeconds=30)."""


def ago(seconds: float) -> datetime.datetime:
    return NOW - datetime.timedelta(seconds=seconds)


def stamp(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def spec(**fields: Any) -> job_spec.TranscodeJobSpec:
    data: dict[str, Any] = {
        "source": "s3://media-in/trailer.mov",
        "outputs": [{"name": "720p", "destination": "s3://media-out/trailer/720p.mp4",
                     "video": {"codec": "h264", "resolution": "720p"}}],
    }
    data.update(fields)
    return job_spec.parse_spec(data)


def video_spec(**video: Any) -> job_spec.TranscodeJobSpec:
    return spec(outputs=[{"name": "o", "destination": "s3://media-out/o.mp4", "video": video}])


def result(code: int = 0, **fields: Any) -> str:
    data: dict[str, Any] = {"outcome": "Succeeded" if code == 0 else "Failed", "exitCode": code}
    data.update(fields)
    return job_status.RunnerResult.model_validate(data).to_termination_message()


def pod(attempt: int = 1, *, gpu: bool = False, phase: str = "Pending",
        created: datetime.datetime | None = None, unschedulable: str | None = None,
        scheduled: bool | None = None, exit_code: int | None = None, message: str = "",
        finished: datetime.datetime | None = None, reason: str | None = None,
        waiting: tuple[str, str] | None = None, deleting: bool = False,
        disruption: str | None = None, fallback: str | None = None,
        owner_uid: str = JOB.uid, rv: str = "10", term_reason: str | None = None,
        s: job_spec.TranscodeJobSpec | None = None, status_message: str = "",
        memory_factor: float = 1.0) -> dict[str, Any]:
    """A raw runner Pod of JOB as the API server would return it."""
    manifest = builders.pod(JOB, s or spec(),
                            builders.PodRequest(attempt, gpu, fallback, memory_factor), CFG)
    meta = manifest["metadata"]
    meta.update(uid=f"pod-uid-{attempt}", resourceVersion=rv,
                creationTimestamp=stamp(created or ago(30)))
    meta["ownerReferences"][0]["uid"] = owner_uid
    if deleting:
        meta["deletionTimestamp"] = stamp(NOW)
    status: dict[str, Any] = {"phase": phase, "conditions": []}
    is_scheduled = scheduled if scheduled is not None else (unschedulable is None and
                                                            phase != "Pending")
    if unschedulable is not None:
        status["conditions"].append({"type": "PodScheduled", "status": "False",
                                     "reason": "Unschedulable", "message": unschedulable})
    elif is_scheduled:
        status["conditions"].append({"type": "PodScheduled", "status": "True"})
        manifest["spec"]["nodeName"] = "cpu-node-0"
    state: dict[str, Any] = {}
    if waiting is not None:
        state = {"waiting": {"reason": waiting[0], "message": waiting[1]}}
    elif exit_code is not None:
        state = {"terminated": {"exitCode": exit_code, "message": message,
                                "reason": term_reason or ("Completed" if exit_code == 0
                                                          else "Error"),
                                "finishedAt": stamp(finished or ago(1))}}
    elif phase == "Running":
        state = {"running": {"startedAt": stamp(ago(10))}}
    if state:
        status["containerStatuses"] = [{"name": contract.CONTAINER_NAME, "state": state}]
    if reason:
        status["reason"] = reason
    if status_message:
        status["message"] = status_message
    if disruption:
        status["conditions"].append({"type": "DisruptionTarget", "status": "True",
                                     "reason": disruption})
    manifest["status"] = status
    return json.loads(json.dumps(manifest))


def view(**kwargs: Any) -> podstate.PodView:
    return podstate.view(pod(**kwargs))


def observed(*pods: podstate.PodView, s: job_spec.TranscodeJobSpec | None = None,
             status: dict[str, Any] | None = None, now: datetime.datetime = NOW,
             relay: bool = False, spec_error: str | None = None,
             gate: observation.Gate | None = observation.OPEN,
             **extra: Any) -> observation.Observed:
    """The input of `reconcile.plan`; the start gates are open unless told otherwise."""
    return observation.Observed(
        job=JOB, generation=1, spec=None if spec_error else (s or spec()),
        spec_error=spec_error, status=job_status.parse_status(status or {}), pods=tuple(pods),
        now=now, relay_progress=relay, gate=gate, **extra)


def running_status(attempt: int = 1, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"phase": "Running", "reason": "Running", "attempts": attempt,
                            "podName": f"trailer-{attempt}", "startTime": stamp(ago(60))}
    data.update(extra)
    return data
