"""Pure status builders: the conditions map, phase fields and the status merge patch.

`reconcile` describes where a job stands as a `JobState` (phase, reason,
message, what is known about GPU use); `apply_state` turns it into a new
`TranscodeJobStatus` with the conditions map (Succeeded, Failed,
GPUAccelerated and kstatus Reconciling/Stalled) kept consistent, and
`merge_patch` computes the JSON merge patch `control.act` sends to the status
subresource: only the operator's own top-level fields that changed, never
`status.runner`, which belongs to the runner.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any

from transcode_api import constants
from transcode_api import status as job_status

C = constants.ConditionType
S = constants.ConditionStatus
P = constants.Phase
TERMINAL = frozenset({P.SUCCEEDED, P.FAILED})
ACTIVE = frozenset({P.SCHEDULING, P.RUNNING, P.UPLOADING})
OPERATOR_FIELDS = ("observedGeneration", "conditions", "phase", "progress", "attempts",
                   "podName", "startTime", "completionTime", "reason", "message", "outputs",
                   "metadata", "notifications", "packaging", "thumbnails")
_REASON_OK = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
MAX_MESSAGE = 4096


@dataclass(frozen=True)
class GpuState:
    """What `GPUAccelerated` should say: True/False/Unknown with a reason."""

    status: constants.ConditionStatus
    reason: str
    message: str = ""


@dataclass(frozen=True)
class JobState:
    """Where a job stands, in words: the input of `apply_state`."""

    phase: constants.Phase
    reason: str
    message: str = ""
    suspended: bool = False
    gpu: GpuState | None = None


def reason_word(text: str | None, default: str) -> str:
    """`text` as a valid condition reason (CamelCase word), else `default`."""
    if text and _REASON_OK.match(text):
        return text[:128]
    cleaned = re.sub(r"[^A-Za-z0-9_]", "", text or "")
    return cleaned[:128] if cleaned and cleaned[0].isalpha() else default


def clip(message: str | None) -> str:
    message = message or ""
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


def now_utc(now: datetime.datetime) -> datetime.datetime:
    """`now` in UTC, to the second (API timestamps carry seconds)."""
    return now.astimezone(datetime.UTC).replace(microsecond=0)


def _cond(type_: constants.ConditionType, status: constants.ConditionStatus, reason: str,
          message: str, generation: int | None) -> job_status.Condition:
    return job_status.Condition(type=type_, status=status, reason=reason,
                                message=clip(message) or None, observed_generation=generation)


def build_conditions(old: list[job_status.Condition], state: JobState, generation: int | None,
                     now: datetime.datetime) -> list[job_status.Condition]:
    """The conditions map for `state`, keeping lastTransitionTime where status did not change.

    In progress: Succeeded/Failed Unknown, Reconciling True, Stalled False.
    Suspended: Reconciling False (nothing to do until resumed).
    Succeeded: Succeeded True, Failed False, Reconciling False, Stalled False.
    Failed: Succeeded False, Failed True, Reconciling False, Stalled True.
    """
    reason, msg, gen = state.reason, state.message, generation
    if state.phase == P.SUCCEEDED:
        new = [_cond(C.SUCCEEDED, S.TRUE, reason, msg, gen),
               _cond(C.FAILED, S.FALSE, reason, "", gen),
               _cond(C.RECONCILING, S.FALSE, reason, "", gen),
               _cond(C.STALLED, S.FALSE, reason, "", gen)]
    elif state.phase == P.FAILED:
        new = [_cond(C.SUCCEEDED, S.FALSE, reason, msg, gen),
               _cond(C.FAILED, S.TRUE, reason, msg, gen),
               _cond(C.RECONCILING, S.FALSE, reason, "", gen),
               _cond(C.STALLED, S.TRUE, reason, msg, gen)]
    else:
        new = [_cond(C.SUCCEEDED, S.UNKNOWN, reason, "", gen),
               _cond(C.FAILED, S.UNKNOWN, reason, "", gen),
               _cond(C.RECONCILING, S.FALSE if state.suspended else S.TRUE, reason, msg, gen),
               _cond(C.STALLED, S.FALSE, reason, "", gen)]
    gpu = state.gpu
    if gpu is None and not any(c.type == C.GPU_ACCELERATED for c in old):
        gpu = GpuState(S.UNKNOWN, "NotStarted")
    if gpu is not None:
        new.insert(2, _cond(C.GPU_ACCELERATED, gpu.status, gpu.reason, gpu.message, gen))
    out = list(old)
    when = now_utc(now)
    for cond in new:
        out = job_status.set_condition(out, cond, when)
    order = {t: i for i, t in enumerate((C.SUCCEEDED, C.FAILED, C.GPU_ACCELERATED,
                                         C.RECONCILING, C.STALLED))}
    return sorted(out, key=lambda c: order.get(c.type, 99))


def apply_state(status: job_status.TranscodeJobStatus, state: JobState, generation: int | None,
                now: datetime.datetime, **fields: Any) -> job_status.TranscodeJobStatus:
    """A copy of `status` moved to `state`, with other fields (attempts=…) replaced."""
    update: dict[str, Any] = {
        "observed_generation": generation,
        "phase": state.phase,
        "reason": state.reason,
        "message": clip(state.message) or None,
        "conditions": build_conditions(status.conditions, state, generation, now),
    }
    if state.phase in TERMINAL and status.completion_time is None:
        update["completion_time"] = now_utc(now)
    update.update(fields)
    return status.model_copy(update=update)


def gpu_state_for_result(metadata: job_status.JobMetadata | None) -> GpuState:
    """GPUAccelerated after a successful run, from the runner's metadata."""
    if metadata is None or metadata.gpu_enabled is None:
        return GpuState(S.UNKNOWN, "NotReported", "the runner did not report where it encoded")
    if metadata.gpu_enabled:
        return GpuState(S.TRUE, "NVENC", f"encoded with {metadata.gpu_codec or 'NVENC'}")
    reason = metadata.fallback_reason.value if metadata.fallback_reason else "CPUEncoder"
    return GpuState(S.FALSE, reason, metadata.fallback_message or
                    f"encoded on the CPU with {metadata.cpu_codec or 'a CPU encoder'}")


def _dump(status: job_status.TranscodeJobStatus) -> dict[str, Any]:
    return status.model_dump(mode="json", by_alias=True, exclude_none=False)


def merge_patch(old: job_status.TranscodeJobStatus,
                new: job_status.TranscodeJobStatus) -> dict[str, Any]:
    """JSON merge patch of the operator-owned fields that differ (empty: nothing to send).

    Nested objects are diffed key by key (a key that became None is sent as null,
    which removes it); lists are replaced whole. `runner` is never touched.
    """
    before, after = _dump(old), _dump(new)
    return _diff({k: before.get(k) for k in OPERATOR_FIELDS},
                 {k: after.get(k) for k in OPERATOR_FIELDS})


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            patch[key] = _diff(old, new)
        else:
            patch[key] = _strip_none(new)
    return patch


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value
