"""The job's state machine: from one observation to the actions of this turn (pure).

`control.observe` gathers an `observation.observation.Observed` (the job, its Pods, the
Secret check, limiter and lock answers, relayed progress, what this process
wrote last) and `control.act` carries out the `actions.Plan` that `plan(obs,
settings)` returns, in a fixed order; nothing is re-planned after I/O except on
the key's next queue turn. All state lives in the cluster: the attempt number
is the largest of `status.attempts` and the Pods' attempt labels, failures that
count against backoffLimit are the ended Pods classified transient, and a
scheduling fallback is recorded on the CPU Pod itself (annotation) and in
`status.metadata`, so a restarted operator decides exactly as the old one
would have and never creates a second Pod for an attempt. `control.observe`
asks the start gates when `starts.needs_gates` says a Pod may start; a plan that
wants to start without their answer asks for them (`Plan.ask_gates`) and the
next turn's observation has them.
"""

from __future__ import annotations

from transcode_api import constants, provenance
from transcode_api import spec as job_spec
from transcode_api import status as job_status
from transcode_operator.domain import (
    actions,
    builders,
    conditions,
    credentials,
    decisions,
    observation,
    podstate,
    starts,
)
from transcode_operator.domain import events as ev
from transcode_operator.domain import settings as settings_module

P = constants.Phase
S = constants.ConditionStatus
R = ev.Reason
GPU_UNSCHEDULABLE = constants.FallbackReason.GPU_UNSCHEDULABLE
WAIT_DELETING = 5.0  # re-check a Pod being deleted this often (its events wake us sooner)
WAIT_STOPPING = 2.0  # the finalizer re-checks stopping Pods this often


# --- the entry point --------------------------------------------------------------------
def plan(obs: observation.Observed, cfg: settings_module.Settings) -> actions.Plan:
    """The actions of this turn for one job (see the module docstring)."""
    if obs.deleting:
        return finalize(obs)
    result = _decide(obs, cfg)
    if result.create is not None and result.gate:
        if obs.gate is None:  # ask the gates; this turn does nothing else
            result = actions.Plan(ask_gates=True, requeue=0.0)
        elif not obs.gate.ok:
            result = gated(obs, result, obs.gate)
    result.add_finalizer = not obs.has_finalizer
    if result.status is not None and result.throttled and obs.since_write is not None:
        interval = cfg.status.progress_interval_seconds
        if obs.since_write < interval:  # at most one progress-like write per interval
            result.status = None
            result.wake_in(interval - obs.since_write)
    return result


def _decide(obs: observation.Observed, cfg: settings_module.Settings) -> actions.Plan:
    st = obs.status
    if obs.rejected is not None and st.phase not in conditions.TERMINAL:
        return fail(obs, "PodRejected", obs.rejected, R.FAILED)
    if obs.spec is None:
        if st.phase == P.FAILED:
            return actions.Plan(delete=starts.active(obs.pods))
        return fail(obs, "InvalidSpec", obs.spec_error or "the spec cannot be read", R.INVALID_SPEC)
    spec = obs.spec
    if st.phase in conditions.TERMINAL:
        return _finished(obs, spec)
    attempt = max([st.attempts or 0, *(p.attempt for p in obs.pods)])
    current = next((p for p in obs.pods if p.attempt == attempt), None)
    stale = [p for p in obs.pods if p.attempt < attempt and p.active]

    deadline = None if spec.suspend else decisions.deadline_due(spec, st.start_time, obs.now)
    if deadline is not None and deadline <= 0:
        message = f"the job ran longer than activeDeadlineSeconds={spec.active_deadline_seconds}"
        return fail(obs, "DeadlineExceeded", message, R.DEADLINE_EXCEEDED)
    if spec.suspend:
        result = _suspended(obs)
    elif current is None:
        result = starts.no_current_pod(obs, spec, cfg, attempt)
    elif current.deleting:
        result = actions.Plan(requeue=WAIT_DELETING)
    elif current.ended:
        result = _ended(obs, spec, cfg, current)
    else:
        result = _active_pod(obs, spec, cfg, current)
    result.delete.extend(p for p in stale if p not in result.delete)
    result.wake_in(deadline)
    if result.status is not None and result.status.phase in conditions.TERMINAL \
            and spec.ttl_seconds_after_finished is not None:
        result.wake_in(max(spec.ttl_seconds_after_finished, 0.001))  # then _finished deletes
    if attempt and current is not None:
        result.status = _recorded(obs, result.status or st, current)
        if result.status == st:
            result.status = None
    return result


def _recorded(obs: observation.Observed, status: job_status.TranscodeJobStatus,
              current: podstate.PodView) -> job_status.TranscodeJobStatus:
    """`status` with the attempt bookkeeping that a Pod proves (after a crash before the
    status write that should have followed the Pod's creation)."""
    update: dict[str, object] = {}
    if (status.attempts or 0) < current.attempt:
        update["attempts"] = current.attempt
        update["pod_name"] = current.name
    if status.start_time is None:
        first = min((p.created for p in obs.pods if p.created), default=None)
        update["start_time"] = conditions.now_utc(first or obs.now)
    return status.model_copy(update=update) if update else status


