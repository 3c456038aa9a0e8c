"""Carry out the Kueue part of a plan: create a queued attempt's batch Job, or delete one.

`control.act` calls `create(...)` instead of creating the runner Pod when the
job has a queue: the Pod manifest `domain.builders.pod` built is wrapped by
`domain.queueing.job` into a suspended batch/v1 Job in the job's LocalQueue
(`queues.cpu` for a CPU attempt that replaces a GPU attempt Kueue did not
admit); a 409 for a Job of ours is adopted, a 4xx refusal is remembered as for
a Pod, so the next turn fails the job with the API server's words. `cancel`
deletes a queued attempt's Job (its Pod goes with it, in the background).
"""

from __future__ import annotations

import logging
from typing import Any

from transcode_api import constants
from transcode_operator.control import deps as deps_module
from transcode_operator.domain import builders, errors, observation, queueing

logger = logging.getLogger(__name__)
REFUSED = (400, 403, 422)
FIRST_LOOK = 1.0
"""Seconds after creating a batch Job until its Workload is first read."""


def queue_for(obs: observation.Observed, request: builders.PodRequest,
              cfg_cpu_queue: str) -> str:
    """The LocalQueue of `request`: the CPU queue for a Kueue quota fallback."""
    assert obs.queue is not None
    if request.fallback_reason == constants.FallbackReason.GPU_QUOTA_EXHAUSTED and cfg_cpu_queue:
        return cfg_cpu_queue
    return obs.queue


async def create(d: deps_module.Deps, obs: observation.Observed, request: builders.PodRequest,
                 pod: dict[str, Any]) -> bool:
    """Create the attempt's batch Job; an existing one of ours is adopted. False: refused."""
    job, spec = obs.job, obs.spec
    assert spec is not None
    manifest = queueing.job(pod, queue_for(obs, request, d.cfg.queues.cpu),
                            spec.workload_priority_class_name, request.preemptions)
    name = manifest["metadata"]["name"]
    try:
        await d.api.create_batch_job(job.namespace, manifest)
    except errors.Conflict:
        existing = await d.api.get_batch_job(job.namespace, name)
        if existing is None or queueing.job_view(existing).owner_uid != job.uid:
            raise errors.Wait(f"Job {name} exists and belongs to another object", 5.0) from None
        logger.info("Adopted existing batch Job %s/%s", job.namespace, name)
        return True
    except errors.ApiError as exc:
        if exc.transient or exc.status not in REFUSED:
            raise
        d.memory.refused((job.namespace, job.name), exc, "batch Job", d.monotonic())
        return False
    logger.info("Created batch Job %s/%s in LocalQueue %s", job.namespace, name,
                manifest["metadata"]["labels"][queueing.QUEUE_LABEL])
    return True


async def cancel(d: deps_module.Deps, namespace: str, name: str) -> None:
    logger.info("Deleting queued batch Job %s/%s", namespace, name)
    await d.api.delete_batch_job(namespace, name)


def made_by_job(job: builders.JobRef, pod_name: str, attempt: int) -> str | None:
    """The batch Job that made a runner Pod (its name is not `<job>-<attempt>`), or None."""
    own = builders.pod_name(job.name, attempt)
    return own if pod_name != own and pod_name.startswith(own + "-") else None
