"""Starting a runner Pod: which request, how the status records it, when to ask the gates.

`domain.reconcile.plan` calls `start` for a first attempt, a retry, a resume or
a scheduling fallback and `no_current_pod` when the current attempt has no
Pod; `needs_gates` tells `control.observe` when a Pod may start, so that the
observation carries the start gates' answer; `job_state`/`with_state` are the
status helpers the whole state machine shares. Pure, like the rest of the domain.
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
    observation,
    podstate,
)
from transcode_operator.domain import events as ev
from transcode_operator.domain import settings as settings_module

P = constants.Phase
S = constants.ConditionStatus
R = ev.Reason
GPU_UNSCHEDULABLE = constants.FallbackReason.GPU_UNSCHEDULABLE


def job_state(obs: observation.Observed, phase: constants.Phase, reason: str, message: str = "", *,
           gpu: conditions.GpuState | None = None,
           suspended: bool = False) -> conditions.JobState:
    return conditions.JobState(phase, reason, message, suspended, gpu)


def with_state(obs: observation.Observed, state: conditions.JobState,
          **fields: object) -> job_status.TranscodeJobStatus:
    return conditions.apply_state(obs.status, state, obs.generation, obs.now, **fields)


def active(pods: tuple[podstate.PodView, ...]) -> list[podstate.PodView]:
    return [p for p in pods if p.active]


# --- starting a Pod ----------------------------------------------------------------------
def gpu_state(request: builders.PodRequest, message: str = "") -> conditions.GpuState:
    if request.gpu:
        return conditions.GpuState(S.UNKNOWN, "GPURequested", "the runner Pod asked for a GPU")
    if request.fallback_reason:
        return conditions.GpuState(S.FALSE, request.fallback_reason, message)
    return conditions.GpuState(S.FALSE, constants.FallbackReason.CPU_REQUESTED.value,
                               "the job runs on the CPU (acceleration or encoders ask for it)")


def start(obs: observation.Observed, request: builders.PodRequest, *extra: ev.Event,
          fallback_message: str = "", reset_start: bool = False) -> actions.Plan:
    """Create the Pod of `request.attempt` and record it (gated)."""
    created = created_event(obs, request.attempt, request.gpu)
    state = job_state(obs, P.SCHEDULING, "PodCreated", created.message,
                   gpu=gpu_state(request, fallback_message))
    fields: dict[str, object] = {"attempts": request.attempt, "progress": None,
                                 "pod_name": builders.pod_name(obs.job.name, request.attempt)}
    if obs.status.start_time is None or reset_start:
        fields["start_time"] = conditions.now_utc(obs.now)
    if request.fallback_reason in SCHEDULING_FALLBACKS:  # the fallbacks the operator makes
        fields["metadata"] = provenance.scheduling_fallback(
            obs.status.metadata, fallback_message, request.fallback_reason)
    return actions.Plan(status=with_state(obs, state, **fields), create=request, gate=True,
                events=[*extra, created])


def created_event(obs: observation.Observed, attempt: int, gpu: bool) -> ev.Event:
    """The `Created` Event of `attempt`, keyed so that it is posted once per attempt: by
    the turn that creates the Pod, or by the first turn of a restarted operator that finds
    the attempt's Pod (or queued batch Job) when the one before died before posting it."""
    name = builders.pod_name(obs.job.name, attempt)
    made = f"batch Job {name} for Kueue" if obs.queue else f"runner Pod {name}"
    return ev.Event.normal(R.CREATED, f"created {made} (attempt {attempt}, "
                                      f"{'GPU' if gpu else 'CPU'})", key=f"created-{attempt}")


STARTING = frozenset({None, "ContainerCreating", "PodInitializing"})
"""Waiting reasons of a Pod that is simply starting (anything else is worth a write)."""


def simply_starting(pod: podstate.PodView) -> bool:
    """A Pod not yet Running that waits for no reason (being scheduled or bound, creating
    its container): not Unschedulable, no image pull or configuration error."""
    return pod.phase == "Pending" and not pod.deleting and not pod.unschedulable_message \
        and pod.waiting_reason in STARTING


