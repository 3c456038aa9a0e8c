"""How a job's runner Pod ended, and the job's end: succeed, fail or retry (pure).

`reconcile.plan` calls `ended` for the current attempt's Pod once it has
ended: success writes the outputs and posts one Event per output note; the
runner's bad-input verdict fails the job; a disruption (eviction, preemption,
node loss) starts the next attempt at once, not counted against backoffLimit,
up to `failurePolicy.maxDisruptions`; a scratch-overflow eviction fails
`SourceTooLarge`; an OOMKilled runner is retried with a raised memory limit up to
`failurePolicy.oomRetries`, then fails `OutOfMemory`; any other failure is
retried with exponential backoff until backoffLimit. `fail` and `succeed` are the
two ways a job finishes, used by `reconcile` too.
"""

from __future__ import annotations

from transcode_api import constants, provenance
from transcode_api import spec as job_spec
from transcode_api import status as job_status
from transcode_operator.domain import (
    actions,
    builders,
    conditions,
    decisions,
    failurepolicy,
    observation,
    podstate,
    starts,
)
from transcode_operator.domain import events as ev
from transcode_operator.domain import settings as settings_module

P = constants.Phase
R = ev.Reason
GPU_UNSCHEDULABLE = constants.FallbackReason.GPU_UNSCHEDULABLE


def ended(obs: observation.Observed, spec: job_spec.TranscodeJobSpec, cfg: settings_module.Settings,
           pod: podstate.PodView) -> actions.Plan:
    end = decisions.classify_end(pod)
    if end.kind is decisions.EndKind.SUCCEEDED:
        return succeed(obs, pod, end)
    if end.kind is decisions.EndKind.BAD_INPUT:
        return fail(obs, end.reason, end.message, R.FAILED, end=end)
    policy = cfg.failure_policy
    factor = failurepolicy.memory_factor(obs.pods, policy)
    request = builders.PodRequest(pod.attempt + 1, pod.gpu,
                                  None if pod.gpu else pod.fallback_reason, factor)
    if end.kind is decisions.EndKind.DISRUPTED:
        return _disrupted(obs, policy, pod, end, request)
    if failurepolicy.oom_killed(pod):
        ooms = failurepolicy.ooms(obs.pods)
        if ooms > policy.oom_retries:
            message = (f"the runner was OOMKilled in {ooms} attempts, the memory limit raised "
                       f"x{policy.oom_memory_factor:g} each time; raise "
                       "spec.resources.limits.memory")
            return fail(obs, "OutOfMemory", message, R.OUT_OF_MEMORY, end=end)
        return starts.start(obs, request, ev.Event.warning(
            R.OOM_RETRY, f"{end.message}; starting attempt {request.attempt} with the memory "
                         f"limit x{factor:g} (not counted as a failure)"))
    failures = decisions.counted_failures(obs.pods)
    if failures > spec.backoff_limit:
        message = (f"{failures} failed attempts exceed backoffLimit={spec.backoff_limit}; "
                   f"last: {end.message}")
        return fail(obs, "BackoffLimitExceeded", message, R.BACKOFF_LIMIT_EXCEEDED, end=end)
    delay = decisions.backoff_delay(failures, cfg)
    finished = pod.terminated.finished_at if pod.terminated else None
    wait = delay - decisions.seconds(obs.now - (finished or obs.now))
    # by name, before the status write that records it: a crash right after that write
    # cannot lose it, and one before it posts it again under the same name (once)
    notice = ev.Event.warning(R.RETRYING, f"{end.message}; retry {failures} of "
                                          f"{spec.backoff_limit} after {delay:g}s backoff",
                              key=f"retrying-{failures}")
    announced = obs.status.reason == "Retrying"
    if wait > 0:
        state = starts.job_state(obs, P.PENDING, "Retrying", notice.message)
        return actions.Plan(status=starts.with_state(obs, state), requeue=wait,
                    events=[] if announced else [notice])
    return starts.start(obs, request, *([] if announced else [notice]))


def _disrupted(obs: observation.Observed, policy: settings_module.FailurePolicySettings,
               pod: podstate.PodView, end: decisions.End,
               request: builders.PodRequest) -> actions.Plan:
    if failurepolicy.scratch_overflow(pod):
        message = (f"runner Pod {pod.name} was evicted because its scratch storage "
                   f"overflowed ({pod.status_message.strip()}): the source and its outputs "
                   "do not fit; raise the operator's runner.scratchSizeLimit")
        return fail(obs, "SourceTooLarge", message, R.SOURCE_TOO_LARGE, end=end)
    count = failurepolicy.disruptions(obs.pods)
    if count > policy.max_disruptions:
        message = (f"{count} disruptions exceed failurePolicy.maxDisruptions="
                   f"{policy.max_disruptions}; last: {end.message}")
        return fail(obs, "TooManyDisruptions", message, R.TOO_MANY_DISRUPTIONS, end=end)
    return starts.start(obs, request, ev.Event.warning(
        R.DISRUPTED, f"{end.message}; starting attempt {request.attempt} (disruption {count} "
                     f"of {policy.max_disruptions}, not counted as a failure)"))


def succeed(obs: observation.Observed, pod: podstate.PodView, end: decisions.End) -> actions.Plan:
    result = end.result
    meta = result.metadata if result and result.metadata else None
    if pod.fallback_reason in (GPU_UNSCHEDULABLE, constants.FallbackReason.GPU_QUOTA_EXHAUSTED):
        prior = obs.status.metadata
        meta = provenance.scheduling_fallback(meta, prior.fallback_message if prior else None,
                                              pod.fallback_reason)
    message = end.message if result else \
        f"runner Pod {pod.name} exited 0 without a readable result in its termination message"
    state = starts.job_state(obs, P.SUCCEEDED, "TranscodeSucceeded", message,
                   gpu=conditions.gpu_state_for_result(meta))
    progress = (obs.status.progress or job_status.Progress()).model_copy(update={"percent": 100})
    fields: dict[str, object] = {"progress": progress, "pod_name": pod.name}
    if result is not None:
        fields["outputs"] = list(result.outputs)
        if result.packaging is not None:
            fields["packaging"] = result.packaging
        if result.thumbnails is not None:
            fields["thumbnails"] = result.thumbnails
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