def gated(obs: observation.Observed, planned: actions.Plan, gate: observation.Gate) -> actions.Plan:
    """`planned` (a start) after the gates refused it: wait in Pending, or fail."""
    if gate.fatal:
        return fail(obs, gate.reason, gate.message, R.CONFIG_ERROR)
    state = starts.job_state(obs, P.PENDING, gate.reason, gate.message)
    result = actions.Plan(status=starts.with_state(obs, state), delete=planned.delete, requeue=gate.retry_after)
    if obs.status.reason != gate.reason:
        reason = R.RATE_LIMITED if gate.reason == "RateLimited" else R.OUTPUT_LOCKED
        result.events.append(ev.Event.normal(reason, gate.message))
    return result


# --- Pods that run or wait ---------------------------------------------------------------
def _active_pod(obs: observation.Observed, spec: job_spec.TranscodeJobSpec, cfg: settings_module.Settings,
                pod: podstate.PodView) -> actions.Plan:
    config_due = decisions.config_error_due(pod, cfg, obs.now)
    if config_due is not None and config_due <= 0:
        masked = credentials.kubelet_message(spec.storage.credentials_secret_ref, pod.config_error)
        if masked is not None:
            return fail(obs, credentials.REASON, masked, R.CONFIG_ERROR)
        message = f"runner Pod {pod.name} cannot start: {pod.config_error}"
        return fail(obs, "CreateContainerConfigError", message, R.CONFIG_ERROR)
    gpu_due = decisions.gpu_pending_due(pod, spec, obs.now)
    if gpu_due is not None and gpu_due <= 0:
        return _gpu_timeout(obs, spec, cfg, pod)
    result = actions.Plan(track=pod.uid if pod.phase == "Running" else None)
    result.wake_in(config_due)
    result.wake_in(gpu_due)
    if pod.phase != "Running":
        if pod.unschedulable_message:
            reason = "WaitingForGPU" if pod.gpu else "Unschedulable"
            message = f"runner Pod {pod.name} is Unschedulable: {pod.unschedulable_message}"
        else:
            reason = "PodCreated"
            message = credentials.kubelet_message(spec.storage.credentials_secret_ref,
                                                  pod.config_error) or \
                pod.waiting_message or pod.waiting_reason or \
                f"runner Pod {pod.name} is {'starting' if pod.scheduled else 'being scheduled'}"
        new = starts.with_state(obs, starts.job_state(obs, P.SCHEDULING, reason, message))
        if conditions.merge_patch(obs.status, new).keys() - {"message", "conditions"}:
            result.status = new  # a changed message alone is not worth a write
        return result
    runner = obs.status.runner
    mine = runner if runner is not None and runner.attempt == pod.attempt else None
    phase = P.UPLOADING if mine and mine.phase == constants.RunnerPhase.UPLOADING else P.RUNNING
    fields: dict[str, object] = {}
    progress = obs.progress if obs.relay_progress else (mine.progress if mine else None)
    if progress is not None:
        fields["progress"] = progress
    state = starts.job_state(obs, phase, phase.value, f"runner Pod {pod.name} is {phase.value.lower()}")
    result.status = starts.with_state(obs, state, **fields)
    result.throttled = True
    return result


def _gpu_timeout(obs: observation.Observed, spec: job_spec.TranscodeJobSpec, cfg: settings_module.Settings,
                 pod: podstate.PodView) -> actions.Plan:
    timeout = spec.acceleration.gpu_pending_timeout
    why = f"GPU Pod {pod.name} stayed Unschedulable for {timeout}: {pod.unschedulable_message}"
    if spec.acceleration.allow_cpu_fallback:
        request = builders.PodRequest(pod.attempt + 1, False, GPU_UNSCHEDULABLE.value)
        result = starts.start(obs, request, ev.Event.warning(
            R.FALLBACK_TO_CPU, f"{why}; running attempt {request.attempt} on the CPU"),
            fallback_message=why)
        result.delete.append(pod)
        return result
    message = f"{why}; waiting for a GPU because acceleration.allowCpuFallback is false"
    state = starts.job_state(obs, P.PENDING, "GPUUnschedulable", message,
                   gpu=conditions.GpuState(S.UNKNOWN, "GPUUnschedulable", message))
    result = actions.Plan(status=starts.with_state(obs, state), requeue=60.0)
    if obs.status.reason != "GPUUnschedulable":
        result.events.append(ev.Event.warning(R.GPU_UNSCHEDULABLE, message))
    return result


