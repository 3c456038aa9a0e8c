"""One loop per TranscodeJob: observe, plan, act, sleep until something changes.

`handlers.job_daemon` (a kopf daemon per job) calls `run`; the loop wakes when
a Pod or job event arrives (`context.Wakers`) or when the plan's own timer
falls due (GPU pending timeout, backoff, deadline, TTL, progress throttle).
Each `step` reads the job's live body and its runner Pods (kopf's Pod index,
plus what this loop created or read itself, whichever is fresher), asks
`reconcile.plan`, passes a Pod start through the gates (credentials Secret,
namespace rate limit, output locks) and carries the plan out: create, then
delete, then one status merge patch, then Events. `finalize` is the
finalizer's work when a job is deleted. Nothing here keeps state that a
restart would need: it is all in the job's status and its Pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pydantic

from transcode_api import errors as api_errors
from transcode_api import spec as job_spec
from transcode_api import status as job_status
from transcode_operator import (
    builders,
    conditions,
    context,
    decisions,
    errors,
    podstate,
    reconcile,
)
from transcode_operator import locks as locks_module

logger = logging.getLogger(__name__)
PodSource = Callable[[str, str], Iterable[podstate.PodView]]
MAX_ERROR_DELAY = 60.0


class Stopped(Protocol):
    """kopf's daemon stop flag: falsy until the daemon is to stop."""

    def __bool__(self) -> bool: ...


@dataclass
class LoopState:
    """What one loop remembers between steps (an optimisation, never a source of truth)."""

    written: tuple[str, dict[str, Any]] | None = None
    """(resourceVersion, status) of our last status patch, until the watch shows it."""
    pods: dict[str, podstate.PodView] = field(default_factory=dict)
    """Pods this loop created or read, until the index catches up."""
    last_write: float | None = None
    errors: int = 0
    locks_renewed: bool = False
    spec: tuple[Any, job_spec.TranscodeJobSpec | None, str | None] | None = None
    """(generation, spec, error) of the last spec read: parsed once per generation."""


def job_ref(body: Mapping[str, Any]) -> builders.JobRef:
    meta = body.get("metadata") or {}
    return builders.JobRef(str(meta.get("namespace", "")), str(meta.get("name", "")),
                           str(meta.get("uid", "")))


def read_spec(data: Mapping[str, Any] | None) -> tuple[job_spec.TranscodeJobSpec | None, str | None]:
    """The typed spec, ignoring fields this operator does not know; or (None, message)."""
    raw: Any = dict(data or {})
    for _ in range(8):
        try:
            return job_spec.TranscodeJobSpec.model_validate(raw), None
        except pydantic.ValidationError as exc:
            extra = [e["loc"] for e in exc.errors() if e["type"] == "extra_forbidden"]
            if not extra or len(extra) != len(exc.errors()):
                return None, str(api_errors.SpecError.from_validation_error(exc, "spec"))
            for loc in extra:
                _drop(raw, list(loc))
    return None, "invalid TranscodeJob spec: too many unknown fields"


def _drop(data: Any, loc: list[Any]) -> None:
    for part in loc[:-1]:
        data = data[part]
    if isinstance(data, dict):
        data.pop(loc[-1], None)


def read_status(data: Mapping[str, Any] | None) -> job_status.TranscodeJobStatus:
    try:
        return job_status.parse_status(data)
    except api_errors.StatusError:
        logger.warning("Ignoring a status that does not match the model: %s", data)
        return job_status.TranscodeJobStatus()


def freshest(live: Mapping[str, Any],
             written: tuple[str, dict[str, Any]] | None) -> Mapping[str, Any]:
    """The live body, with our last written status if the watch has not shown it yet."""
    if written is None:
        return live
    live_rv = str((live.get("metadata") or {}).get("resourceVersion", ""))
    rv, status = written
    if rv.isdigit() and podstate.rv_newer(rv, live_rv):
        return {**live, "status": status}
    return live


