"""Gather one job's observation: the informer's view, the start gates, the relay.

`control.reconciler.turn` calls `observe(deps, key)` first on every queue
turn. It reads the job and its Pods from the informer; confirms with one GET
a current attempt's Pod that the informer has not seen yet (after a restart
the Pod watch may lag behind the job watch), and lists the job's Pods when it
is being deleted, so the finalizer never lets a running Pod's job go (and then GETs
the Node of each Pod stuck Terminating past its grace period); adds the
relayed progress, what this process remembers (`deps.Memory`), the tenant
policy's refusal (`domain.tenancy`, before any Secret is read) and the spec
fields nobody will act on (`domain.unknown_fields`); with a Kueue queue, the
batch Job of a current attempt that has no Pod yet and its Workload (one GET, one
list); and asks the start gates
(credentials Secret, namespace limiter, output locks) when
`domain.starts.needs_gates` says a Pod may start now (or the previous turn's
plan asked for them); the limiter may ask for `live_jobs` (one Pod list of the
namespace) when Redis lost its running set; denied by the running cap, it frees
the slots of counted jobs that ended or are gone (`free_stale_slots`). Nothing here
writes to the API server; the limiter and lock answers are idempotent per job UID.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any

from transcode_api import constants, contract
from transcode_api import spec as job_spec
from transcode_api import status as job_status
from transcode_operator.adapters import limits
from transcode_operator.adapters import locks as locks_module
from transcode_operator.control import deps as deps_module
from transcode_operator.domain import (
    builders,
    conditions,
    credentials,
    errors,
    finalizing,
    observation,
    podstate,
    queueing,
    starts,
    tenancy,
)

logger = logging.getLogger(__name__)
Key = tuple[str, str]


async def observe(d: deps_module.Deps, key: Key) -> observation.Observed | None:
    """The observation of `key` now, or None when the job is gone."""
    body = d.informer.job(key)
    if body is None:
        return None
    meta = body["metadata"]
    job = observation.job_ref(body)
    spec, spec_error, ignored = d.informer.spec_of(key, observation.read_spec_fields)
    status = observation.read_status(body.get("status"))
    deleting = bool(meta.get("deletionTimestamp"))
    live = spec is not None and not deleting and status.phase not in conditions.TERMINAL
    pods = d.informer.pods_of(key, job.uid)
    queue = None if spec is None else queueing.queue_of(
        job.namespace, spec.queue_name, meta.get("labels"), d.cfg.queues)
    if deleting:
        listed = await d.api.list_pods(job.namespace, f"{contract.JOB_UID_LABEL}={job.uid}")
        for raw in listed:
            d.informer.wrote_pod(podstate.view(raw))
        names = {str((raw.get("metadata") or {}).get("name", "")) for raw in listed}
        # the listing is fresher than the watch: a Pod it lacks is gone (force-deleted)
        pods = tuple(p for p in d.informer.pods_of(key, job.uid) if p.name in names)
    elif status.phase not in conditions.TERMINAL and queue is None:
        # (a queued attempt's Pod has another name: `_queued` reads its batch Job instead)
        pods = await _confirm_current(d, key, job, status, pods)
    cleanup = next((p for p in pods if p.cleanup), None)
    pods = tuple(p for p in pods if not p.cleanup)  # a cleanup Pod is no attempt's
    last = d.memory.last_write.get(key)
    quota = d.memory.quota.get(key)
    obs = observation.Observed(
        job=job, generation=meta.get("generation"), spec=spec, spec_error=spec_error,
        status=status, pods=pods, now=d.now(), relay_progress=d.relay is not None,
        progress=_progress(d, key), deleting=deleting,
        has_finalizer=constants.FINALIZER in (meta.get("finalizers") or ()),
        rejected=d.memory.rejected.get(key),
        quota=None if quota is None else (quota[0], d.monotonic() - quota[1]),
        since_write=None if last is None else d.monotonic() - last,
        refused=tenancy.problem(job.namespace, spec, d.cfg) if (live or deleting) and spec
        else None, cleanup=cleanup, cleanup_refused=d.memory.cleanup_refused.get(key),
        unknown_fields=tuple(sorted({*ignored, *body.get("pruned", ())})),
        queue=queue, backlog=d.backlog() + len(d.memory.starting) - (key in d.memory.starting))
    if deleting:
        obs = await _stuck_nodes(d, obs)
    if obs.queue is not None and live:
        obs = dataclasses.replace(obs, queued=await _queued(d, job, status, pods))
    wanted = key in d.memory.wants_gates
    d.memory.wants_gates.discard(key)
    if spec is not None and not deleting and (wanted or starts.needs_gates(obs)):
        obs = dataclasses.replace(obs, gate=await gates(d, job, spec))
    return obs


async def _confirm_current(d: deps_module.Deps, key: Key, job: builders.JobRef,
                           status: job_status.TranscodeJobStatus,
                           pods: tuple[podstate.PodView, ...]) -> tuple[podstate.PodView, ...]:
    attempt = max([status.attempts or 0, *(p.attempt for p in pods)])
    if not attempt or any(p.attempt == attempt for p in pods):
        return pods
    raw = await d.api.get_pod(job.namespace, builders.pod_name(job.name, attempt))
    if raw is None:
        return pods
    d.informer.wrote_pod(podstate.view(raw))
    return d.informer.pods_of(key, job.uid)


async def _stuck_nodes(d: deps_module.Deps, obs: observation.Observed) -> observation.Observed:
    """`obs` with the readiness of the Nodes of Pods stuck Terminating past their grace
    period (one GET per Node; a Node that is gone is not Ready)."""
    names = {p.node_name for p in obs.pods if finalizing.needs_node(p, obs, d.cfg.failure_policy)}
    if not names:
        return obs
    nodes = {name: finalizing.node_ready(await d.api.get_node(name)) for name in sorted(names)}
    return dataclasses.replace(obs, nodes=nodes)


async def _queued(d: deps_module.Deps, job: builders.JobRef,
                  status: job_status.TranscodeJobStatus,
                  pods: tuple[podstate.PodView, ...]) -> queueing.JobView | None:
    """The batch Job of the current attempt and its Workload, while the attempt has no Pod."""
    attempt = max([status.attempts or 0, *(p.attempt for p in pods)])
    if not attempt or any(p.attempt == attempt for p in pods):
        return None
    raw = await d.api.get_batch_job(job.namespace, queueing.job_name(job.name, attempt))
    if raw is None or queueing.job_view(raw).owner_uid != job.uid:
        return None
    uid = str(raw["metadata"].get("uid", ""))
    workloads = await d.api.list_workloads(job.namespace, f"{queueing.JOB_UID_LABEL}={uid}")
    return queueing.job_view(raw, queueing.workload(workloads[0]) if workloads else None)


def _progress(d: deps_module.Deps, key: Key) -> job_status.Progress | None:
    raw = d.memory.progress.get(key)
    if raw is None:
        return None
    try:
        return job_status.Progress.model_validate(raw)
    except ValueError:
        return None


async def live_jobs(d: deps_module.Deps, namespace: str) -> set[str]:
    """UIDs of the namespace's jobs with a live runner Pod, listed from the API server
    (not the informer, which may not have seen every Pod yet right after a start)."""
    listed = await d.api.list_pods(namespace, contract.JOB_UID_LABEL)
    views = (podstate.view(raw) for raw in listed)
    return {v.owner_uid for v in views if v.active and v.owner_uid and not v.cleanup}


async def free_stale_slots(d: deps_module.Deps, namespace: str) -> int:
    """Release the running slots of jobs that ended or are gone yet still count (the
    operator died between a job's final status write and its release, or a recount
    after Redis lost the set raced a job's end); the number freed. Candidates are
    the counted UIDs whose job the informer shows finished or does not have; of those,
    the ones without a live runner Pod (one Pod list, only when there are candidates)."""
    assert d.limiter is not None
    counted = await d.limiter.running(namespace)
    candidates = [uid for uid in counted if _finished_or_gone(d.informer.job_by_uid(uid))]
    if not candidates:
        return 0
    live = await live_jobs(d, namespace)
    stale = sorted(uid for uid in candidates if uid not in live)
    if stale:
        await d.limiter.release(namespace, *stale)
        logger.warning("Namespace %s: freed %d running slot(s) of job(s) that ended or are "
                       "gone but were still counted: %s", namespace, len(stale), ", ".join(stale))
    return len(stale)


def _finished_or_gone(body: dict[str, Any] | None) -> bool:
    if body is None:
        return True
    phase = observation.read_status(body.get("status")).phase
    return phase is not None and phase in conditions.TERMINAL


def owner(job: builders.JobRef) -> locks_module.LockOwner:
    return locks_module.LockOwner(token=job.uid, holder=f"{job.namespace}/{job.name}")


async def gates(d: deps_module.Deps, job: builders.JobRef,
                spec: job_spec.TranscodeJobSpec) -> observation.Gate:
    """May a runner Pod start now? Credentials Secret allowed, namespace limits, output locks."""
    ref = spec.storage.credentials_secret_ref
    if ref is not None and d.cfg.status.check_credentials_secret:
        try:
            secret = credentials.view(await d.api.get_secret(job.namespace, ref.name))
        except errors.Forbidden:
            secret = None  # the opt-in label cannot be checked: refuse, as for any other Secret
            logger.warning("No RBAC to read Secrets; jobs naming a credentials Secret fail")
        problem = credentials.problem(secret, ref)
        if problem is not None:
            return observation.Gate(False, problem[0], problem[1], fatal=True)
    if d.limiter is not None:
        live = functools.partial(live_jobs, d, job.namespace)
        decision = await d.limiter.acquire(job.namespace, job.uid, live)
        if decision.reason == limits.REASON_CONCURRENCY \
                and await free_stale_slots(d, job.namespace):
            decision = await d.limiter.acquire(job.namespace, job.uid, live)
        if not decision.allowed:
            return observation.Gate(False, "RateLimited",
                                    f"namespace {job.namespace}: {decision.reason}; asking "
                                    f"again in {decision.retry_after:.0f}s", decision.retry_after)
    if d.locks is not None:
        result = await d.locks.acquire(locks_module.objects(spec), owner(job))
        if not result.acquired:
            if d.limiter is not None:
                await d.limiter.release(job.namespace, job.uid)
            return observation.Gate(False, "OutputLocked",
                                    locks_module.refusal(job.namespace, result.held_by),
                                    d.locks.retry_after)
        d.memory.holding.add(job.uid)
    return observation.OPEN
