"""The TranscodeJob spec: what a user asks for, validated exactly as admission does.

`TranscodeJobSpec` is the single source of truth for `spec` (the CRD schema is
generated from it by `transcode_api.crdgen`). The operator calls `parse_spec`
on every object it sees (validating again, with the same paired rules as the
CRD's CEL), `check_update` to mirror the immutability rule, and `to_json` to
freeze the spec into the runner Pod's `TRANSCODER_JOB_SPEC`; the runner calls
`TranscodeJobSpec.from_json` on that variable. Its parts `storage` and
`acceleration` live in modules of those names and are re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

import pydantic

from transcode_api import acceleration, base, constants, errors, output, placement, storage, urls
from transcode_api import notify as job_notify
from transcode_api import packaging as pkg  # the field `packaging` would shadow the module
from transcode_api import thumbnails as thumbs  # so would `thumbnails`

_S3_URL = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$"
_HTTPS_URL = r"^https://[^/ ?#]+([/?#].*)?$"

# Parts of the spec that live in their own modules, under their historical names here.
CredentialsSecretRef = storage.CredentialsSecretRef
Storage = storage.Storage
Acceleration = acceleration.Acceleration
parse_duration = acceleration.parse_duration
_DNS_SUBDOMAIN = storage.DNS_SUBDOMAIN


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
    packaging: pkg.PackagingSpec | None = pydantic.Field(
        default=None,
        description=(
            "Package the video outputs as HLS, DASH or CMAF renditions (audio as its own "
            "group) under an s3:// prefix, besides uploading each output. Default: none."
        ),
    )
    thumbnails: thumbs.ThumbnailsSpec | None = pydantic.Field(
        default=None, description="Poster, sprite storyboard (WebVTT) and animated preview of "
        "the source, from the same decode as the outputs, under an s3:// prefix. Default: none.")
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
    queue_name: str | None = pydantic.Field(
        default=None,
        max_length=63,
        pattern=output.DNS_LABEL,
        description=(
            "Kueue LocalQueue of this job (also read from the label kueue.x-k8s.io/queue-name): "
            "each attempt runs as a suspended batch/v1 Job that Kueue admits. "
            "Default: the operator's queues settings; none runs the Pod directly."
        ),
    )
    workload_priority_class_name: str | None = pydantic.Field(
        default=None,
        max_length=253,
        pattern=_DNS_SUBDOMAIN,
        description=(
            "Kueue WorkloadPriorityClass of a queued job's attempts "
            "(label kueue.x-k8s.io/priority-class). Default: Kueue's default priority."
        ),
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
    notify: job_notify.NotifySpec | None = pydantic.Field(
        default=None,
        description=(
            "Where the operator POSTs this job's CloudEvents (Started, FellBack, Succeeded, "
            "Failed), signed with a Secret's key. Default: no notifications."
        ),
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
        *pkg.JOB_RULES,
        *thumbs.JOB_RULES,
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