def _current_body(live: Mapping[str, Any], state: LoopState) -> Mapping[str, Any]:
    body = freshest(live, state.written)
    if body is live:
        state.written = None  # the watch caught up: keep no copy
    return body


async def observe_pods(ctx: context.Context, job: builders.JobRef, source: PodSource,
                       state: LoopState, attempts: int,
                       confirm: bool = True) -> tuple[podstate.PodView, ...]:
    """The job's Pods: the index merged with this loop's own reads.

    With `confirm`, a current attempt's Pod missing from both is looked up once
    with a GET, so an index that lags behind never looks like a vanished Pod.
    """
    pods = {p.name: p for p in source(job.namespace, job.name) if p.owner_uid == job.uid}
    for name, mine in list(state.pods.items()):
        seen = pods.get(name)
        if seen is None or podstate.rv_newer(mine.resource_version, seen.resource_version):
            pods[name] = mine if seen is None else podstate.newer(seen, mine)
        else:
            del state.pods[name]  # the index caught up
    attempt = max([attempts, *(p.attempt for p in pods.values())])
    if confirm and attempt and not any(p.attempt == attempt for p in pods.values()):
        raw = await ctx.api.get_pod(job.namespace, builders.pod_name(job.name, attempt))
        if raw is not None:
            pod = podstate.view(raw)
            if pod.owner_uid == job.uid:
                pods[pod.name] = state.pods[pod.name] = pod
    return tuple(sorted(pods.values(), key=lambda p: p.attempt))


async def gates(ctx: context.Context, job: builders.JobRef,
                spec: job_spec.TranscodeJobSpec) -> reconcile.Gate:
    """May a runner Pod start now? Secret present, namespace limits, output locks."""
    ref = spec.storage.credentials_secret_ref
    if ref is not None and ctx.cfg.status.check_credentials_secret:
        try:
            secret = await ctx.api.get_secret(job.namespace, ref.name)
        except errors.Forbidden:
            secret = {"data": {ref.access_key_id_key: "", ref.secret_access_key_key: ""}}
            logger.warning("No RBAC to read Secrets; the kubelet will report missing keys")
        problem = decisions.secret_problem(secret, ref, job.namespace)
        if problem is not None:
            return reconcile.Gate(False, problem[0], problem[1], fatal=True)
    if ctx.limiter is not None:
        decision = await ctx.limiter.acquire(job.namespace, job.uid)
        if not decision.allowed:
            return reconcile.Gate(False, "RateLimited",
                                  f"namespace {job.namespace}: {decision.reason}; asking again "
                                  f"in {decision.retry_after:.0f}s", decision.retry_after)
    if ctx.locks is not None:
        result = await ctx.locks.acquire([o.destination for o in spec.outputs], _owner(job))
        if not result.acquired:
            if ctx.limiter is not None:
                await ctx.limiter.release(job.namespace, job.uid)
            held = "; ".join(f"{d} by {o.holder}" for d, o in sorted(result.held_by.items()))
            return reconcile.Gate(False, "OutputLocked", f"output locked: {held}",
                                  ctx.locks.retry_after)
    return reconcile.Gate(True)


def _owner(job: builders.JobRef) -> locks_module.LockOwner:
    return locks_module.LockOwner(token=job.uid, holder=f"{job.namespace}/{job.name}")


async def release(ctx: context.Context, job: builders.JobRef,
                  spec: job_spec.TranscodeJobSpec | None) -> None:
    """Free the job's rate-limit slot and output locks; stop relaying its progress.

    Pending progress is dropped, not flushed: the final status (100% or the
    failure) is already written and a late progress patch must not undo it.
    """
    if ctx.limiter is not None:
        await ctx.limiter.release(job.namespace, job.uid)
    if ctx.locks is not None and spec is not None:
        await ctx.locks.release([o.destination for o in spec.outputs], _owner(job))
    if ctx.relay is not None:
        ctx.relay.forget(job.namespace, job.name)


