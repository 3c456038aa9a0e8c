"""In-memory stand-ins for the control layer's collaborators: API, limiter, locks, clock.

`FakeApi` implements `kubeclient.Api` on dicts, answering like the API server
(409 on an existing Pod name, resourceVersions that grow, merge-patched
status and finalizers) and recording every write, so a test can count writes
per job. `deps_for` builds a `control.deps.Deps` around them with a fixed
clock and a `RecordingPoster`; `watch` copies the fake's objects into the
informer as the kopf handlers would.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

from tests.unit.operator import helpers as h
from transcode_operator.adapters import limits, locks, metrics
from transcode_operator.control import deps as deps_module
from transcode_operator.domain import errors
from transcode_operator.domain import events as events_module
from transcode_operator.domain import settings as settings_module


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


class FakeApi:
    def __init__(self) -> None:
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.nodes: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, str]] = []
        self.fail_create: errors.ApiError | None = None
        self._rv = itertools.count(100)

    def add_job(self, body: dict[str, Any]) -> dict[str, Any]:
        meta = body["metadata"]
        meta.setdefault("resourceVersion", str(next(self._rv)))
        self.jobs[(meta["namespace"], meta["name"])] = body
        return body

    async def create_pod(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(("create_pod", body["metadata"]["name"]))
        if self.fail_create is not None:
            raise self.fail_create
        key = (namespace, body["metadata"]["name"])
        if key in self.pods:
            raise errors.Conflict(409, "AlreadyExists", "pods already exists")
        pod = copy.deepcopy(body)
        pod["metadata"].update(uid=f"uid-{key[1]}", resourceVersion=str(next(self._rv)),
                               creationTimestamp=h.stamp(h.NOW))
        pod["status"] = {"phase": "Pending"}
        self.pods[key] = pod
        return copy.deepcopy(pod)

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        pod = self.pods.get((namespace, name))
        return copy.deepcopy(pod) if pod else None

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        key, has_value, value = selector.partition("=")
        return [copy.deepcopy(p) for (ns, _), p in self.pods.items()
                if ns == namespace and key in p["metadata"]["labels"]
                and (not has_value or p["metadata"]["labels"][key] == value)]

    async def delete_pod(self, namespace: str, name: str, uid: str | None = None,
                         grace_seconds: int | None = None) -> bool:
        self.writes.append(("delete_pod", name) if grace_seconds is None
                           else ("delete_pod", f"{name} grace={grace_seconds}"))
        return self.pods.pop((namespace, name), None) is not None

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.jobs.get((namespace, name)))

    async def delete_job(self, namespace: str, name: str, uid: str | None = None) -> bool:
        self.writes.append(("delete_job", name))
        return self.jobs.pop((namespace, name), None) is not None

    async def patch_job(self, namespace: str, name: str,
                        patch: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(("patch_job", name))
        job = self.jobs.get((namespace, name))
        if job is None:
            raise errors.NotFound(404, "NotFound")
        meta = dict(patch.get("metadata") or {})
        rv = meta.pop("resourceVersion", None)
        if rv is not None and rv != job["metadata"]["resourceVersion"]:
            raise errors.Conflict(409, "Conflict", "the object has been modified")
        _merge(job["metadata"], meta)
        job["metadata"]["resourceVersion"] = str(next(self._rv))
        return copy.deepcopy(job)

    async def patch_job_status(self, namespace: str, name: str,
                               patch: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(("patch_job_status", name))
        job = self.jobs.get((namespace, name))
        if job is None:
            raise errors.NotFound(404, "NotFound")
        _merge(job.setdefault("status", {}), patch)
        job["metadata"]["resourceVersion"] = str(next(self._rv))
        return copy.deepcopy(job)

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.secrets.get((namespace, name)))

    async def get_node(self, name: str) -> dict[str, Any] | None:
        self.writes.append(("get_node", name))  # reads of Nodes are counted too
        return copy.deepcopy(self.nodes.get(name))

    def set_pod(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw["metadata"]["resourceVersion"] = str(next(self._rv))
        self.pods[(raw["metadata"]["namespace"], name)] = raw
        return raw


@dataclass
class Clock:
    value: float = 1000.0

    def __call__(self) -> float:
        return self.value


@dataclass
class FakeLimiter:
    allow: bool = True
    released: list[str] = field(default_factory=list)
    lost_running_set: int | None = None
    """A cap whose running set Redis lost: the live jobs are asked for and counted."""
    live: set[str] | None = None
    cap: int | None = None
    """A running cap over `counted` (the UIDs holding a slot)."""
    counted: list[str] = field(default_factory=list)

    async def acquire(self, namespace: str, uid: str,
                      live_jobs: limits.LiveJobs | None = None) -> limits.Decision:
        if self.cap is not None and uid not in self.counted:
            if len(self.counted) >= self.cap:
                return limits.Decision(False, 10.0, limits.REASON_CONCURRENCY)
            self.counted.append(uid)
        if self.lost_running_set is not None:
            assert live_jobs is not None
            self.live = set(await live_jobs())
            if len(self.live) >= self.lost_running_set:
                return limits.Decision(False, 10.0, limits.REASON_CONCURRENCY)
        if self.allow:
            return limits.Decision(True, 0.0, limits.REASON_OK)
        return limits.Decision(False, 12.0, limits.REASON_START_RATE)

    async def release(self, namespace: str, *uids: str) -> None:
        self.released.extend(uids)
        self.counted = [u for u in self.counted if u not in uids]

    async def running(self, namespace: str) -> list[str]:
        return list(self.counted)


@dataclass
class FakeLocks:
    held_by: dict[str, locks.LockOwner] = field(default_factory=dict)
    acquired: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    retry_after: float = 15.0

    async def acquire(self, destinations: Any, owner: locks.LockOwner) -> locks.LockResult:
        if self.held_by:
            return locks.LockResult(False, dict(self.held_by))
        self.acquired.append(owner.token)
        return locks.LockResult(True)

    async def release(self, destinations: Any, owner: locks.LockOwner) -> int:
        self.released.append(owner.token)
        return 1


@dataclass
class RecordingPoster:
    """Keeps posted Events in a list; a keyed Event once per name, as the API server
    does (`names` survives a new Deps: a restarted operator meets the same Events)."""

    posted: list[tuple[str, events_module.Event]] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    once_calls: int = 0

    def post(self, body: dict[str, Any], event: events_module.Event) -> None:
        self.posted.append((str(body["metadata"]["name"]), event))

    async def post_once(self, body: dict[str, Any], event: events_module.Event) -> bool:
        self.once_calls += 1
        meta = body["metadata"]
        name = events_module.once_name(meta["name"], meta["uid"], event.key)
        if name not in self.names:
            self.names.add(name)
            self.post(body, event)
        return True


def deps_for(api: FakeApi, cfg: settings_module.Settings = h.CFG,
             clock: Clock | None = None, **extra: Any) -> deps_module.Deps:
    return deps_module.Deps(cfg=cfg, api=api, poster=RecordingPoster(),
                            metrics=metrics.Metrics(), now=lambda: h.NOW,
                            monotonic=clock or Clock(), **extra)


def watch(d: deps_module.Deps, api: FakeApi) -> None:
    """Show the informer every object of the fake API (a watch that caught up)."""
    for body in api.jobs.values():
        d.informer.saw_job(copy.deepcopy(body))
    for pod in api.pods.values():
        d.informer.saw_pod(copy.deepcopy(pod))


def job_body(finalizers: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    finalizers = ["kubetranscoder.io/finalizer"] if finalizers is None else finalizers
    data: dict[str, Any] = {"source": "s3://media-in/trailer.mov", "outputs": [
        {"name": "720p", "destination": "s3://media-out/trailer/720p.mp4",
         "video": {"codec": "h264"}}]}
    data.update(spec)
    return {"apiVersion": "kubetranscoder.io/v1alpha1", "kind": "TranscodeJob",
            "metadata": {"name": h.JOB.name, "namespace": h.JOB.namespace, "uid": h.JOB.uid,
                         "generation": 1, "finalizers": finalizers},
            "spec": data}


@dataclass
class FakeRelay:
    tracked: dict[tuple[str, str], str] = field(default_factory=dict)
    """job key -> the Pod uid whose progress is taken."""

    def track(self, namespace: str, name: str, pod_uid: str) -> None:
        self.tracked[(namespace, name)] = pod_uid

    def forget(self, namespace: str, name: str) -> None:
        self.tracked.pop((namespace, name), None)
