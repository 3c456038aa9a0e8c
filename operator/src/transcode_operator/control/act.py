"""Carry out one turn's plan, in a fixed order, and say when to look again.

`control.reconciler.turn` calls `act(deps, obs, plan)` with the observation it
planned from. The order never changes: add the finalizer; delete a queued
attempt's batch Job the plan cancels; create the Pod, or with a Kueue queue its
batch Job (`control.queue_act`), or a deleted job's cleanup Pod (409: it exists) (a
409 for a Pod of ours is adopted; a ResourceQuota refusal is remembered with its
time, so the next turns wait Pending `QuotaExceeded` and then try again; another
4xx refusal is remembered and the key requeued, so the next turn's plan fails the
job with the API server's words); post the attempt's `Created` Event by name (or the
plan's `announce`: one that a crash before the status write may have lost);
delete Pods (grace 0 for those stuck on a lost Node); one status merge patch; POST
the due CloudEvents and patch their delivery state (`control.notify`); post the
Events; metrics; release or hold
the gates; delete the job (TTL) or remove the finalizer. A job whose Pod is
created or simply starting is remembered (`Memory.starting`: the other jobs'
observations count it as a burst). Every answer of a
write goes into the informer, so the next turn sees it even before the watch.
"""

from __future__ import annotations

import logging
from typing import Any

from transcode_api import constants
from transcode_operator.adapters import locks as locks_module
from transcode_operator.control import deps as deps_module
from transcode_operator.control import notify as notify_control
from transcode_operator.control import observe, queue_act
from transcode_operator.domain import (
    actions,
    builders,
    cleanuppod,
    conditions,
    errors,
    observation,
    podstate,
)

logger = logging.getLogger(__name__)
REFUSED = (400, 403, 422)


def event_target(job: builders.JobRef) -> dict[str, Any]:
    """The object an Event is about (kopf builds involvedObject from it)."""
    return {"apiVersion": constants.API_VERSION, "kind": constants.KIND,
            "metadata": {"name": job.name, "namespace": job.namespace, "uid": job.uid}}


async def act(d: deps_module.Deps, obs: observation.Observed, plan: actions.Plan) -> float | None:
    job, key = obs.job, (obs.job.namespace, obs.job.name)
    if plan.add_finalizer:
        await _set_finalizer(d, key, add=True)
    if plan.ask_gates:
        d.memory.wants_gates.add(key)
    (d.memory.starting.add if plan.starting else d.memory.starting.discard)(key)
    if plan.cancel_queued is not None:
        await queue_act.cancel(d, job.namespace, plan.cancel_queued)
    if plan.create is not None and obs.spec is not None:
        manifest = builders.pod(job, obs.spec, plan.create, d.cfg)
        created = await (queue_act.create(d, obs, plan.create, manifest) if obs.queue
                         else _create(d, key, job, manifest))
        if not created:
            return 0.0  # refused: the next turn fails the job or waits for quota
        if obs.queue:  # no Pod event will come while Kueue holds it: look again soon
            plan.wake_in(queue_act.FIRST_LOOK)
        d.memory.progress.pop(key, None)  # relayed progress belongs to the attempt before
    if plan.cleanup is not None and obs.spec is not None:
        await _create_cleanup(d, key, cleanuppod.pod(job, obs.spec, obs.status.attempts or 0,
                                                     plan.cleanup, d.cfg))
    # an attempt's Created, by name, before the status write that counts the attempt: a
    # restart that finds the Pod but not the count posts it again (`plan.announce`)
    for event in [*plan.events, *([plan.announce] if plan.announce else [])]:
        if event.key:
            await d.poster.post_once(event_target(job), event)
    for pod in plan.delete:
        logger.info("Deleting runner Pod %s/%s", job.namespace, pod.name)
        batch = queue_act.made_by_job(job, pod.name, pod.attempt)
        if batch is not None:  # a queued attempt's Pod: its Job would replace it
            await queue_act.cancel(d, job.namespace, batch)
        await d.api.delete_pod(job.namespace, pod.name, uid=pod.uid)
    for pod in plan.force_delete:
        logger.warning("Force-deleting runner Pod %s/%s (grace 0, Node %s not Ready)",
                       job.namespace, pod.name, pod.node_name)
        await d.api.delete_pod(job.namespace, pod.name, uid=pod.uid, grace_seconds=0)
    if plan.status is not None:
        patch = conditions.merge_patch(obs.status, plan.status)
        if patch:
            try:
                d.informer.wrote_job(await d.api.patch_job_status(job.namespace, job.name, patch))
            except errors.NotFound:
                return None  # deleted meanwhile
            d.memory.last_write[key] = d.monotonic()
            await d.invalidate(job.namespace, job.name)
    if plan.notify:
        await notify_control.deliver(d, obs, plan, plan.status or obs.status)
    for event in plan.events:
        if not event.key:
            d.poster.post(event_target(job), event)
    _metrics(d, obs, plan)
    await _gates(d, obs, plan)
    if plan.delete_job:
        await d.api.delete_job(job.namespace, job.name, uid=job.uid)
    if plan.remove_finalizer:
        await _set_finalizer(d, key, add=False)
        d.metrics.job_removed(job.uid)
        d.memory.forget(key)
        await d.invalidate(job.namespace, job.name)
    return plan.requeue