async def create_pod(ctx: context.Context, job: builders.JobRef, manifest: dict[str, Any],
                     state: LoopState) -> None:
    """Create the Pod; an existing one of ours (409) is adopted, never duplicated."""
    name = manifest["metadata"]["name"]
    try:
        created = await ctx.api.create_pod(job.namespace, manifest)
    except errors.Conflict:
        existing = await ctx.api.get_pod(job.namespace, name)
        pod = podstate.view(existing) if existing is not None else None
        if pod is None or pod.owner_uid != job.uid:
            raise errors.Wait(f"Pod {name} exists and belongs to another object", 5.0) from None
        state.pods[name] = pod
        logger.info("Adopted existing runner Pod %s/%s", job.namespace, name)
        return
    pod = state.pods[name] = podstate.view(created)
    ctx.wakers.seen(pod.uid, pod.signature)


async def step(ctx: context.Context, live: Mapping[str, Any], source: PodSource,
               state: LoopState) -> float | None:
    """One observe-plan-act round; returns seconds until the next timer (None: none)."""
    body = _current_body(live, state)
    meta = body.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return None  # the finalizer handles it
    job = job_ref(body)
    generation = meta.get("generation")
    if state.spec is None or state.spec[0] != generation or generation is None:
        state.spec = (generation, *read_spec(body.get("spec")))
    _, spec, spec_error = state.spec
    status = read_status(body.get("status"))
    pods = await observe_pods(ctx, job, source, state, status.attempts or 0,
                              confirm=status.phase not in conditions.TERMINAL)
    obs = reconcile.Observed(job=job, generation=generation, spec=spec,
                             spec_error=spec_error, status=status, pods=pods, now=ctx.now(),
                             relay_progress=ctx.relay is not None)
    plan = reconcile.plan(obs, ctx.cfg)
    if plan.create is not None and plan.gate and spec is not None:
        gate = await gates(ctx, job, spec)
        if not gate.ok:
            plan = reconcile.gated(obs, plan, gate)
    if plan.create is not None and spec is not None:
        manifest = builders.pod(job, spec, plan.create, ctx.cfg)
        try:
            await create_pod(ctx, job, manifest, state)
        except errors.ApiError as exc:
            if exc.transient or exc.status not in (400, 403, 422):
                raise
            plan = reconcile.fail(obs, "PodRejected", f"the API server refused the runner Pod: "
                                  f"{exc.message or exc.reason}", reconcile.R.FAILED)
    for pod in plan.delete:
        await ctx.api.delete_pod(job.namespace, pod.name, uid=pod.uid)
    requeue = plan.requeue
    if plan.status is not None:
        requeue = _min(requeue, await _write_status(ctx, job, status, plan, state))
    for event in plan.events:
        ctx.poster.post(body, event)
    await _side_effects(ctx, job, spec, plan, state, plan.status or status)
    return requeue


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


async def _write_status(ctx: context.Context, job: builders.JobRef,
                        old: job_status.TranscodeJobStatus, plan: reconcile.Plan,
                        state: LoopState) -> float | None:
    assert plan.status is not None
    patch = conditions.merge_patch(old, plan.status)
    if not patch:
        return None
    now = ctx.monotonic()
    interval = ctx.cfg.status.progress_interval_seconds
    if plan.throttled and state.last_write is not None and now - state.last_write < interval:
        return interval - (now - state.last_write)
    try:
        response = await ctx.api.patch_job_status(job.namespace, job.name, patch)
    except errors.NotFound:
        return None  # deleted meanwhile
    rv = str((response.get("metadata") or {}).get("resourceVersion", ""))
    if rv:
        ctx.wakers.wrote((job.namespace, job.name), rv)
    # Until the watch shows this write, steps use this status; a finished job needs
    # no such bridge (nothing would act on it), so it keeps nothing.
    terminal = plan.status.phase in conditions.TERMINAL
    state.written = (rv, response.get("status") or {}) if rv and not terminal else None
    state.last_write = now
    await ctx.invalidate(job.namespace, job.name)
    return None


