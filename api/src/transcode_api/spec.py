"""The TranscodeJob spec: what a user asks for, validated exactly as admission does.

`TranscodeJobSpec` is the single source of truth for `spec` (the CRD schema is
generated from it by `transcode_api.crdgen`). The operator calls `parse_spec`
on every object it sees (validating again, with the same paired rules as the
CRD's CEL), `check_update` to mirror the immutability rule, and `to_json` to
freeze the spec into the runner Pod's `TRANSCODER_JOB_SPEC`; the runner calls
`TranscodeJobSpec.from_json` on that variable. `parse_duration` reads Go-style
durations such as `2m` or `1h30s` (used by `gpuPendingTimeout`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

import pydantic

from transcode_api import base, constants, errors, output, placement, urls

_S3_URL = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$"
_HTTPS_URL = r"^https://[^/ ?#]+([/?#].*)?$"
_DURATION = r"^([0-9]+([.][0-9]+)?(ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_MAX_GPU_PENDING_TIMEOUT = "24h"


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration (`90s`, `2m`, `1h30m`, `1.5h`, `500ms`).

    Raises ValueError on anything else (units: ms, s, m, h; no sign, no spaces).
    """
    if not re.fullmatch(_DURATION, text):
        raise ValueError(f"not a duration such as 90s, 2m or 1h30m: {text!r}")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


class CredentialsSecretRef(base.SpecModel):
    """A Secret in the job's namespace holding the S3 access key pair."""

    name: str = pydantic.Field(
        max_length=253,
        pattern=_DNS_SUBDOMAIN,
        description=(
            "Name of the Secret in the job's namespace. Its values reach the runner only "
            "as secretKeyRef environment variables; they are never logged or copied."
        ),
    )
    access_key_id_key: str = pydantic.Field(
        default=constants.DEFAULT_ACCESS_KEY_ID_KEY,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key in the Secret holding the access key ID. Default: AWS_ACCESS_KEY_ID.",
    )
    secret_access_key_key: str = pydantic.Field(
        default=constants.DEFAULT_SECRET_ACCESS_KEY_KEY,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key in the Secret holding the secret access key. Default: AWS_SECRET_ACCESS_KEY.",
    )


class Storage(base.SpecModel):
    """The S3-compatible object store used for the source (s3://) and every output."""

    endpoint: str | None = pydantic.Field(
        default=None,
        max_length=constants.MAX_URL_LENGTH,
        pattern=r"^https?://[^/ ]+(/.*)?$",
        description=(
            "S3 endpoint URL (https://s3.example.internal, or http:// for a local "
            "server). Omit for AWS S3."
        ),
    )
    region: str | None = pydantic.Field(
        default=None,
        max_length=64,
        pattern=r"^[a-z0-9-]+$",
        description="Region name for request signing (us-east-1). Default: the SDK's default.",
    )
    path_style: bool = pydantic.Field(
        default=False,
        description=(
            "Address buckets as endpoint/bucket/key instead of bucket.endpoint/key. "
            "Most S3-compatible servers (MinIO and similar) need true. Default: false."
        ),
    )
    credentials_secret_ref: CredentialsSecretRef | None = pydantic.Field(
        default=None,
        description=(
            "Secret with the access key pair. Omit to use the runner's ambient "
            "credentials (IAM role for service accounts, instance profile)."
        ),
    )

    __rules__ = urls.ENDPOINT_RULES


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
        pattern=_DURATION,
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
                f"!self.gpuPendingTimeout.matches('{_DURATION}') || "
                f"duration(self.gpuPendingTimeout) <= duration('{_MAX_GPU_PENDING_TIMEOUT}')"
            ),
            message="gpuPendingTimeout must be at most 24h",
            field="gpuPendingTimeout",
            check=lambda a: parse_duration(a.gpu_pending_timeout)
            <= parse_duration(_MAX_GPU_PENDING_TIMEOUT),
        ),
    )


def _mode_is(mode: str) -> str:
    return f"(has(self.acceleration) && has(self.acceleration.mode) && self.acceleration.mode == '{mode}')"


def _all_videos(condition: str) -> str:
    return f"self.outputs.all(o, !has(o.video) || {condition})"


def _unique(field: str) -> str:
    return f"self.outputs.all(o, self.outputs.exists_one(p, p.{field} == o.{field}))"


_GPU = base.cel_list(constants.GPU_ENCODERS)
_NVENC = base.cel_list(constants.NVENC_PRESETS)


