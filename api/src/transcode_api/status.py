"""The TranscodeJob status: conditions, phase, progress, results and the runner's report.

`TranscodeJobStatus` follows the Kubernetes API conventions in DESIGN.md's
"Contracts": the operator owns every field except `runner`; the runner writes
only `status.runner` (`RunnerStatus`) and, at exit, the same `RunnerResult` as
its container termination message (`RunnerResult.to_termination_message`,
always at most 4096 bytes; `OutputResult` and the shortening live in
`transcode_api.results`), which the operator reads back with
`RunnerResult.from_termination_message` even when the runner could not patch.
`Condition` and `set_condition` live in `transcode_api.conditions` (re-exported).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from transcode_api import base, constants, errors, notify, results
from transcode_api import packaging as pkg  # the field `packaging` would shadow the module
from transcode_api import thumbnails as thumbs  # so would `thumbnails`
from transcode_api.conditions import Condition, Timestamp, set_condition

__all__ = ["Condition", "JobMetadata", "OpenUpload", "Progress", "RunnerResult", "RunnerStatus",
           "Timestamp", "TranscodeJobStatus", "parse_status", "set_condition"]


def _list_map(key: str) -> dict[str, Any]:
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key]}


class Progress(base.StatusModel):
    """Encoding progress, relayed from the runner (through Redis, throttled)."""

    percent: int | None = pydantic.Field(
        default=None, ge=0, le=100, description="Share of the source duration encoded, 0..100."
    )
    fps: float | None = pydantic.Field(
        default=None, ge=0, description="Frames encoded per wall-clock second."
    )
    speed: float | None = pydantic.Field(
        default=None,
        ge=0,
        description="Media seconds encoded per wall-clock second (2.5 means 2.5x realtime).",
    )


OutputResult = results.OutputResult
"""Re-exported from `transcode_api.results` (one finished output and its tracks)."""


class JobMetadata(base.StatusModel):
    """Where and how the job was encoded: the seed's job metadata, with fallback provenance."""

    gpu_enabled: bool | None = pydantic.Field(
        default=None, description="True when the encode that produced the outputs ran on a GPU."
    )
    gpu_device: int | None = pydantic.Field(
        default=None, ge=0, description="Index of the GPU used (as the runner's NVML saw it)."
    )
    gpu_codec: str | None = pydantic.Field(
        default=None, description="NVENC encoder used or tried (h264_nvenc, hevc_nvenc, av1_nvenc)."
    )
    cpu_codec: str | None = pydantic.Field(
        default=None, description="CPU encoder used (libx264, libx265, ...), when the CPU encoded."
    )
    encoder_tried: list[str] | None = pydantic.Field(
        default=None,
        max_length=16,
        description="Encoders attempted, in order (h264_nvenc then libx264 after a fallback).",
    )
    encoder_used: str | None = pydantic.Field(
        default=None,
        description="Encoder that produced the outputs (the first output's; see outputs[].encoder).",
    )
    decoder: str | None = pydantic.Field(
        default=None,
        description=(
            "How the source was decoded: cuda (NVDEC through FFmpeg's cuda hwaccel; with a "
            "CPU encoder this is the hybrid plan of GPUs without NVENC) or cpu."
        ),
    )
    decoder_message: str | None = pydantic.Field(
        default=None,
        description=(
            "What NVDEC decoded (codec, GPU), or why the CPU decoded although a GPU was "
            "there (a codec, profile or bit depth NVDEC lacks, a failed test decode, an "
            "NVDEC failure during the encode)."
        ),
    )
    gpu_fallback: bool | None = pydantic.Field(
        default=None,
        description="True when a GPU was wanted (mode auto or gpu) but the CPU did the encode.",
    )
    fallback_reason: constants.FallbackReason | None = pydantic.Field(
        default=None,
        description=(
            "Why the CPU encoded: NoGPU, NVMLUnavailable, InsufficientGPUMemory, "
            "EncoderNotInFFmpeg, NoEncoderOnDevice, NVENCInitFailed, SessionLimitReached, "
            "CodecNotSupportedOnGPU, EncodeFailed, GPUUnschedulable or CPURequested."
        ),
    )
    fallback_message: str | None = pydantic.Field(
        default=None, description="Details of the fallback (the probe's or FFmpeg's error line)."
    )
    processing_time_seconds: float | None = pydantic.Field(
        default=None, ge=0, description="Wall-clock seconds spent encoding all outputs."
    )
    processing_speed: float | None = pydantic.Field(
        default=None, ge=0, description="Media seconds per wall-clock second (2.65 = 2.65x realtime)."
    )


class RunnerResult(base.StatusModel):
    """The runner's final report for one attempt (also its termination message)."""

    outcome: constants.Outcome = pydantic.Field(description="Succeeded or Failed.")
    exit_code: int = pydantic.Field(
        description="Process exit code: 0 done, 65 bad input (no retry), 70 internal, 75 transient (retry)."
    )
    reason: str | None = pydantic.Field(
        default=None, max_length=128, description="One CamelCase word for the outcome (SourceNotFound)."
    )
    message: str | None = pydantic.Field(default=None, description="Human-readable details.")
    outputs: list[OutputResult] = pydantic.Field(
        default_factory=list,
        max_length=constants.MAX_OUTPUTS,
        json_schema_extra=_list_map("name"),
        description="Outputs uploaded and verified by this attempt.",
    )
    metadata: JobMetadata | None = pydantic.Field(
        default=None, description="Encoder, GPU and fallback details of this attempt."
    )
    packaging: pkg.PackagingResult | None = pydantic.Field(
        default=None, description="The adaptive streaming package this attempt wrote (spec.packaging)."
    )
    thumbnails: thumbs.ThumbnailsResult | None = pydantic.Field(
        default=None, description="The poster, storyboard and preview this attempt wrote (spec.thumbnails)."
    )
    truncated: bool | None = pydantic.Field(
        default=None,
        description="True when fields were shortened or dropped to fit the 4096-byte termination message.",
    )

    def to_termination_message(self, limit: int = constants.TERMINATION_MESSAGE_MAX_BYTES) -> str:
        """Compact JSON of this result, at most `limit` bytes (`results.fit_termination`).

        When too long, message fields are cut first (result.message, then
        metadata.fallbackMessage), then per-output details, track listings first,
        then the packaging's rendition table and the thumbnails' sizes, then the outputs and
        metadata; `truncated`
        is set whenever anything was cut.
        """
        return results.fit_termination(self.to_dict(), limit)

    @classmethod
    def from_termination_message(cls, text: str | bytes) -> RunnerResult:
        """Read a termination message written by `to_termination_message`; raises `errors.StatusError`."""
        try:
            return cls.model_validate_json(text)
        except pydantic.ValidationError as exc:
            raise errors.StatusError.from_validation_error(exc, "terminationMessage") from None



