"""The job's state machine: from what is observed to what should happen next (pure).

`jobloop.step` observes a TranscodeJob (its live body, parsed) and its runner
Pods, calls `plan(observed, settings)`, runs the start gates when the plan
wants a Pod (`gated` turns a refusal into a waiting or failed plan) and
carries the `Plan` out. All state lives in the cluster: the attempt number is
the largest of `status.attempts` and the Pods' attempt labels, failures that
count against backoffLimit are the ended Pods classified transient, and a
scheduling fallback is recorded on the CPU Pod itself (annotation) and in
`status.metadata` — so a restarted operator decides exactly as the old one
would have, and never creates a second Pod for an attempt.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from transcode_api import constants
from transcode_api import spec as job_spec
from transcode_api import status as job_status
from transcode_operator import builders, conditions, decisions, podstate
from transcode_operator import events as ev
from transcode_operator import settings as settings_module

P = constants.Phase
S = constants.ConditionStatus
R = ev.Reason
GPU_UNSCHEDULABLE = constants.FallbackReason.GPU_UNSCHEDULABLE
WAIT_DELETING = 5.0  # re-check a Pod being deleted this often (its events wake us sooner)


@dataclass(frozen=True)
class Observed:
    """Everything `plan` looks at, read at one moment."""

    job: builders.JobRef
    generation: int | None
    spec: job_spec.TranscodeJobSpec | None
    spec_error: str | None
    status: job_status.TranscodeJobStatus
    pods: tuple[podstate.PodView, ...]
    now: datetime.datetime
    relay_progress: bool = False
    """True when the Redis relay writes status.progress (the loop then does not)."""


@dataclass
class Plan:
    """What to do now; the job loop carries it out in this order: create, delete, status."""

    status: job_status.TranscodeJobStatus | None = None
    throttled: bool = False
    """The status change is progress-like (phase Running/Uploading, progress): at most one
    such patch per progress interval."""
    create: builders.PodRequest | None = None
    gate: bool = False
    """The create must pass the start gates (Secret check, rate limit, output locks)."""
    delete: list[podstate.PodView] = field(default_factory=list)
    events: list[ev.Event] = field(default_factory=list)
    release: bool = False
    """Free the rate-limit slot and output locks; stop relaying progress."""
    track: bool = False
    """Relay this job's progress from Redis."""
    delete_job: bool = False
    requeue: float | None = None
    finished: decisions.End | None = None
    """The end that finished the job (for metrics), or None."""

    def wake_in(self, seconds: float | None) -> None:
        if seconds is not None and seconds > 0:
            self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)


@dataclass(frozen=True)
class Gate:
    """The start gates' answer: ok, wait (Pending with a reason) or fail."""

    ok: bool
    reason: str = ""
    message: str = ""
    retry_after: float = 0.0
    fatal: bool = False


def _state(obs: Observed, phase: constants.Phase, reason: str, message: str = "", *,
           gpu: conditions.GpuState | None = None,
           suspended: bool = False) -> conditions.JobState:
    return conditions.JobState(phase, reason, message, suspended, gpu)


def _with(obs: Observed, state: conditions.JobState,
          **fields: object) -> job_status.TranscodeJobStatus:
    return conditions.apply_state(obs.status, state, obs.generation, obs.now, **fields)


def _active(pods: tuple[podstate.PodView, ...]) -> list[podstate.PodView]:
    return [p for p in pods if p.active]


# --- the entry point --------------------------------------------------------------------
def plan(obs: Observed, cfg: settings_module.Settings) -> Plan:
    """The next step for one job (see the module docstring)."""
    st = obs.status
    if obs.spec is None:
        if st.phase == P.FAILED:
            return Plan(delete=_active(obs.pods))
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
        result = _no_current_pod(obs, spec, cfg, attempt)
    elif current.deleting:
        result = Plan(requeue=WAIT_DELETING)
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