def _unique_ok(values: list[str]) -> bool:
    return len(values) == len(set(values))


def _videos(spec: TranscodeJobSpec) -> list[output.VideoSpec]:
    return [o.video for o in spec.outputs]


class TranscodeJobSpec(base.SpecModel):
    """What to transcode, into which outputs, where to run it and how to retry."""

    source: str = pydantic.Field(
        max_length=constants.MAX_URL_LENGTH,
        description=(
            "The input video: s3://bucket/key (read with spec.storage) or an https:// "
            "URL. Downloaded with parallel ranged requests."
        ),
    )
    storage: Storage = pydantic.Field(
        default_factory=Storage,
        json_schema_extra={"default": {}},
        description="S3 endpoint and credentials for the source and the outputs. Default: AWS S3, ambient credentials.",
    )
    outputs: list[output.OutputSpec] = pydantic.Field(
        min_length=1,
        max_length=constants.MAX_OUTPUTS,
        description=(
            "Renditions to produce from the source (1..16), each with a unique name and "
            "a unique s3:// destination. All are encoded in one runner Pod."
        ),
    )
    acceleration: Acceleration = pydantic.Field(
        default_factory=Acceleration,
        json_schema_extra={"default": {}},
        description="GPU/CPU choice and fallback policy. Default: auto with CPU fallback.",
    )
    resources: placement.ResourceRequirements | None = pydantic.Field(
        default=None,
        description="CPU and memory requests/limits of the runner container. Default: the operator's settings.",
    )
    node_selector: dict[str, Annotated[str, pydantic.Field(max_length=63)]] | None = pydantic.Field(
        default=None,
        max_length=constants.MAX_MAP_ENTRIES,
        description="Node labels the runner Pod must match (Pod nodeSelector).",
    )
    tolerations: list[placement.Toleration] | None = pydantic.Field(
        default=None,
        max_length=constants.MAX_TOLERATIONS,
        description=(
            "Tolerations of the runner Pod (at most 32). GPU Pods also tolerate "
            "nvidia.com/gpu:NoSchedule without being told."
        ),
    )
    affinity: dict[str, Any] | None = pydantic.Field(
        default=None,
        description="Pod affinity/anti-affinity, as a core/v1 Affinity object, copied to the runner Pod.",
    )
    priority_class_name: str | None = pydantic.Field(
        default=None,
        max_length=253,
        pattern=_DNS_SUBDOMAIN,
        description="PriorityClass of the runner Pod.",
    )
    runtime_class_name: str | None = pydantic.Field(
        default=None,
        max_length=253,
        pattern=_DNS_SUBDOMAIN,
        description=(
            "RuntimeClass of the runner Pod. Default: the operator's configured GPU "
            "RuntimeClass (nvidia) for GPU Pods, none for CPU Pods."
        ),
    )
    backoff_limit: int = pydantic.Field(
        default=3,
        ge=0,
        le=100,
        description=(
            "Retries after transient runner failures (exit code 75) before the job is "
            "Failed; backoff 10s doubling up to 6m. Bad input (exit 65) never retries; "
            "evictions are not counted. Default: 3."
        ),
    )
    active_deadline_seconds: int | None = pydantic.Field(
        default=None,
        ge=1,
        description=(
            "Seconds from the first start after which the job is Failed with reason "
            "DeadlineExceeded and its Pod stopped. Default: no deadline."
        ),
    )
    ttl_seconds_after_finished: int | None = pydantic.Field(
        default=None,
        ge=0,
        description="Seconds after Succeeded or Failed when the operator deletes the job. Default: kept.",
    )
    suspend: bool = pydantic.Field(
        default=False,
        description=(
            "True stops the running Pod (the attempt is not counted) and starts none "
            "until set back to false. The only spec field that may change after creation."
        ),
    )

    __rules__ = (
        *urls.SOURCE_RULES,
        base.Rule(
            cel=f"self.source.matches('{_S3_URL}') || self.source.matches('{_HTTPS_URL}')",
            message="source must be an s3://bucket/key or https:// URL",
            field="source",
            check=lambda s: bool(re.match(_S3_URL, s.source) or re.match(_HTTPS_URL, s.source)),
        ),
        base.Rule(
            cel=_unique("name"),
            message="output names must be unique",
            field="outputs",
            check=lambda s: _unique_ok([o.name for o in s.outputs]),
        ),
        base.Rule(
            cel=_unique("destination"),
            message="output destinations must be unique",
            field="outputs",
            check=lambda s: _unique_ok([o.destination for o in s.outputs]),
        ),
        base.Rule(
            cel=f"!{_mode_is('cpu')} || " + _all_videos(f"!has(o.video.encoder) || !(o.video.encoder in {_GPU})"),
            message="a GPU-only encoder (h264_nvenc, hevc_nvenc, av1_nvenc) in outputs[].video.encoder cannot run with acceleration.mode cpu",
            field="acceleration.mode",
            check=lambda s: s.acceleration.mode != "cpu"
            or not any(v.encoder in constants.GPU_ENCODERS for v in _videos(s)),
        ),
        base.Rule(
            cel=f"!{_mode_is('cpu')} || " + _all_videos(f"!has(o.video.preset) || !(o.video.preset in {_NVENC})"),
            message="NVENC presets p1..p7 in outputs[].video.preset cannot run with acceleration.mode cpu",
            field="acceleration.mode",
            check=lambda s: s.acceleration.mode != "cpu"
            or not any(v.preset in constants.NVENC_PRESETS for v in _videos(s)),
        ),
        base.Rule(
            cel=f"!{_mode_is('gpu')} || " + _all_videos(f"!has(o.video.encoder) || o.video.encoder in {_GPU}"),
            message="acceleration.mode gpu cannot use a CPU encoder in outputs[].video.encoder; use mode auto or cpu",
            field="acceleration.mode",
            check=lambda s: s.acceleration.mode != "gpu"
            or all(v.encoder is None or v.encoder in constants.GPU_ENCODERS for v in _videos(s)),
        ),
        base.Rule(
            cel=f"!{_mode_is('gpu')} || " + _all_videos("!has(o.video.preset) || o.video.preset != 'cpu'"),
            message="acceleration.mode gpu cannot use preset cpu in outputs[].video.preset",
            field="acceleration.mode",
            check=lambda s: s.acceleration.mode != "gpu"
            or all(v.preset != constants.Preset.CPU for v in _videos(s)),
        ),
        base.Rule(
            cel=f"!{_mode_is('gpu')} || " + _all_videos("!has(o.video.twoPass) || !o.video.twoPass"),
            message="outputs[].video.twoPass is CPU-only and cannot run with acceleration.mode gpu",
            field="acceleration.mode",
            check=lambda s: s.acceleration.mode != "gpu" or not any(v.two_pass for v in _videos(s)),
        ),
    )

    def to_json(self) -> str:
        """The frozen spec for `TRANSCODER_JOB_SPEC`: compact JSON, camelCase, defaults filled."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> TranscodeJobSpec:
        """Read a frozen spec written by `to_json`; raises `errors.SpecError`."""
        try:
            return cls.model_validate_json(text)
        except pydantic.ValidationError as exc:
            raise errors.SpecError.from_validation_error(exc, "spec") from None

    def to_dict(self) -> dict[str, Any]:
        """The spec as a JSON-ready dict by alias (defaults filled, unset fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def parse_spec(data: Mapping[str, Any]) -> TranscodeJobSpec:
    """Validate a spec mapping (as read from the API server) into the typed model.

    Applies the same defaults and rules as the CRD; raises `errors.SpecError`
    whose problems name each offending field (`spec.outputs[0].video.twoPass`).
    """
    try:
        return TranscodeJobSpec.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        raise errors.SpecError.from_validation_error(exc, "spec") from None


IMMUTABLE_EXCEPT = ("suspend",)
IMMUTABLE_MESSAGE = (
    "spec is immutable after creation except suspend; delete and recreate the TranscodeJob"
)


def changed_fields(old: TranscodeJobSpec, new: TranscodeJobSpec) -> list[str]:
    """camelCase names of top-level spec fields that differ between two specs."""
    before, after = old.to_dict(), new.to_dict()
    return [k for k in sorted(before.keys() | after.keys()) if before.get(k) != after.get(k)]


def check_update(old: TranscodeJobSpec, new: TranscodeJobSpec) -> None:
    """Mirror of the CRD's transition rule: only `suspend` may change after creation."""
    changed = [f for f in changed_fields(old, new) if f not in IMMUTABLE_EXCEPT]
    if changed:
        raise errors.SpecError(
            [("spec", f"{IMMUTABLE_MESSAGE} (changed: {', '.join(changed)})")]
        )