def hold_first_write(obs: observation.Observed, result: actions.Plan,
                     current: podstate.PodView | None, cfg: settings_module.Settings) -> bool:
    """Hold back a new job's first status write while its Pod is simply starting (True: held).

    A job whose status was never written (no phase) and whose plan only records a
    Pod being scheduled (its creation, or a Pod `simply_starting`) writes nothing
    until `status.firstWriteDelaySeconds` after the Pod's creation, nor, when its
    creation turn found a burst (`obs.backlog`: other keys waiting in the work queue,
    or other jobs' Pods simply starting), until `status.firstWriteBacklogSeconds`
    after it. Both are timers (the turn looks again then); the Pod's own changes
    wake the job sooner. A Pod that
    exists while the status was never written was held so (or its write failed, or
    the operator restarted in between), so later turns hold it to the same cap. The
    attempt's `Created` Event waits with the write (`plan.announce` posts it then).
    A Pod that runs sooner is recorded by the Running write alone (its attempt, name,
    start time and GPU condition come from the Pod: `reconcile._recorded`). A job
    with unknown spec fields writes at once (its UnknownFields condition cannot wait)."""
    status, timing = result.status, cfg.status
    if status is None or status.phase != P.SCHEDULING or obs.status.phase is not None \
            or obs.unknown_fields:
        return False
    if current is None:  # the creation turn
        cap = timing.first_write_backlog_seconds if obs.backlog else 0.0
        age = 0.0
    elif current.created is None or not simply_starting(current):
        return False
    else:
        cap = timing.first_write_backlog_seconds
        age = max((obs.now - current.created).total_seconds(), 0.0)
    wait = max(timing.first_write_delay_seconds, cap) - age
    if wait <= 0:
        return False
    result.wake_in(wait)
    result.status = None
    result.events = [e for e in result.events if e.reason != R.CREATED]
    return True


SCHEDULING_FALLBACKS = frozenset({GPU_UNSCHEDULABLE, constants.FallbackReason.GPU_QUOTA_EXHAUSTED})
"""The fallbacks the operator makes itself (no GPU node, no Kueue GPU quota)."""


def _fallback_of(obs: observation.Observed) -> str | None:
    """The operator's fallback when an earlier attempt fell back to the CPU (sticky)."""
    for pod in obs.pods:
        if pod.fallback_reason in SCHEDULING_FALLBACKS:
            return pod.fallback_reason
    if obs.queued is not None and obs.queued.fallback_reason in SCHEDULING_FALLBACKS:
        return obs.queued.fallback_reason
    meta = obs.status.metadata
    if meta is not None and meta.fallback_reason in SCHEDULING_FALLBACKS:
        return meta.fallback_reason.value
    return None


def next_request(obs: observation.Observed, spec: job_spec.TranscodeJobSpec,
                 cfg: settings_module.Settings, attempt: int) -> builders.PodRequest:
    fallback = _fallback_of(obs)
    gpu = decisions.wants_gpu(spec, cfg) and fallback is None
    return builders.PodRequest(attempt, gpu, fallback if not gpu else None)


def no_current_pod(obs: observation.Observed, spec: job_spec.TranscodeJobSpec,
                    cfg: settings_module.Settings, attempt: int) -> actions.Plan:
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


def needs_gates(obs: observation.Observed) -> bool:
    """Whether a Pod may start on this turn, so the observation should carry the start
    gates' answer: no Pod runs for the current attempt and the job is not finished,
    suspended, refused by the tenant policy or being deleted; or its GPU Pod's pending timeout may move it to the CPU.
    A pure question about what to observe; `plan` alone decides."""
    st, spec = obs.status, obs.spec
    if obs.deleting or spec is None or spec.suspend or st.phase in conditions.TERMINAL \
            or obs.refused is not None:  # the tenant policy refused it: no Secret read
        return False
    attempt = max([st.attempts or 0, *(p.attempt for p in obs.pods)])
    current = next((p for p in obs.pods if p.attempt == attempt), None)
    if current is None:  # a start, unless Kueue holds the attempt's batch Job
        return obs.queued is None or obs.queued.attempt != attempt
    if current.deleting:
        return False
    if current.ended:
        return decisions.classify_end(current).kind in (decisions.EndKind.TRANSIENT,
                                                         decisions.EndKind.DISRUPTED)
    due = decisions.gpu_pending_due(current, spec, obs.now)
    return due is not None and due <= 0 and spec.acceleration.allow_cpu_fallback