def _recorded(obs: Observed, status: job_status.TranscodeJobStatus,
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


# --- starting a Pod ----------------------------------------------------------------------
def _gpu_state(request: builders.PodRequest, message: str = "") -> conditions.GpuState:
    if request.gpu:
        return conditions.GpuState(S.UNKNOWN, "GPURequested", "the runner Pod asked for a GPU")
    if request.fallback_reason:
        return conditions.GpuState(S.FALSE, request.fallback_reason, message)
    return conditions.GpuState(S.FALSE, constants.FallbackReason.CPU_REQUESTED.value,
                               "the job runs on the CPU (acceleration or encoders ask for it)")


def start(obs: Observed, request: builders.PodRequest, *extra: ev.Event,
          fallback_message: str = "", reset_start: bool = False) -> Plan:
    """Create the Pod of `request.attempt` and record it (gated)."""
    name = builders.pod_name(obs.job.name, request.attempt)
    where = "GPU" if request.gpu else "CPU"
    state = _state(obs, P.SCHEDULING, "PodCreated",
                   f"created runner Pod {name} (attempt {request.attempt}, {where})",
                   gpu=_gpu_state(request, fallback_message))
    fields: dict[str, object] = {"attempts": request.attempt, "pod_name": name,
                                 "progress": None}
    if obs.status.start_time is None or reset_start:
        fields["start_time"] = conditions.now_utc(obs.now)
    if request.fallback_reason:
        meta = obs.status.metadata or job_status.JobMetadata()
        fields["metadata"] = meta.model_copy(update={
            "gpu_fallback": True, "gpu_enabled": False,
            "fallback_reason": constants.FallbackReason(request.fallback_reason),
            "fallback_message": fallback_message or None})
    return Plan(status=_with(obs, state, **fields), create=request, gate=True,
                events=[*extra, ev.Event.normal(R.CREATED, state.message)])


def _fallback_of(obs: Observed) -> str | None:
    """GPUUnschedulable when an earlier attempt fell back to the CPU (sticky for retries)."""
    if any(p.fallback_reason == GPU_UNSCHEDULABLE for p in obs.pods):
        return GPU_UNSCHEDULABLE.value
    meta = obs.status.metadata
    if meta is not None and meta.fallback_reason == GPU_UNSCHEDULABLE:
        return GPU_UNSCHEDULABLE.value
    return None


def next_request(obs: Observed, spec: job_spec.TranscodeJobSpec,
                 cfg: settings_module.Settings, attempt: int) -> builders.PodRequest:
    fallback = _fallback_of(obs)
    gpu = decisions.wants_gpu(spec, cfg) and fallback is None
    return builders.PodRequest(attempt, gpu, fallback if not gpu else None)


def _no_current_pod(obs: Observed, spec: job_spec.TranscodeJobSpec,
                    cfg: settings_module.Settings, attempt: int) -> Plan:
    request = next_request(obs, spec, cfg, attempt + 1)
    if attempt == 0:
        return start(obs, request)
    if obs.status.reason == "Suspended":
        return start(obs, request, ev.Event.normal(R.RESUMED, "resumed: starting a new attempt"),
                     reset_start=True)
    if obs.status.reason in ("RateLimited", "OutputLocked"):
        return start(obs, request)
    gone = builders.pod_name(obs.job.name, attempt)
    return start(obs, request, ev.Event.warning(
        R.DISRUPTED, f"runner Pod {gone} disappeared; starting attempt {attempt + 1} "
                     "(not counted as a failure)"))


def gated(obs: Observed, planned: Plan, gate: Gate) -> Plan:
    """`planned` (a start) after the gates refused it: wait in Pending, or fail."""
    if gate.fatal:
        return fail(obs, gate.reason, gate.message, R.CONFIG_ERROR)
    state = _state(obs, P.PENDING, gate.reason, gate.message)
    result = Plan(status=_with(obs, state), delete=planned.delete, requeue=gate.retry_after)
    if obs.status.reason != gate.reason:
        reason = R.RATE_LIMITED if gate.reason == "RateLimited" else R.OUTPUT_LOCKED
        result.events.append(ev.Event.normal(reason, gate.message))
    return result


# --- Pods that run or wait ---------------------------------------------------------------
def _active_pod(obs: Observed, spec: job_spec.TranscodeJobSpec, cfg: settings_module.Settings,
                pod: podstate.PodView) -> Plan:
    config_due = decisions.config_error_due(pod, cfg, obs.now)
    if config_due is not None and config_due <= 0:
        message = f"runner Pod {pod.name} cannot start: {pod.config_error}"
        reason = "SecretNotFound" if "secret" in (pod.config_error or "").lower() \
            else "CreateContainerConfigError"
        return fail(obs, reason, message, R.CONFIG_ERROR)
    gpu_due = decisions.gpu_pending_due(pod, spec, obs.now)
    if gpu_due is not None and gpu_due <= 0:
        return _gpu_timeout(obs, spec, cfg, pod)
    result = Plan(track=pod.phase == "Running")
    result.wake_in(config_due)
    result.wake_in(gpu_due)
    if pod.phase != "Running":
        if pod.unschedulable_message:
            reason = "WaitingForGPU" if pod.gpu else "Unschedulable"
            message = f"runner Pod {pod.name} is Unschedulable: {pod.unschedulable_message}"
        else:
            reason = "PodCreated"
            message = pod.waiting_message or pod.waiting_reason or \
                f"runner Pod {pod.name} is {'starting' if pod.scheduled else 'being scheduled'}"
        new = _with(obs, _state(obs, P.SCHEDULING, reason, message))
        if conditions.merge_patch(obs.status, new).keys() - {"message", "conditions"}:
            result.status = new  # a changed message alone is not worth a write
        return result
    runner = obs.status.runner
    mine = runner if runner is not None and runner.attempt == pod.attempt else None
    phase = P.UPLOADING if mine and mine.phase == constants.RunnerPhase.UPLOADING else P.RUNNING
    fields: dict[str, object] = {}
    if mine and mine.progress is not None and not obs.relay_progress:
        fields["progress"] = mine.progress
    state = _state(obs, phase, phase.value, f"runner Pod {pod.name} is {phase.value.lower()}")
    result.status = _with(obs, state, **fields)
    result.throttled = True
    return result


def _gpu_timeout(obs: Observed, spec: job_spec.TranscodeJobSpec, cfg: settings_module.Settings,
                 pod: podstate.PodView) -> Plan:
    timeout = spec.acceleration.gpu_pending_timeout
    why = f"GPU Pod {pod.name} stayed Unschedulable for {timeout}: {pod.unschedulable_message}"
    if spec.acceleration.allow_cpu_fallback:
        request = builders.PodRequest(pod.attempt + 1, False, GPU_UNSCHEDULABLE.value)
        result = start(obs, request, ev.Event.warning(
            R.FALLBACK_TO_CPU, f"{why}; running attempt {request.attempt} on the CPU"),
            fallback_message=why)
        result.delete.append(pod)
        return result
    message = f"{why}; waiting for a GPU because acceleration.allowCpuFallback is false"
    state = _state(obs, P.PENDING, "GPUUnschedulable", message,
                   gpu=conditions.GpuState(S.UNKNOWN, "GPUUnschedulable", message))
    result = Plan(status=_with(obs, state), requeue=60.0)
    if obs.status.reason != "GPUUnschedulable":
        result.events.append(ev.Event.warning(R.GPU_UNSCHEDULABLE, message))
    return result


# --- Pods that ended ---------------------------------------------------------------------
def _ended(obs: Observed, spec: job_spec.TranscodeJobSpec, cfg: settings_module.Settings,
           pod: podstate.PodView) -> Plan:
    end = decisions.classify_end(pod)
    if end.kind is decisions.EndKind.SUCCEEDED:
        return succeed(obs, pod, end)
    if end.kind is decisions.EndKind.BAD_INPUT:
        return fail(obs, end.reason, end.message, R.FAILED, end=end)
    request = builders.PodRequest(pod.attempt + 1, pod.gpu,
                                  None if pod.gpu else pod.fallback_reason)
    if end.kind is decisions.EndKind.DISRUPTED:
        return start(obs, request, ev.Event.warning(
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
        state = _state(obs, P.PENDING, "Retrying", notice.message)
        return Plan(status=_with(obs, state), requeue=wait,
                    events=[] if announced else [notice])
    return start(obs, request, *([] if announced else [notice]))


def succeed(obs: Observed, pod: podstate.PodView, end: decisions.End) -> Plan:
    result = end.result
    meta = result.metadata if result and result.metadata else None
    if pod.fallback_reason == GPU_UNSCHEDULABLE:
        prior = obs.status.metadata
        meta = (meta or job_status.JobMetadata()).model_copy(update={
            "gpu_fallback": True, "gpu_enabled": False, "fallback_reason": GPU_UNSCHEDULABLE,
            "fallback_message": (prior.fallback_message if prior else None)})
    message = end.message if result else \
        f"runner Pod {pod.name} exited 0 without a readable result in its termination message"
    state = _state(obs, P.SUCCEEDED, "TranscodeSucceeded", message,
                   gpu=conditions.gpu_state_for_result(meta))
    progress = (obs.status.progress or job_status.Progress()).model_copy(update={"percent": 100})
    fields: dict[str, object] = {"progress": progress, "pod_name": pod.name}
    if result is not None:
        fields["outputs"] = list(result.outputs)
    if meta is not None:
        fields["metadata"] = meta
    if pod.terminated and pod.terminated.finished_at:
        fields["completion_time"] = conditions.now_utc(pod.terminated.finished_at)
    return Plan(status=_with(obs, state, **fields), release=True, finished=end,
                events=[ev.Event.normal(R.SUCCEEDED, message)])


def fail(obs: Observed, reason: str, message: str, event_reason: ev.Reason, *,
         end: decisions.End | None = None) -> Plan:
    """End the job Failed: stop its Pods, free its slot and locks, say why."""
    reason = conditions.reason_word(reason, "Failed")
    state = _state(obs, P.FAILED, reason, message)
    fields: dict[str, object] = {}
    if end is not None and end.result is not None and end.result.metadata is not None:
        fields["metadata"] = end.result.metadata
    finished = end or decisions.End(decisions.EndKind.BAD_INPUT, reason, message, None, None)
    return Plan(status=_with(obs, state, **fields), delete=_active(obs.pods), release=True,
                finished=finished, events=[ev.Event.warning(event_reason, message)])


def _suspended(obs: Observed) -> Plan:
    result = Plan(delete=_active(obs.pods), release=True)
    state = _state(obs, P.PENDING, "Suspended", "spec.suspend is true: no runner Pod runs",
                   suspended=True)
    result.status = _with(obs, state)
    if obs.status.reason != "Suspended":
        stopped = ", ".join(p.name for p in result.delete)
        result.events.append(ev.Event.normal(
            R.SUSPENDED, f"suspended; stopped {stopped}" if stopped else "suspended"))
    return result


def _finished(obs: Observed, spec: job_spec.TranscodeJobSpec) -> Plan:
    result = Plan(delete=_active(obs.pods))
    due = decisions.ttl_due(spec, obs.status.completion_time, obs.now)
    if due is not None and due <= 0:
        result.delete_job = True
        result.events.append(ev.Event.normal(
            R.TTL_EXPIRED, f"deleting the job ttlSecondsAfterFinished="
                           f"{spec.ttl_seconds_after_finished} after it finished"))
    else:
        result.wake_in(due)
    return result
