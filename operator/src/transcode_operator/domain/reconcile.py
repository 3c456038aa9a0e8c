"""The job's state machine: from one observation to the actions of this turn (pure).

`control.observe` gathers an `observation.Observed` (the job and its Pods, the
tenant policy's, Secret check's, limiter's and locks' answers, relayed progress,
what this process wrote last, unknown spec fields); `control.act` carries out the
`actions.Plan` that `plan(obs, settings)` returns, in a fixed order; nothing is
re-planned after I/O except on the key's next turn. All state lives in the
cluster: the attempt number is the largest of `status.attempts` and the Pods'
attempt labels, failures that count against backoffLimit are the ended Pods
classified transient, and a scheduling fallback is recorded on the CPU Pod itself
(annotation) and in `status.metadata`, so a restarted operator decides as the old
one would have and never creates a second Pod for an attempt. The start gates are
asked when `starts.needs_gates` says a Pod may start; a plan that wants to start
without their answer asks for them (`Plan.ask_gates`) for the next turn;
`domain.notifications` adds the CloudEvents the stored status makes due.
"""

from __future__ import annotations

from transcode_api import constants
from transcode_api import spec as job_spec
from transcode_api import status as job_status
from transcode_operator.domain import (
    actions,
    builders,
    conditions,
    credentials,
    decisions,
    failurepolicy,
    finalizing,
    notifications,
    observation,
    outcomes,
    podstate,
    queue_plan,
    starts,
    unknown_fields,
)
from transcode_operator.domain import events as ev
from transcode_operator.domain import settings as settings_module

P = constants.Phase
C = constants.ConditionType
S = constants.ConditionStatus
R = ev.Reason
GPU_UNSCHEDULABLE = constants.FallbackReason.GPU_UNSCHEDULABLE
WAIT_DELETING = 5.0  # re-check a Pod being deleted this often (its events wake us sooner)


# --- the entry point --------------------------------------------------------------------
def plan(obs: observation.Observed, cfg: settings_module.Settings) -> actions.Plan:
    """The actions of this turn for one job (see the module docstring)."""
    if obs.deleting:
        return finalizing.finalize(obs, cfg)
    result = _decide(obs, cfg)
    queue_plan.cancel_on_end(obs, result)
    if result.create is not None and obs.quota is not None:
        wait = cfg.failure_policy.quota_retry_seconds - obs.quota[1]
        if wait > 0:
            result = _quota_wait(obs, obs.quota[0], wait)
            notifications.note(obs, cfg, result)
            return result
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
    unknown_fields.note(obs, result)  # after the throttle: its condition and Event go together
    notifications.note(obs, cfg, result)
    return result


def _decide(obs: observation.Observed, cfg: settings_module.Settings) -> actions.Plan:
    st = obs.status
    if obs.rejected is not None and st.phase not in conditions.TERMINAL:
        return outcomes.fail(obs, "PodRejected", obs.rejected, R.FAILED)
    if obs.spec is None:
        if st.phase == P.FAILED:
            return actions.Plan(delete=starts.active(obs.pods))
        return outcomes.fail(obs, "InvalidSpec", obs.spec_error or "the spec cannot be read", R.INVALID_SPEC)
    spec = obs.spec
    if st.phase in conditions.TERMINAL:
        return _finished(obs, spec)
    if obs.refused is not None:  # the tenant policy (domain.tenancy): no Pod, no Secret read
        return outcomes.fail(obs, obs.refused[0].value, obs.refused[1], obs.refused[0])
    attempt = max([st.attempts or 0, *(p.attempt for p in obs.pods)])
    current = next((p for p in obs.pods if p.attempt == attempt), None)
    stale = [p for p in obs.pods if p.attempt < attempt and p.active]

    deadline = None if spec.suspend else decisions.deadline_due(spec, st.start_time, obs.now)
    if deadline is not None and deadline <= 0:
        message = f"the job ran longer than activeDeadlineSeconds={spec.active_deadline_seconds}"
        return outcomes.fail(obs, "DeadlineExceeded", message, R.DEADLINE_EXCEEDED)
    if spec.suspend:
        result = _suspended(obs)
    elif current is None and obs.queued is not None and obs.queued.attempt == attempt:
        result = queue_plan.waiting(obs, spec, cfg, obs.queued)  # Kueue holds it
    elif current is None:
        result = starts.no_current_pod(obs, spec, cfg, attempt)
    elif current.deleting:
        result = actions.Plan(requeue=WAIT_DELETING)
    elif current.ended:
        result = outcomes.ended(obs, spec, cfg, current)
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
    held = starts.hold_first_write(obs, result, current, cfg)
    result.starting = result.create is not None or (
        current is not None and starts.simply_starting(current))
    queued = obs.queued if obs.queued is not None and obs.queued.attempt == attempt else None
    made = current or queued
    if attempt and made is not None and (st.attempts or 0) < attempt and not held:
        # the attempt's Pod (or batch Job) exists, but the status write that follows its
        # Created Event never came: the operator died in between; post it (once, by name;
        # while the first write is held back on purpose, at the turn that writes it)
        result.announce = starts.created_event(obs, attempt, made.gpu)
    return result


