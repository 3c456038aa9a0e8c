"""GPU-fallback provenance: which reason a job reports, and its `status.metadata`.

One set of rules for both processes. The runner ranks its outputs' reasons
(`primary`: a real fallback outranks CPURequested) and builds its result's
metadata (`job_metadata`); the operator records a scheduling fallback on the
status and keeps it over what the CPU Pod's runner reports
(`scheduling_fallback`). `is_fallback` says whether a reason counts as a
fallback at all (CPURequested is a choice, not a fallback). Pure functions of
`transcode_api` types; `status.metadata` is written from nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from transcode_api import constants, status

Reason = constants.FallbackReason


def is_fallback(reason: Reason | None) -> bool:
    """True for a reason that means "wanted the GPU, ran on the CPU"."""
    return reason is not None and reason != Reason.CPU_REQUESTED


def primary(candidates: Iterable[tuple[Reason | None, str]]) -> tuple[Reason | None, str]:
    """The (reason, message) a job reports among its outputs': the first real fallback,
    else CPURequested, else (None, "")."""
    ranked = sorted((c for c in candidates if c[0] is not None),
                    key=lambda c: c[0] == Reason.CPU_REQUESTED)
    return ranked[0] if ranked else (None, "")


def job_metadata(*, gpu_encoder: str | None, gpu_device: int | None,
                 wanted_gpu_encoder: str | None, cpu_encoder: str | None,
                 tried: Sequence[str], used: str | None, reason: Reason | None,
                 message: str, wall_seconds: float, media_seconds: float,
                 decoder_gpu: bool = False,
                 decoder_message: str | None = None) -> status.JobMetadata:
    """The seed's job metadata with its fallback provenance (what the runner reports).
    `gpu_device` is the encode GPU, else the decode GPU of a hybrid (NVDEC) plan."""
    wall = max(wall_seconds, 1e-6)
    return status.JobMetadata(
        gpu_enabled=gpu_encoder is not None,
        gpu_device=gpu_device if gpu_encoder or decoder_gpu else None,
        gpu_codec=gpu_encoder or wanted_gpu_encoder,
        cpu_codec=cpu_encoder,
        encoder_tried=list(tried),
        encoder_used=used,
        decoder="cuda" if decoder_gpu else "cpu",
        decoder_message=decoder_message or None,
        gpu_fallback=is_fallback(reason),
        fallback_reason=reason,
        fallback_message=message or None,
        processing_time_seconds=round(wall_seconds, 3),
        processing_speed=round(media_seconds / wall, 3),
    )


def scheduling_fallback(metadata: status.JobMetadata | None, message: str | None,
                        reason: str = Reason.GPU_UNSCHEDULABLE) -> status.JobMetadata:
    """`metadata` of a job whose GPU Pod could not be scheduled (GPUUnschedulable) or
    admitted by Kueue (GPUQuotaExhausted) and that ran on the CPU: the scheduling
    fallback outranks whatever the CPU attempt itself reports."""
    return (metadata or status.JobMetadata()).model_copy(update={
        "gpu_fallback": True, "gpu_enabled": False,
        "fallback_reason": Reason(reason), "fallback_message": message or None})
