"""Kueue: which queue a job uses, the batch/v1 Job of a queued attempt, and Kueue's answer.

With a queue (`queue_of`: `spec.queueName`, else the job's
`kueue.x-k8s.io/queue-name` label, else the operator's `queues` settings),
`control.act` wraps the runner Pod manifest that `domain.builders.pod` builds
in `job(...)`: one batch/v1 Job per attempt, named like the Pod
(`<job>-<attempt>`), created suspended so that Kueue admits it (Kueue's
webhook would suspend it anyway), `parallelism: 1`, `backoffLimit: 0`, a
`podFailurePolicy` that fails the Job on any runner exit code other than 0
(the operator classifies the exit code and starts the next attempt itself) and
ignores `DisruptionTarget`, owned by the TranscodeJob. `workload(raw)` reads a
Workload's conditions into a `WorkloadView` (pending with Kueue's message,
admitted, evicted or preempted with the reason); `JobView` is what
`domain.queue_plan` decides from. Pure: nothing here calls the API.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transcode_api import contract
from transcode_operator.domain import builders, podstate
from transcode_operator.domain import settings as settings_module

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"
"""The label Kueue puts on the Workload of a Job: the Job's uid."""
PREEMPTIONS_ANNOTATION = "kubetranscoder.io/preemptions"
"""On a queued attempt's batch Job: Kueue preemptions of the job before this attempt."""


def queue_of(namespace: str, named: str | None, labels: Mapping[str, str] | None,
             defaults: settings_module.QueueSettings) -> str | None:
    """The LocalQueue of a job: its spec, its label, the namespace default; None: no Kueue."""
    label = (labels or {}).get(QUEUE_LABEL) or None
    return defaults.queue_for(namespace, named or label)


def job(pod: Mapping[str, Any], queue: str, priority_class: str | None,
        preemptions: int = 0) -> dict[str, Any]:
    """The suspended batch/v1 Job that runs `pod` (a runner Pod manifest) through `queue`."""
    meta = pod["metadata"]
    labels = {**meta["labels"], QUEUE_LABEL: queue}
    if priority_class:
        labels[PRIORITY_LABEL] = priority_class
    annotations = {**(meta.get("annotations") or {}), PREEMPTIONS_ANNOTATION: str(preemptions)}
    template_meta = {"labels": dict(meta["labels"]),
                     "annotations": dict(meta.get("annotations") or {})}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": labels,
                     "annotations": annotations,
                     "ownerReferences": copy.deepcopy(meta["ownerReferences"])},
        "spec": {
            "suspend": True, "parallelism": 1, "completions": 1, "backoffLimit": 0,
            "podFailurePolicy": {"rules": [
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                {"action": "FailJob", "onExitCodes": {
                    "containerName": contract.CONTAINER_NAME, "operator": "NotIn",
                    "values": [int(contract.ExitCode.SUCCESS)]}},
            ]},
            "template": {"metadata": template_meta, "spec": copy.deepcopy(pod["spec"])},
        },
    }


@dataclass(frozen=True)
class WorkloadView:
    """Kueue's answer for one Job, from its Workload's conditions."""

    name: str
    admitted: bool
    pending_message: str
    """Kueue's words while the Workload waits for quota (QuotaReserved=False)."""
    evicted_reason: str | None = None
    """Evicted=True's reason (Preempted, InactiveWorkload, PodsReadyTimeout, ...)."""
    evicted_message: str = ""
    finished: bool = False


def _conditions(raw: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    out = {}
    for cond in (raw.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type"):
            out[str(cond["type"])] = cond
    return out


def _true(conds: Mapping[str, Mapping[str, Any]], type_: str) -> bool:
    return conds.get(type_, {}).get("status") == "True"


def workload(raw: Mapping[str, Any]) -> WorkloadView:
    """The `WorkloadView` of a raw Workload object."""
    conds = _conditions(raw)
    quota = conds.get("QuotaReserved", {})
    pending = "" if _true(conds, "QuotaReserved") else str(quota.get("message") or "")
    evicted = conds.get("Evicted") if _true(conds, "Evicted") else None
    preempted = conds.get("Preempted") if _true(conds, "Preempted") else None
    reason = None
    message = ""
    if evicted is not None or preempted is not None:
        cond = evicted or preempted or {}
        reason = str(cond.get("reason") or "Evicted")
        message = str(cond.get("message") or "")
    return WorkloadView(
        name=str((raw.get("metadata") or {}).get("name", "")),
        admitted=_true(conds, "Admitted"), pending_message=pending,
        evicted_reason=reason, evicted_message=message, finished=_true(conds, "Finished"))


@dataclass(frozen=True)
class JobView:
    """The batch/v1 Job of one queued attempt, and its Workload (None: not read yet)."""

    name: str
    uid: str
    owner_uid: str
    attempt: int
    gpu: bool
    fallback_reason: str | None
    queue: str
    suspended: bool
    deleting: bool
    created: datetime.datetime | None
    preemptions: int = 0
    """Kueue preemptions of the job before this attempt (PREEMPTIONS_ANNOTATION)."""
    workload: WorkloadView | None = None


def job_view(raw: Mapping[str, Any], wl: WorkloadView | None = None) -> JobView:
    """The `JobView` of a raw batch/v1 Job (one the operator created for an attempt)."""
    meta = raw.get("metadata") or {}
    labels = meta.get("labels") or {}
    owner = podstate.controller_of(meta) or ("", "")
    annotations = meta.get("annotations") or {}
    return JobView(
        name=str(meta.get("name", "")), uid=str(meta.get("uid", "")), owner_uid=owner[1],
        attempt=_int(labels.get(contract.ATTEMPT_LABEL)), gpu=labels.get(contract.ACCELERATOR_LABEL) == contract.ACCELERATOR_GPU,
        fallback_reason=annotations.get(contract.FALLBACK_ANNOTATION),
        queue=str(labels.get(QUEUE_LABEL, "")),
        suspended=bool((raw.get("spec") or {}).get("suspend")),
        deleting=bool(meta.get("deletionTimestamp")),
        created=podstate.parse_time(meta.get("creationTimestamp")),
        preemptions=_int(annotations.get(PREEMPTIONS_ANNOTATION)), workload=wl)


def _int(text: object) -> int:
    try:
        return max(int(str(text)), 0)
    except ValueError:
        return 0


def job_name(job_name_: str, attempt: int) -> str:
    """The batch Job of an attempt has the Pod's name (`<job>-<attempt>`)."""
    return builders.pod_name(job_name_, attempt)