class OpenUpload(base.StatusModel):
    """A multipart upload this job's runner created and has not completed or aborted yet."""

    bucket: str = pydantic.Field(max_length=255, description="Destination bucket.")
    key: str = pydantic.Field(max_length=1024, description="Destination key.")
    upload_id: str = pydantic.Field(
        max_length=1024, description="The UploadId S3 answered to CreateMultipartUpload.")


class RunnerStatus(base.StatusModel):
    """`status.runner`: the only status field the runner writes, for its current attempt.

    Phase and progress only: the attempt's final `RunnerResult` travels in the
    container's termination message, the one channel the operator reads."""

    attempt: int = pydantic.Field(ge=0, description="Attempt number this report belongs to (Pod <job>-<attempt>).")
    pod_name: str | None = pydantic.Field(default=None, description="Runner Pod writing this report.")
    phase: constants.RunnerPhase = pydantic.Field(description="Running, Uploading, Succeeded or Failed.")
    progress: Progress | None = pydantic.Field(default=None, description="Latest progress the runner wrote.")
    updated_at: Timestamp | None = pydantic.Field(default=None, description="When the runner last wrote this (RFC 3339).")
    open_uploads: list[OpenUpload] | None = pydantic.Field(
        default=None, max_length=constants.MAX_OUTPUTS,
        description="Multipart uploads the runner created and has not finished: the next attempt "
        "aborts exactly these (and no one else's) before it starts.")


class TranscodeJobStatus(base.StatusModel):
    """Observed state of a TranscodeJob, written by the operator (runner: only `runner`)."""

    observed_generation: int | None = pydantic.Field(
        default=None, ge=0, description="metadata.generation the operator last acted on."
    )
    conditions: list[Condition] = pydantic.Field(
        default_factory=list,
        max_length=8,
        json_schema_extra=_list_map("type"),
        description="Succeeded, Failed, GPUAccelerated and kstatus Reconciling/Stalled, keyed by type.",
    )
    phase: constants.Phase | None = pydantic.Field(
        default=None,
        description="Pending, Queued, Admitted, Preempted, Scheduling, Running, Uploading, Succeeded or Failed (a summary for kubectl get).",
    )
    progress: Progress | None = pydantic.Field(default=None, description="Encoding progress of the current attempt.")
    attempts: int | None = pydantic.Field(
        default=None, ge=0, description="Runner Pods started so far, counting retries and fallbacks."
    )
    pod_name: str | None = pydantic.Field(default=None, description="Runner Pod of the current attempt.")
    start_time: Timestamp | None = pydantic.Field(default=None, description="When the first runner Pod was created.")
    completion_time: Timestamp | None = pydantic.Field(
        default=None, description="When the job reached Succeeded or Failed."
    )
    reason: str | None = pydantic.Field(
        default=None, description="One CamelCase word for the current phase (DeadlineExceeded, BackoffLimitExceeded)."
    )
    message: str | None = pydantic.Field(default=None, description="Human-readable details of the current phase.")
    outputs: list[OutputResult] = pydantic.Field(
        default_factory=list,
        max_length=constants.MAX_OUTPUTS,
        json_schema_extra=_list_map("name"),
        description="Uploaded and verified outputs, once the job Succeeded.",
    )
    metadata: JobMetadata | None = pydantic.Field(
        default=None, description="GPU/CPU encoder details and fallback provenance (the seed's job metadata)."
    )
    notifications: list[notify.NotificationStatus] = pydantic.Field(
        default_factory=list, max_length=len(notify.EventType), json_schema_extra=_list_map("type"),
        description="Delivery of the spec.notify CloudEvents, one entry per event type.",
    )
    packaging: pkg.PackagingResult | None = pydantic.Field(
        default=None,
        description="Manifest URLs, renditions and bytes of the adaptive streaming package, once Succeeded.",
    )
    thumbnails: thumbs.ThumbnailsResult | None = pydantic.Field(
        default=None,
        description="URLs, sizes and counts of the poster, sprite storyboard and preview, once Succeeded.",
    )
    runner: RunnerStatus | None = pydantic.Field(
        default=None, description="The runner's own report for its current attempt; only the runner writes it."
    )

    def condition(self, type_: constants.ConditionType) -> Condition | None:
        """The condition of this type, or None."""
        return next((c for c in self.conditions if c.type == type_), None)


def parse_status(data: Mapping[str, Any] | None) -> TranscodeJobStatus:
    """Read `status` as stored on the API server; raises `errors.StatusError`."""
    try:
        return TranscodeJobStatus.model_validate(dict(data or {}))
    except pydantic.ValidationError as exc:
        raise errors.StatusError.from_validation_error(exc, "status") from None