async def _side_effects(ctx: context.Context, job: builders.JobRef,
                        spec: job_spec.TranscodeJobSpec | None, plan: reconcile.Plan,
                        state: LoopState, status: job_status.TranscodeJobStatus) -> None:
    if status.phase is not None:
        ctx.metrics.job_phase(job.uid, status.phase.value)
    if plan.create is not None and plan.create.attempt > 1:
        why = next((e.reason for e in plan.events if e.reason != "Created"), "Retrying")
        if why != "Resumed":  # a resume is no failure
            ctx.metrics.job_retries.labels(reason=why).inc()
    if plan.finished is not None:
        meta = status.metadata
        started, ended = status.start_time, status.completion_time
        ctx.metrics.observe_result(
            result=status.phase.value if status.phase else "Failed",
            encoder=(meta.encoder_used if meta else None) or "",
            fallback_reason=(meta.fallback_reason.value if meta and meta.fallback_reason
                             else None),
            duration_seconds=(ended - started).total_seconds() if started and ended else None,
            speed=meta.processing_speed if meta else None)
    if plan.release:
        await release(ctx, job, spec)
    if plan.track and spec is not None:
        if ctx.relay is not None:
            ctx.relay.track(job.namespace, job.name)
        if ctx.locks is not None and not state.locks_renewed:
            # after a restart: take our own locks again so they are renewed
            await ctx.locks.acquire([o.destination for o in spec.outputs], _owner(job))
            state.locks_renewed = True
    if plan.delete_job:
        await ctx.api.delete_job(job.namespace, job.name, uid=job.uid)


async def run(ctx: context.Context, live: Mapping[str, Any], source: PodSource,
              stopped: Stopped) -> None:
    """Step the job until kopf stops this daemon (job deleted, operator exiting).

    It waits on its waker only (no task of its own per job: a thousand idle jobs
    cost a thousand daemon tasks, nothing more). kopf's stop comes with a watch
    event of the job (deletion) that wakes it, or, when the operator exits, as a
    cancellation after the daemon's short cancellation timeout; a step cut short
    anywhere is safe, as after a crash.
    """
    job = job_ref(live)
    key = (job.namespace, job.name)
    wake = ctx.wakers.register(key)
    state = LoopState()
    try:
        while not stopped:
            wake.clear()
            try:
                async with ctx.steps or contextlib.nullcontext():
                    delay = await step(ctx, live, source, state)
                state.errors = 0
            except errors.Wait as exc:
                delay = exc.delay
            except Exception:
                state.errors += 1
                delay = min(2.0 ** state.errors, MAX_ERROR_DELAY)
                logger.exception("Job %s/%s: step failed; again in %.0fs", *key, delay)
            if stopped:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wake.wait()
    finally:
        ctx.wakers.unregister(key, wake)


async def finalize(ctx: context.Context, body: Mapping[str, Any], source: PodSource) -> None:
    """The finalizer: stop the runner Pods, wait until none runs, free slot and locks.

    Pods get SIGTERM and their grace period; the runner aborts its unfinished
    multipart uploads on SIGTERM. Raises `errors.Wait` while a Pod still runs
    (kopf calls again), so the job disappears only after its Pods stopped.
    """
    job = job_ref(body)
    spec, _ = read_spec(body.get("spec"))
    listed = await ctx.api.list_pods(job.namespace, f"{builders.JOB_UID_LABEL}={job.uid}")
    pods = {p.name: p for p in source(job.namespace, job.name) if p.owner_uid == job.uid}
    pods.update({v.name: v for v in map(podstate.view, listed)})
    running = [p for p in pods.values() if not p.ended]
    for pod in running:
        if not pod.deleting:
            await ctx.api.delete_pod(job.namespace, pod.name, uid=pod.uid)
    if running:
        raise errors.Wait(f"waiting for {len(running)} runner Pod(s) to stop: "
                          + ", ".join(p.name for p in running), 2.0)
    await release(ctx, job, spec)
    ctx.metrics.job_removed(job.uid)
    await ctx.invalidate(job.namespace, job.name)
