"""Small pure decisions: GPU or not, how a runner Pod ended, backoff, timeouts.

`reconcile.plan` calls these to turn a job's spec, its runner Pods and the
clock into the next action; each is a function of its arguments only, so the
unit tests pin every rule down: which specs ask for `nvidia.com/gpu`, how an
exit code or a disruption is classified (`classify_end`), how many failures
count against `backoffLimit` (`counted_failures`), the retry delay
(10 s·2ⁿ capped at 6 min), and when the GPU pending timeout, the deadline and
the TTL fall due.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from transcode_api import constants, contract, output
from transcode_api import spec as job_spec
from transcode_api import status as job_status
from transcode_operator.domain import failurepolicy, podstate
from transcode_operator.domain import settings as settings_module


# --- GPU or CPU -----------------------------------------------------------------------
def output_can_use_gpu(video: output.VideoSpec) -> bool:
    """True when this output could be encoded with NVENC (no explicit CPU choice)."""
    if video.encoder is not None:
        return video.encoder in constants.GPU_ENCODERS
    if video.preset == constants.Preset.CPU or video.two_pass:
        return False
    gpu_encoder, _ = constants.CODEC_ENCODERS[video.effective_codec.value]
    return gpu_encoder is not None


def wants_gpu(spec: job_spec.TranscodeJobSpec, cfg: settings_module.Settings) -> bool:
    """Whether the runner Pod asks for `nvidia.com/gpu` (before any scheduling fallback).

    mode cpu: never. mode gpu: always. mode auto: when at least one output could
    use NVENC (an explicit CPU encoder, preset cpu, twoPass or vp9 cannot).
    The operator setting enableGPU=false turns every job into a CPU job.
    """
    if not cfg.enable_gpu:
        return False
    mode = spec.acceleration.mode
    if mode == constants.AccelerationMode.CPU:
        return False
    if mode == constants.AccelerationMode.GPU:
        return True
    return any(output_can_use_gpu(o.video) for o in spec.outputs)


# --- how a Pod ended ------------------------------------------------------------------
class EndKind(enum.Enum):
    """What the end of one runner Pod means for the job."""

    SUCCEEDED = "Succeeded"
    BAD_INPUT = "BadInput"  # fail the job now
    TRANSIENT = "Transient"  # retry with backoff, counted against backoffLimit
    DISRUPTED = "Disrupted"  # retry at once, not counted (eviction, preemption, node gone)


@dataclass(frozen=True)
class End:
    """A classified Pod end, with the runner's report when it left one."""

    kind: EndKind
    reason: str
    message: str
    exit_code: int | None
    result: job_status.RunnerResult | None


def runner_result(pod: podstate.PodView) -> job_status.RunnerResult | None:
    """The RunnerResult in the Pod's termination message, or None when absent/unreadable."""
    if pod.terminated is None or not pod.terminated.message.strip().startswith("{"):
        return None
    try:
        return job_status.RunnerResult.from_termination_message(pod.terminated.message)
    except ValueError:
        return None


def _tail(text: str, limit: int = 512) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else "..." + text[-limit:]


def classify_end(pod: podstate.PodView) -> End:
    """Classify an ended runner Pod by disruption, exit code and termination message."""
    result = runner_result(pod)
    term = pod.terminated
    code = term.exit_code if term is not None else None
    if pod.phase == "Succeeded" or code == contract.ExitCode.SUCCESS:
        return End(EndKind.SUCCEEDED, "TranscodeSucceeded",
                   (result.message if result and result.message else "runner finished"),
                   code, result)
    if pod.disruption is not None:
        return End(EndKind.DISRUPTED, pod.disruption,
                   f"runner Pod {pod.name} was disrupted ({pod.disruption})", code, result)
    detail = (result.message if result and result.message else
              _tail(term.message) if term is not None and term.message else "")
    if code == contract.ExitCode.BAD_INPUT:
        reason = result.reason if result and result.reason else "BadInput"
        return End(EndKind.BAD_INPUT, reason, detail or "the runner refused the input (exit 65)",
                   code, result)
    if code is None:
        reason, what = "PodFailed", f"runner Pod {pod.name} failed without a container exit code"
    elif code == contract.ExitCode.TRANSIENT:
        reason, what = "TransientFailure", "exit 75 (transient)"
    elif code == contract.ExitCode.INTERNAL:
        reason, what = "RunnerError", "exit 70 (internal runner error)"
    elif term is not None and term.reason == "OOMKilled":
        reason, what = "OOMKilled", f"exit {code} (out of memory)"
    else:
        reason, what = "RunnerFailed", f"exit {code}"
    if result and result.reason:
        reason = result.reason
    message = f"attempt {pod.attempt} failed: {what}" + (f": {detail}" if detail else "")
    return End(EndKind.TRANSIENT, reason, message, code, result)


def counted_failures(pods: Iterable[podstate.PodView]) -> int:
    """Failures that count against backoffLimit: ended Pods classified TRANSIENT.

    Pods the operator deleted on purpose (suspend, fallback, deadline) carry a
    deletionTimestamp and never count; disruptions and OOMKilled runners (the
    failure policy's own budgets) never count.
    """
    return sum(1 for p in pods if p.ended and not p.deleting
               and classify_end(p).kind is EndKind.TRANSIENT and not failurepolicy.oom_killed(p))


def backoff_delay(failures: int, cfg: settings_module.Settings) -> float:
    """Seconds before the retry after the `failures`-th counted failure (1-based).

    base·2^(failures-1), capped: 10, 20, 40, … 360 s with the defaults.
    """
    exponent = max(failures - 1, 0)
    if exponent > 32:
        return cfg.retry.backoff_cap_seconds
    return min(cfg.retry.backoff_base_seconds * (2 ** exponent), cfg.retry.backoff_cap_seconds)


# --- times ----------------------------------------------------------------------------
def seconds(delta: datetime.timedelta) -> float:
    return delta.total_seconds()


def gpu_pending_due(pod: podstate.PodView, spec: job_spec.TranscodeJobSpec,
                    now: datetime.datetime) -> float | None:
    """Seconds until the GPU pending timeout of an Unschedulable GPU Pod (≤ 0: due).

    None when the Pod is not an Unschedulable GPU Pod. The timeout counts from
    the Pod's creation.
    """
    if not pod.gpu or pod.scheduled or pod.unschedulable_message is None or not pod.active:
        return None
    created = pod.created or now
    limit = spec.acceleration.gpu_pending_timeout_seconds
    return limit - seconds(now - created)


def deadline_due(spec: job_spec.TranscodeJobSpec, start: datetime.datetime | None,
                 now: datetime.datetime) -> float | None:
    """Seconds until activeDeadlineSeconds runs out (≤ 0: exceeded); None: no deadline."""
    if spec.active_deadline_seconds is None or start is None:
        return None
    return spec.active_deadline_seconds - seconds(now - start)


def ttl_due(spec: job_spec.TranscodeJobSpec, finished: datetime.datetime | None,
            now: datetime.datetime) -> float | None:
    """Seconds until a finished job is deleted (≤ 0: due); None: kept forever."""
    if spec.ttl_seconds_after_finished is None or finished is None:
        return None
    return spec.ttl_seconds_after_finished - seconds(now - finished)


def config_error_due(pod: podstate.PodView, cfg: settings_module.Settings,
                     now: datetime.datetime) -> float | None:
    """Seconds until a Pod stuck in CreateContainerConfigError fails the job (≤ 0: due)."""
    if pod.config_error is None or not pod.active:
        return None
    created = pod.created or now
    return cfg.status.config_error_grace_seconds - seconds(now - created)
