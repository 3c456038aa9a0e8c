"""What to do while Kueue holds, admits or preempts a queued attempt (pure).

`domain.reconcile` calls `waiting(...)` when the current attempt has no Pod but
has a batch/v1 Job (`queueing.JobView`, with its Workload): suspended and not
admitted, the job is `Queued` with Kueue's own message (kstatus Reconciling
stays True, as for any job in progress); unsuspended, it is `Admitted` until
its Pod appears. A GPU attempt that Kueue has not admitted within
`acceleration.gpuPendingTimeout` is replaced, when `allowCpuFallback` allows it,
by a CPU attempt in `queues.cpu` (reason `GPUQuotaExhausted`; flavours are
never used to fall back); otherwise it stays Queued and says why. A Workload
evicted by Kueue (preemption and the like) shows `Preempted`: its Job is
deleted and the next attempt queued without counting against backoffLimit,
within `failurePolicy.maxDisruptions`.
"""

from __future__ import annotations

from transcode_api import constants
from transcode_api import spec as job_spec
from transcode_operator.domain import (
    actions,
    builders,
    conditions,
    decisions,
    observation,
    outcomes,
    queueing,
    starts,
)
from transcode_operator.domain import events as ev
from transcode_operator.domain import settings as settings_module

P = constants.Phase
S = constants.ConditionStatus
R = ev.Reason
QUOTA = constants.FallbackReason.GPU_QUOTA_EXHAUSTED


def waiting(obs: observation.Observed, spec: job_spec.TranscodeJobSpec,
            cfg: settings_module.Settings, queued: queueing.JobView) -> actions.Plan:
    """The plan for a current attempt that Kueue has not turned into a Pod yet."""
    wl = queued.workload
    poll = cfg.queues.poll_seconds
    if wl is not None and wl.evicted_reason is not None and queued.suspended:
        return _preempted(obs, spec, cfg, queued, wl)
    if not queued.suspended:
        message = f"Kueue admitted batch Job {queued.name}; its runner Pod is being created"
        state = starts.job_state(obs, P.ADMITTED, "Admitted", message)
        return _status(obs, state, poll)
    words = (wl.pending_message or "waiting for Kueue to admit it") if wl is not None else \
        f"Kueue has made no Workload for it yet (is Kueue installed, with LocalQueue " \
        f"{queued.queue} in namespace {obs.job.namespace}?)"
    message = f"batch Job {queued.name} is queued in LocalQueue {queued.queue}: {words}"
    due = _gpu_due(spec, queued, obs)
    if due is not None and due <= 0:
        return _quota_timeout(obs, spec, cfg, queued, message)
    result = _status(obs, starts.job_state(obs, P.QUEUED, "Queued", message), poll)
    result.wake_in(due)
    return result


def _status(obs: observation.Observed, state: conditions.JobState, poll: float) -> actions.Plan:
    new = starts.with_state(obs, state)
    result = actions.Plan(requeue=poll)
    if conditions.merge_patch(obs.status, new):
        result.status = new
    return result


def _gpu_due(spec: job_spec.TranscodeJobSpec, queued: queueing.JobView,
             obs: observation.Observed) -> float | None:
    if not queued.gpu:
        return None
    created = queued.created or obs.now
    return spec.acceleration.gpu_pending_timeout_seconds - decisions.seconds(obs.now - created)


def _quota_timeout(obs: observation.Observed, spec: job_spec.TranscodeJobSpec,
                   cfg: settings_module.Settings, queued: queueing.JobView,
                   message: str) -> actions.Plan:
    timeout = spec.acceleration.gpu_pending_timeout
    why = f"Kueue did not admit GPU attempt {queued.attempt} within {timeout}: {message}"
    if not spec.acceleration.allow_cpu_fallback:
        text = f"{why}; waiting for GPU quota because acceleration.allowCpuFallback is false"
        state = starts.job_state(obs, P.QUEUED, QUOTA.value, text,
                                 gpu=conditions.GpuState(S.UNKNOWN, QUOTA.value, text))
        result = _status(obs, state, cfg.queues.poll_seconds)
        if obs.status.reason != QUOTA.value:
            result.events.append(ev.Event.warning(R.GPU_UNSCHEDULABLE, text))
        return result
    request = builders.PodRequest(queued.attempt + 1, False, QUOTA.value,
                                  preemptions=queued.preemptions)
    queue = cfg.queues.cpu or queued.queue
    result = starts.start(obs, request, ev.Event.warning(
        R.FALLBACK_TO_CPU, f"{why}; running attempt {request.attempt} on the CPU in "
                           f"LocalQueue {queue}"), fallback_message=why)
    result.cancel_queued = queued.name
    return result


def _preempted(obs: observation.Observed, spec: job_spec.TranscodeJobSpec,
               cfg: settings_module.Settings, queued: queueing.JobView,
               wl: queueing.WorkloadView) -> actions.Plan:
    count = queued.preemptions + 1
    words = wl.evicted_message or wl.evicted_reason or "evicted"
    message = f"Kueue evicted batch Job {queued.name} ({wl.evicted_reason}): {words}"
    limit = cfg.failure_policy.max_disruptions
    if count > limit:
        result = outcomes.fail(obs, "TooManyDisruptions",
                               f"{message}; {count} preemptions exceed failurePolicy."
                               f"maxDisruptions={limit}", R.TOO_MANY_DISRUPTIONS)
        result.cancel_queued = queued.name
        return result
    request = starts.next_request(obs, spec, cfg, queued.attempt + 1)
    request = builders.PodRequest(request.attempt, request.gpu, request.fallback_reason,
                                  preemptions=count)
    result = starts.start(obs, request, ev.Event.warning(
        R.PREEMPTED, f"{message}; queueing attempt {request.attempt} (preemption {count} of "
                     f"{limit}, not counted as a failure)"))
    state = starts.job_state(obs, P.PREEMPTED, wl.evicted_reason or "Preempted", message)
    assert result.status is not None
    result.status = conditions.apply_state(result.status, state, obs.generation, obs.now)
    result.cancel_queued = queued.name
    return result


def cancel_on_end(obs: observation.Observed, result: actions.Plan) -> None:
    """A job that ends (deadline, spec error) while Kueue holds its attempt: delete that Job,
    so that Kueue never admits it later."""
    ending = result.status is not None and result.status.phase in conditions.TERMINAL
    if obs.queued is not None and result.cancel_queued is None \
            and (ending or obs.status.phase in conditions.TERMINAL):
        result.cancel_queued = obs.queued.name
