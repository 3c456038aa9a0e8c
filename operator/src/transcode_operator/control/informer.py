"""The operator's view of the watched objects: TranscodeJobs and their runner Pods.

The kopf handlers (`app.handlers`) put every watch event in here and then
enqueue the job's key; the workers read from here (`control.observe`) and put
the answers of their own writes back (`wrote_job`, `wrote_pod`), as client-go's
mutation cache does: an object is replaced only by a newer resourceVersion, so
a watch event that is older than our own write never rolls the view back, and
the next queue turn after a write never repeats it. Jobs are kept slim
(metadata without managedFields and annotations, labels only Kueue's queue name, spec, status, and under
`pruned` the spec fields kubectl's last-applied configuration has and the
stored spec lacks, `domain.unknown_fields.pruned`); Pods as
`domain.podstate.PodView`s, grouped by their job; each job's key by its UID. The
parsed spec is cached per job generation. Nothing here survives a restart, nor needs to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from transcode_operator.domain import podstate, queueing, unknown_fields

Key = tuple[str, str]
T = TypeVar("T")
KEPT_META = ("name", "namespace", "uid", "generation", "resourceVersion",
             "deletionTimestamp", "finalizers", "creationTimestamp")


def newer(candidate: str, than: str) -> bool:
    """True when resourceVersion `candidate` is newer than `than` (etcd's are integers;
    when either is not, any different value counts as newer)."""
    if not than:
        return bool(candidate)
    if candidate.isdigit() and than.isdigit():
        return int(candidate) > int(than)
    return candidate != than


def slim(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the operator keeps of a job: no managedFields, annotations or labels but
    Kueue's queue-name label."""
    meta = body.get("metadata") or {}
    kept = {k: meta[k] for k in KEPT_META if k in meta}
    queue = (meta.get("labels") or {}).get(queueing.QUEUE_LABEL)
    if queue:
        kept["labels"] = {queueing.QUEUE_LABEL: queue}
    out = {"metadata": kept,
           "spec": body.get("spec"), "status": body.get("status") or {}}
    pruned = unknown_fields.pruned(body)
    if pruned:
        out["pruned"] = pruned
    return out


def key_of(body: Mapping[str, Any]) -> Key:
    meta = body.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


@dataclass
class _Entry:
    body: dict[str, Any]
    spec: tuple[object, Any] | None = None


@dataclass
class Informer:
    """Jobs by key, runner Pods by job key and Pod name."""

    jobs: dict[Key, _Entry] = field(default_factory=dict)
    pods: dict[Key, dict[str, podstate.PodView]] = field(default_factory=dict)
    gone: dict[Key, str] = field(default_factory=dict)
    """UIDs of jobs deleted since their key's last turn (metrics to drop)."""
    keys: dict[str, Key] = field(default_factory=dict)
    """Each job's key by its UID."""

    # --- jobs ---------------------------------------------------------------------------
    def saw_job(self, body: Mapping[str, Any]) -> Key | None:
        """A watch event of a job (ADDED, MODIFIED or the initial listing); its key, or
        None when it shows nothing new (the echo of our own write)."""
        key = key_of(body)
        return key if self._put(key, slim(body)) else None

    def wrote_job(self, body: Mapping[str, Any]) -> None:
        """The API server's answer to our own write of a job."""
        self._put(key_of(body), slim(body))

    def _put(self, key: Key, body: dict[str, Any]) -> bool:
        entry = self.jobs.get(key)
        rv = str(body["metadata"].get("resourceVersion", ""))
        if entry is None or entry.body["metadata"].get("uid") != body["metadata"].get("uid"):
            if entry is not None:
                self.keys.pop(str(entry.body["metadata"].get("uid", "")), None)
            self.jobs[key] = _Entry(body)
            self.keys[str(body["metadata"].get("uid", ""))] = key
            return True
        if newer(rv, str(entry.body["metadata"].get("resourceVersion", ""))):
            entry.body = body
            return True
        return False

    def job_gone(self, body: Mapping[str, Any]) -> Key:
        """A DELETED watch event of a job."""
        key = key_of(body)
        entry = self.jobs.pop(key, None)
        if entry is not None:
            uid = str(entry.body["metadata"].get("uid", ""))
            self.gone[key] = uid
            self.keys.pop(uid, None)
        return key

    def job(self, key: Key) -> dict[str, Any] | None:
        entry = self.jobs.get(key)
        return entry.body if entry is not None else None

    def job_by_uid(self, uid: str) -> dict[str, Any] | None:
        key = self.keys.get(uid)
        return self.job(key) if key is not None else None

    def spec_of(self, key: Key, parse: Callable[[Any], T]) -> T:
        """The job's parsed spec, parsed once per generation with `parse(spec)`."""
        entry = self.jobs[key]
        generation = entry.body["metadata"].get("generation")
        if entry.spec is None or entry.spec[0] != generation or generation is None:
            entry.spec = (generation, parse(entry.body.get("spec")))
        result: T = entry.spec[1]
        return result

    # --- Pods ---------------------------------------------------------------------------
    def saw_pod(self, raw: Mapping[str, Any]) -> Key | None:
        """A watch event of a runner Pod; the key of its job, or None when it is no
        job's Pod or changes nothing the plan decides on (`PodView.signature`)."""
        view = podstate.view(raw)
        if not view.job_name:
            return None
        before = self.pods.get((view.namespace, view.job_name), {}).get(view.name)
        self.wrote_pod(view)
        if before is not None and before.uid == view.uid \
                and before.signature == view.signature:
            return None
        return view.namespace, view.job_name

    def wrote_pod(self, view: podstate.PodView) -> None:
        """A Pod as we created or read it ourselves (or as the watch showed it)."""
        pods = self.pods.setdefault((view.namespace, view.job_name), {})
        seen = pods.get(view.name)
        if seen is None or seen.uid != view.uid or newer(view.resource_version,
                                                           seen.resource_version):
            pods[view.name] = view

    def pod_gone(self, raw: Mapping[str, Any]) -> Key | None:
        view = podstate.view(raw)
        key = view.namespace, view.job_name
        pods = self.pods.get(key)
        if pods is not None and pods.get(view.name, view).uid == view.uid:
            pods.pop(view.name, None)
            if not pods:
                del self.pods[key]
        return key if view.job_name else None

    def pods_of(self, key: Key, uid: str) -> tuple[podstate.PodView, ...]:
        """The job's Pods (controlled by this incarnation, `uid`), by attempt."""
        found = [p for p in self.pods.get(key, {}).values() if p.owner_uid == uid]
        return tuple(sorted(found, key=lambda p: p.attempt))