async def _set_finalizer(d: deps_module.Deps, key: tuple[str, str], *, add: bool) -> None:
    body = d.informer.job(key)
    if body is None:
        return
    meta = body["metadata"]
    current = [f for f in meta.get("finalizers") or [] if f != constants.FINALIZER]
    wanted = [*current, constants.FINALIZER] if add else current
    logger.info("%s the finalizer of %s/%s", "Adding" if add else "Removing", *key)
    patch = {"metadata": {"finalizers": wanted or None,
                          "resourceVersion": meta.get("resourceVersion")}}
    try:
        d.informer.wrote_job(await d.api.patch_job(key[0], key[1], patch))
    except errors.Conflict:
        raise errors.Wait("the job changed meanwhile", 0.2) from None
    except errors.NotFound:
        return


async def _create(d: deps_module.Deps, key: tuple[str, str], job: builders.JobRef,
                  manifest: dict[str, Any]) -> bool:
    """Create the Pod; an existing one of ours (409) is adopted. False: refused (4xx)."""
    name = manifest["metadata"]["name"]
    try:
        created = await d.api.create_pod(job.namespace, manifest)
    except errors.Conflict:
        existing = await d.api.get_pod(job.namespace, name)
        pod = podstate.view(existing) if existing is not None else None
        if pod is None or pod.owner_uid != job.uid:
            raise errors.Wait(f"Pod {name} exists and belongs to another object", 5.0) from None
        d.informer.wrote_pod(pod)
        logger.info("Adopted existing runner Pod %s/%s", job.namespace, name)
        return True
    except errors.ApiError as exc:
        if exc.transient or exc.status not in REFUSED:
            raise
        d.memory.refused(key, exc, "Pod", d.monotonic())
        return False
    d.memory.quota.pop(key, None)
    d.informer.wrote_pod(podstate.view(created))
    return True


async def _create_cleanup(d: deps_module.Deps, key: tuple[str, str],
                          manifest: dict[str, Any]) -> None:
    """Create a deleted job's cleanup Pod: one of ours that exists (409) is the one; a
    4xx refusal, or a Pod of that name that is not ours, is remembered (the next turn
    releases the job with a Warning)."""
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    try:
        created = await d.api.create_pod(namespace, manifest)
    except errors.Conflict:
        existing = await d.api.get_pod(namespace, name)
        pod = podstate.view(existing) if existing is not None else None
        if pod is not None and pod.cleanup and pod.owner_uid == manifest["metadata"][
                "ownerReferences"][0]["uid"]:
            d.informer.wrote_pod(pod)  # ours, made before a restart
        elif pod is not None:
            d.memory.cleanup_refused[key] = (f"cleanup Pod {name} exists and belongs to "
                                             "another object")
        return
    except errors.ApiError as exc:
        if exc.transient or exc.status not in REFUSED:
            raise
        words = exc.message or exc.reason
        d.memory.cleanup_refused[key] = f"the API server refused the cleanup Pod {name}: {words}"
        return
    logger.info("Created cleanup Pod %s/%s (aborts open multipart uploads)", namespace, name)
    d.informer.wrote_pod(podstate.view(created))


def _metrics(d: deps_module.Deps, obs: observation.Observed, plan: actions.Plan) -> None:
    status = plan.status or obs.status
    if status.phase is not None:
        d.metrics.job_phase(obs.job.uid, status.phase.value)
    if plan.create is not None and plan.create.attempt > 1:
        why = next((e.reason for e in plan.events if e.reason != "Created"), "Retrying")
        if why != "Resumed":  # a resume is no failure
            d.metrics.observe_retry(why)
    if plan.finished is not None:
        meta = status.metadata
        started, ended = status.start_time, status.completion_time
        d.metrics.observe_result(
            result=status.phase.value if status.phase else "Failed",
            encoder=(meta.encoder_used if meta else None) or "",
            fallback_reason=(meta.fallback_reason.value if meta and meta.fallback_reason
                             else None),
            duration_seconds=(ended - started).total_seconds() if started and ended else None,
            speed=meta.processing_speed if meta else None)


async def _gates(d: deps_module.Deps, obs: observation.Observed, plan: actions.Plan) -> None:
    """Free the slot and locks of a finished job; hold them while its Pod runs.

    Pending progress is dropped, not flushed: the final status (100% or the
    failure) is written and a late progress write must not undo it.
    """
    job, spec = obs.job, obs.spec
    if plan.release:
        if d.limiter is not None:
            await d.limiter.release(job.namespace, job.uid)
        if d.locks is not None and spec is not None:
            await d.locks.release(locks_module.objects(spec), observe.owner(job))
        d.memory.holding.discard(job.uid)
        d.memory.progress.pop((job.namespace, job.name), None)
        if d.relay is not None:
            d.relay.forget(job.namespace, job.name)
    if plan.track and spec is not None:
        if d.relay is not None:
            d.relay.track(job.namespace, job.name, plan.track)
        if d.locks is not None and job.uid not in d.memory.holding:
            # after a restart: take our own locks again so that they are renewed
            await d.locks.acquire(locks_module.objects(spec), observe.owner(job))
            d.memory.holding.add(job.uid)
