"""What the operator needs to know about one runner Pod, read from its raw object.

`view(pod)` turns a Pod as the API server returns it into a small frozen
`PodView`: which job and attempt it belongs to (labels, controller
ownerReference: the TranscodeJob, or the batch/v1 Job of a Kueue-queued attempt),
whether it asked for a GPU, whether the scheduler called it Unschedulable, whether it
waits on a configuration error, how it ended (exit code, termination message,
disruption), and its Node and deletion times. The informer
(`control.informer`) keeps these views, and `reconcile` decides from them;
nothing here calls the API.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transcode_api import constants, contract

# Pod status reasons and DisruptionTarget condition reasons that mean "not the
# runner's fault": retried without counting against backoffLimit.
DISRUPTION_REASONS = frozenset({
    "Evicted", "Preempting", "NodeShutdown", "Shutdown", "Terminated", "NodeLost",
    "UnexpectedAdmissionError", "OutOfcpu", "OutOfmemory", "OutOfpods",
})
CONFIG_ERROR_REASONS = frozenset({"CreateContainerConfigError"})
IMAGE_ERROR_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                                 "ErrImageNeverPull"})


@dataclass(frozen=True)
class Termination:
    """How the runner container ended."""

    exit_code: int
    reason: str
    message: str
    finished_at: datetime.datetime | None


@dataclass(frozen=True)
class PodView:
    """One runner Pod, as far as the job's decisions care."""

    name: str
    namespace: str
    uid: str
    resource_version: str
    owner_uid: str
    job_name: str
    attempt: int
    gpu: bool
    fallback_reason: str | None
    created: datetime.datetime | None
    deleting: bool
    phase: str
    scheduled: bool
    unschedulable_message: str | None
    waiting_reason: str | None
    waiting_message: str | None
    terminated: Termination | None
    disruption: str | None
    status_message: str = ""
    """The Pod's status.message (the kubelet's words for an eviction)."""
    node_name: str = ""
    """spec.nodeName: the Node it was bound to ("" while unscheduled)."""
    deletion_time: datetime.datetime | None = None
    """metadata.deletionTimestamp: when its grace period ends (None: not being deleted)."""
    deletion_grace: int | None = None
    """metadata.deletionGracePeriodSeconds (0 after a forced delete)."""
    cleanup: bool = False
    """A job's cleanup Pod (role label `cleanup`: `domain.cleanuppod`), no attempt's."""
    open_uploads: int = 0
    """A cleanup Pod's count of the open uploads it was made for (its annotation)."""

    @property
    def active(self) -> bool:
        """Not ended and not being deleted: it runs, or will."""
        return self.terminated is None and self.phase not in ("Succeeded", "Failed") \
            and not self.deleting

    @property
    def ended(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    @property
    def signature(self) -> tuple[object, ...]:
        """What `reconcile` decides on; a Pod event that leaves it unchanged changes nothing."""
        return (self.phase, self.scheduled, self.unschedulable_message is not None,
                self.waiting_reason, self.terminated is not None, self.deleting, self.disruption)

    @property
    def config_error(self) -> str | None:
        """The kubelet's message while the container cannot be configured (missing Secret)."""
        if self.waiting_reason in CONFIG_ERROR_REASONS:
            return self.waiting_message or self.waiting_reason
        return None


def parse_time(value: Any) -> datetime.datetime | None:
    """An RFC 3339 timestamp from the API (str or datetime), UTC; None if absent or bad."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def controller_of(meta: Mapping[str, Any]) -> tuple[str, str] | None:
    """(name, uid) of the controlling TranscodeJob in ownerReferences, or None."""
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == constants.KIND \
                and str(ref.get("apiVersion", "")).startswith(constants.GROUP + "/"):
            return str(ref.get("name", "")), str(ref.get("uid", ""))
    return None


def _batch_owner(meta: Mapping[str, Any], attempt: int) -> tuple[str, str] | None:
    """(job name, job uid) of a Pod a queued attempt's batch/v1 Job `<job>-<attempt>` made
    (Kueue): the Job's name without the attempt, the uid from the job-uid label."""
    uid = str((meta.get("labels") or {}).get(contract.JOB_UID_LABEL, ""))
    suffix = f"-{attempt}"
    for ref in meta.get("ownerReferences") or []:
        name = str(ref.get("name", ""))
        if ref.get("controller") and ref.get("kind") == "Job" and uid and attempt \
                and ref.get("apiVersion") == "batch/v1" and name.endswith(suffix):
            return name[:-len(suffix)], uid
    return None


def _condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return None


def _runner_status(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    statuses = status.get("containerStatuses") or []
    for cs in statuses:
        if cs.get("name") == contract.CONTAINER_NAME:
            return cs
    return statuses[0] if statuses else None


def _disruption(status: Mapping[str, Any]) -> str | None:
    reason = status.get("reason")
    if reason in DISRUPTION_REASONS:
        return str(reason)
    target = _condition(status, "DisruptionTarget")
    if target is not None and target.get("status") == "True":
        return str(target.get("reason") or "DisruptionTarget")
    return None


def view(pod: Mapping[str, Any]) -> PodView:
    """The `PodView` of a raw Pod object (a dict as returned by the API server)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    try:
        attempt = int(labels.get(contract.ATTEMPT_LABEL, "0"))
    except ValueError:
        attempt = 0
    owner = controller_of(meta) or _batch_owner(meta, attempt) or ("", "")
    scheduled_cond = _condition(status, "PodScheduled")
    scheduled = bool(spec.get("nodeName")) or (
        scheduled_cond is not None and scheduled_cond.get("status") == "True")
    unschedulable = None
    if scheduled_cond is not None and scheduled_cond.get("status") == "False" \
            and scheduled_cond.get("reason") == "Unschedulable":
        unschedulable = str(scheduled_cond.get("message") or "Unschedulable")
    cs = _runner_status(status) or {}
    state = cs.get("state") or {}
    waiting = state.get("waiting") or {}
    term = state.get("terminated")
    termination = None
    if term:
        termination = Termination(
            exit_code=int(term.get("exitCode", -1)),
            reason=str(term.get("reason") or ""),
            message=str(term.get("message") or ""),
            finished_at=parse_time(term.get("finishedAt")),
        )
    return PodView(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        owner_uid=owner[1],
        job_name=owner[0],
        attempt=attempt,
        gpu=labels.get(contract.ACCELERATOR_LABEL) == contract.ACCELERATOR_GPU,
        fallback_reason=annotations.get(contract.FALLBACK_ANNOTATION),
        created=parse_time(meta.get("creationTimestamp")),
        deleting=bool(meta.get("deletionTimestamp")),
        phase=str(status.get("phase") or "Pending"),
        scheduled=scheduled,
        unschedulable_message=unschedulable,
        waiting_reason=waiting.get("reason"),
        waiting_message=waiting.get("message"),
        terminated=termination,
        disruption=_disruption(status),
        status_message=str(status.get("message") or ""),
        node_name=str(spec.get("nodeName") or ""),
        deletion_time=parse_time(meta.get("deletionTimestamp")),
        deletion_grace=_int(meta.get("deletionGracePeriodSeconds")),
        cleanup=labels.get(contract.ROLE_LABEL) == contract.ROLE_CLEANUP,
        open_uploads=_int(annotations.get(contract.OPEN_UPLOADS_ANNOTATION)) or 0,
    )


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None