def _recorded(obs: observation.Observed, status: job_status.TranscodeJobStatus,
              current: podstate.PodView) -> job_status.TranscodeJobStatus:
    """`status` with the attempt bookkeeping a Pod proves (after a crash before the write)."""
    update: dict[str, object] = {}
    if (status.attempts or 0) < current.attempt:
        update["attempts"] = current.attempt
        update["pod_name"] = current.name
        gpu = next((c for c in status.conditions if c.type == C.GPU_ACCELERATED), None)
        if gpu is None or gpu.reason == "NotStarted":  # the Pod's creation was not recorded
            state = starts.gpu_state(builders.PodRequest(current.attempt, current.gpu,
                                                         current.fallback_reason))
            update["conditions"] = job_status.set_condition(status.conditions, job_status.Condition(
                type=C.GPU_ACCELERATED, status=state.status, reason=state.reason,
                message=state.message or None, observed_generation=obs.generation),
                obs.now)
    if status.start_time is None:
        first = min((p.created for p in obs.pods if p.created), default=None)
        update["start_time"] = conditions.now_utc(first or obs.now)
    return status.model_copy(update=update) if update else status


def gated(obs: observation.Observed, planned: actions.Plan, gate: observation.Gate) -> actions.Plan:
    """`planned` (a start) after the gates refused it: wait in Pending, or fail."""
    if gate.fatal:
        return outcomes.fail(obs, gate.reason, gate.message, R.CONFIG_ERROR)
    state = starts.job_state(obs, P.PENDING, gate.reason, gate.message)
    result = actions.Plan(status=starts.with_state(obs, state), delete=planned.delete, requeue=gate.retry_after)
    if obs.status.reason != gate.reason:
        reason = R.RATE_LIMITED if gate.reason == "RateLimited" else R.OUTPUT_LOCKED
        result.events.append(ev.Event.normal(reason, gate.message))
    return result


def _quota_wait(obs: observation.Observed, words: str, wait: float) -> actions.Plan:
    """A ResourceQuota refused the Pod: stay Pending and try again after `wait` s."""
    message = f"waiting for quota: the API server refused the runner Pod: {words}"
    state = starts.job_state(obs, P.PENDING, "QuotaExceeded", message)
    result = actions.Plan(status=starts.with_state(obs, state), requeue=wait,
                          add_finalizer=not obs.has_finalizer)
    if obs.status.reason != "QuotaExceeded":
        result.events.append(ev.Event.warning(R.QUOTA_EXCEEDED, message))
    return result


# --- Pods that run or wait ---------------------------------------------------------------
def _active_pod(obs: observation.Observed, spec: job_spec.TranscodeJobSpec, cfg: settings_module.Settings,
                pod: podstate.PodView) -> actions.Plan:
    config_due = decisions.config_error_due(pod, cfg, obs.now)
    if config_due is not None and config_due <= 0:
        masked = credentials.kubelet_message(spec.storage.credentials_secret_ref, pod.config_error)
        if masked is not None:
            return outcomes.fail(obs, credentials.REASON, masked, R.CONFIG_ERROR)
        message = f"runner Pod {pod.name} cannot start: {pod.config_error}"
        return outcomes.fail(obs, "CreateContainerConfigError", message, R.CONFIG_ERROR)
    pull_due = failurepolicy.image_pull_due(pod, cfg.failure_policy, obs.now)
    if pull_due is not None and pull_due <= 0:
        message = (f"runner Pod {pod.name} could not pull its image for "
                   f"{cfg.failure_policy.image_pull_timeout_seconds:g}s: "
                   f"{pod.waiting_message or pod.waiting_reason}")
        return outcomes.fail(obs, "ImagePullFailed", message, R.IMAGE_PULL_FAILED)
    gpu_due = decisions.gpu_pending_due(pod, spec, obs.now)
    if gpu_due is not None and gpu_due <= 0:
        return _gpu_timeout(obs, spec, cfg, pod)
    result = actions.Plan(track=pod.uid if pod.phase == "Running" else None)
    result.wake_in(config_due)
    result.wake_in(pull_due)
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


def _suspended(obs: observation.Observed) -> actions.Plan:
    result = actions.Plan(delete=starts.active(obs.pods), release=True)
    result.cancel_queued = obs.queued.name if obs.queued else None
    state = starts.job_state(obs, P.PENDING, "Suspended", "spec.suspend is true: no runner Pod runs",
                   suspended=True)
    result.status = starts.with_state(obs, state)
    if obs.status.reason != "Suspended":
        stopped = ", ".join(p.name for p in result.delete)
        result.events.append(ev.Event.normal(
            R.SUSPENDED, f"suspended; stopped {stopped}" if stopped else "suspended"))
    return result


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