# --- Pods that ended ---------------------------------------------------------------------
def _ended(obs: observation.Observed, spec: job_spec.TranscodeJobSpec, cfg: settings_module.Settings,
           pod: podstate.PodView) -> actions.Plan:
    end = decisions.classify_end(pod)
    if end.kind is decisions.EndKind.SUCCEEDED:
        return succeed(obs, pod, end)
    if end.kind is decisions.EndKind.BAD_INPUT:
        return fail(obs, end.reason, end.message, R.FAILED, end=end)
    request = builders.PodRequest(pod.attempt + 1, pod.gpu,
                                  None if pod.gpu else pod.fallback_reason)
    if end.kind is decisions.EndKind.DISRUPTED:
        return starts.start(obs, request, ev.Event.warning(
            R.DISRUPTED, f"{end.message}; starting attempt {request.attempt} "
                         "(not counted as a failure)"))
    failures = decisions.counted_failures(obs.pods)
    if failures > spec.backoff_limit:
        message = (f"{failures} failed attempts exceed backoffLimit={spec.backoff_limit}; "
                   f"last: {end.message}")
        return fail(obs, "BackoffLimitExceeded", message, R.BACKOFF_LIMIT_EXCEEDED, end=end)
    delay = decisions.backoff_delay(failures, cfg)
    finished = pod.terminated.finished_at if pod.terminated else None
    wait = delay - decisions.seconds(obs.now - (finished or obs.now))
    notice = ev.Event.warning(R.RETRYING, f"{end.message}; retry {failures} of "
                                          f"{spec.backoff_limit} after {delay:g}s backoff")
    announced = obs.status.reason == "Retrying"
    if wait > 0:
        state = starts.job_state(obs, P.PENDING, "Retrying", notice.message)
        return actions.Plan(status=starts.with_state(obs, state), requeue=wait,
                    events=[] if announced else [notice])
    return starts.start(obs, request, *([] if announced else [notice]))


def succeed(obs: observation.Observed, pod: podstate.PodView, end: decisions.End) -> actions.Plan:
    result = end.result
    meta = result.metadata if result and result.metadata else None
    if pod.fallback_reason == GPU_UNSCHEDULABLE:
        prior = obs.status.metadata
        meta = provenance.scheduling_fallback(meta, prior.fallback_message if prior else None)
    message = end.message if result else \
        f"runner Pod {pod.name} exited 0 without a readable result in its termination message"
    state = starts.job_state(obs, P.SUCCEEDED, "TranscodeSucceeded", message,
                   gpu=conditions.gpu_state_for_result(meta))
    progress = (obs.status.progress or job_status.Progress()).model_copy(update={"percent": 100})
    fields: dict[str, object] = {"progress": progress, "pod_name": pod.name}
    if result is not None:
        fields["outputs"] = list(result.outputs)
    if meta is not None:
        fields["metadata"] = meta
    if pod.terminated and pod.terminated.finished_at:
        fields["completion_time"] = conditions.now_utc(pod.terminated.finished_at)
    notes = ev.output_notes(result.outputs) if result is not None else []
    return actions.Plan(status=starts.with_state(obs, state, **fields), release=True, finished=end,
                        events=[ev.Event.normal(R.SUCCEEDED, message), *notes])


def fail(obs: observation.Observed, reason: str, message: str, event_reason: ev.Reason, *,
         end: decisions.End | None = None) -> actions.Plan:
    """End the job Failed: stop its Pods, free its slot and locks, say why."""
    reason = conditions.reason_word(reason, "Failed")
    state = starts.job_state(obs, P.FAILED, reason, message)
    fields: dict[str, object] = {}
    if end is not None and end.result is not None and end.result.metadata is not None:
        fields["metadata"] = end.result.metadata
    finished = end or decisions.End(decisions.EndKind.BAD_INPUT, reason, message, None, None)
    return actions.Plan(status=starts.with_state(obs, state, **fields), delete=starts.active(obs.pods), release=True,
                finished=finished, events=[ev.Event.warning(event_reason, message)])


def _suspended(obs: observation.Observed) -> actions.Plan:
    result = actions.Plan(delete=starts.active(obs.pods), release=True)
    state = starts.job_state(obs, P.PENDING, "Suspended", "spec.suspend is true: no runner Pod runs",
                   suspended=True)
    result.status = starts.with_state(obs, state)
    if obs.status.reason != "Suspended":
        stopped = ", ".join(p.name for p in result.delete)
        result.events.append(ev.Event.normal(
            R.SUSPENDED, f"suspended; stopped {stopped}" if stopped else "suspended"))
    return result


def finalize(obs: observation.Observed) -> actions.Plan:
    """The job is being deleted: stop its Pods, wait until none runs, then let it go.

    Pods get SIGTERM and their grace period (the runner aborts its unfinished
    multipart uploads); the finalizer is removed only after every Pod ended.
    """
    running = [p for p in obs.pods if not p.ended]
    if not obs.has_finalizer:
        return actions.Plan(release=True)
    if running:
        return actions.Plan(delete=[p for p in running if not p.deleting], requeue=WAIT_STOPPING)
    return actions.Plan(release=True, remove_finalizer=True)


def _finished(obs: observation.Observed, spec: job_spec.TranscodeJobSpec) -> actions.Plan:
    result = actions.Plan(delete=starts.active(obs.pods))
    due = decisions.ttl_due(spec, obs.status.completion_time, obs.now)
    if due is not None and due <= 0:
        result.delete_job = True
        result.events.append(ev.Event.normal(
            R.TTL_EXPIRED, f"deleting the job ttlSecondsAfterFinished="
                           f"{spec.ttl_seconds_after_finished} after it finished"))
    else:
        result.wake_in(due)
    return result
