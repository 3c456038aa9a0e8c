"""Where the encode runs (GPU, CPU, or decided at run time) and Go-style durations.

`Acceleration` is `spec.TranscodeJobSpec.acceleration` (re-exported as
`spec.Acceleration`); the operator reads `gpu_pending_timeout_seconds` for the
scheduling fallback, the runner's probe `min_free_gpu_memory_mib`.
`parse_duration` reads durations such as `2m` or `1h30s` (re-exported as
`spec.parse_duration`). Pydantic models and pure functions only.
"""

from __future__ import annotations

import re

import pydantic

from transcode_api import base, constants

DURATION = r"^([0-9]+([.][0-9]+)?(ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_MAX_GPU_PENDING_TIMEOUT = "24h"


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration (`90s`, `2m`, `1h30m`, `1.5h`, `500ms`).

    Raises ValueError on anything else (units: ms, s, m, h; no sign, no spaces).
    """
    if not re.fullmatch(DURATION, text):
        raise ValueError(f"not a duration such as 90s, 2m or 1h30m: {text!r}")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


class Acceleration(base.SpecModel):
    """Where the encode runs: GPU (NVENC), CPU, or decided at run time."""

    mode: constants.AccelerationMode = pydantic.Field(
        default=constants.AccelerationMode.AUTO,
        description=(
            "auto (default): use an NVIDIA GPU when one can be scheduled and passes the "
            "probe, else the CPU. gpu: ask for a GPU (falls back to the CPU only when "
            "allowCpuFallback). cpu: never ask for a GPU (fallback reason CPURequested)."
        ),
    )
    allow_cpu_fallback: bool = pydantic.Field(
        default=True,
        description=(
            "Run on the CPU when the GPU is unschedulable, unusable or fails mid-encode "
            "(recorded in status.metadata.gpuFallback and fallbackReason). False: wait "
            "for a GPU, or fail with the GPU's error. Default: true."
        ),
    )
    gpu_pending_timeout: str = pydantic.Field(
        default="2m",
        max_length=32,
        pattern=DURATION,
        description=(
            "How long a GPU Pod may stay Unschedulable before the operator replaces it "
            "with a CPU Pod (when fallback is allowed), as a duration such as 90s, 2m "
            "or 1h (at most 24h). Default: 2m."
        ),
    )
    min_free_gpu_memory_mib: int = pydantic.Field(
        default=500,
        alias="minFreeGpuMemoryMiB",
        ge=0,
        le=1_048_576,
        description=(
            "Free GPU memory in MiB the probe requires before using NVENC; less falls "
            "back with reason InsufficientGPUMemory. Default: 500 (the seed's limit)."
        ),
    )

    @property
    def gpu_pending_timeout_seconds(self) -> float:
        """`gpuPendingTimeout` in seconds."""
        return parse_duration(self.gpu_pending_timeout)

    __rules__ = (
        base.Rule(
            cel=(
                "!has(self.gpuPendingTimeout) || "
                f"!self.gpuPendingTimeout.matches('{DURATION}') || "
                f"duration(self.gpuPendingTimeout) <= duration('{_MAX_GPU_PENDING_TIMEOUT}')"
            ),
            message="gpuPendingTimeout must be at most 24h",
            field="gpuPendingTimeout",
            check=lambda a: parse_duration(a.gpu_pending_timeout)
            <= parse_duration(_MAX_GPU_PENDING_TIMEOUT),
        ),
    )
