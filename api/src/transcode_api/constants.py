"""Names and numbers that the CRD, the operator and the runner must agree on.

This module is the bottom of the bottom layer: the API group and version, the
finalizer name, condition types, phases, fallback reasons, the encoder tables
and the spec's bounds. What only the runner and the operator exchange (env
names, exit codes, labels, Redis keys) is in `transcode_api.contract`.
`transcode_api.spec`, `transcode_api.status` and `transcode_api.crdgen` build on
it; the operator (Pod builders, retry classification) and the runner (probe,
plan, report) import it so that a name is spelled in exactly one place.
"""

from __future__ import annotations

import enum

GROUP = "kubetranscoder.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "TranscodeJob"
PLURAL = "transcodejobs"
SINGULAR = "transcodejob"
SHORT_NAMES = ["tj"]
CATEGORIES = ["transcoding"]
CRD_NAME = f"{PLURAL}.{GROUP}"
FINALIZER = f"{GROUP}/finalizer"

# Limits the API server's termination-message reader applies (bytes).
TERMINATION_MESSAGE_MAX_BYTES = 4096


class ConditionType(enum.StrEnum):
    """Condition types in `status.conditions` (a map keyed by type)."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    GPU_ACCELERATED = "GPUAccelerated"
    RECONCILING = "Reconciling"  # kstatus: work is in progress.
    STALLED = "Stalled"  # kstatus: no progress is possible without a change.
    UNKNOWN_FIELDS = "UnknownFields"  # True: spec fields were dropped or ignored (named).


class ConditionStatus(enum.StrEnum):
    """Values of a condition's `status` field (Kubernetes API conventions)."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Phase(enum.StrEnum):
    """The single-word summary in `status.phase`, shown by `kubectl get tj`."""

    PENDING = "Pending"
    QUEUED = "Queued"  # Kueue holds the attempt's batch Job (no quota yet)
    ADMITTED = "Admitted"  # Kueue released it; its Pod is being made
    PREEMPTED = "Preempted"  # Kueue evicted it; the next attempt is queued (not counted)
    SCHEDULING = "Scheduling"
    RUNNING = "Running"
    UPLOADING = "Uploading"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class RunnerPhase(enum.StrEnum):
    """The phases the runner itself reports in `status.runner.phase`."""

    RUNNING = "Running"
    UPLOADING = "Uploading"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class Outcome(enum.StrEnum):
    """The final outcome of one runner attempt (`status.runner.result.outcome`)."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class FallbackReason(enum.StrEnum):
    """Why a job ran on the CPU although a GPU could have been used."""

    NO_GPU = "NoGPU"
    NVML_UNAVAILABLE = "NVMLUnavailable"
    INSUFFICIENT_GPU_MEMORY = "InsufficientGPUMemory"
    ENCODER_NOT_IN_FFMPEG = "EncoderNotInFFmpeg"
    NO_ENCODER_ON_DEVICE = "NoEncoderOnDevice"
    NVENC_INIT_FAILED = "NVENCInitFailed"
    SESSION_LIMIT_REACHED = "SessionLimitReached"
    CODEC_NOT_SUPPORTED_ON_GPU = "CodecNotSupportedOnGPU"
    ENCODE_FAILED = "EncodeFailed"
    GPU_UNSCHEDULABLE = "GPUUnschedulable"
    GPU_QUOTA_EXHAUSTED = "GPUQuotaExhausted"
    CPU_REQUESTED = "CPURequested"


class AccelerationMode(enum.StrEnum):
    """`spec.acceleration.mode`: where the user wants the encode to run."""

    AUTO = "auto"
    GPU = "gpu"
    CPU = "cpu"


class Codec(enum.StrEnum):
    """Video codecs a user may ask for (`spec.outputs[].video.codec`)."""

    H264 = "h264"
    HEVC = "hevc"
    AV1 = "av1"
    VP9 = "vp9"


class Encoder(enum.StrEnum):
    """FFmpeg encoders a user may name explicitly (`spec.outputs[].video.encoder`)."""

    LIBX264 = "libx264"
    LIBX265 = "libx265"
    LIBSVTAV1 = "libsvtav1"
    LIBAOM_AV1 = "libaom-av1"
    LIBVPX_VP9 = "libvpx-vp9"
    H264_NVENC = "h264_nvenc"
    HEVC_NVENC = "hevc_nvenc"
    AV1_NVENC = "av1_nvenc"


class Preset(enum.StrEnum):
    """Speed/quality presets: x264-style names, NVENC p1..p7, or `cpu` to force the CPU."""

    ULTRAFAST = "ultrafast"
    SUPERFAST = "superfast"
    VERYFAST = "veryfast"
    FASTER = "faster"
    FAST = "fast"
    MEDIUM = "medium"
    SLOW = "slow"
    SLOWER = "slower"
    VERYSLOW = "veryslow"
    P1 = "p1"
    P2 = "p2"
    P3 = "p3"
    P4 = "p4"
    P5 = "p5"
    P6 = "p6"
    P7 = "p7"
    CPU = "cpu"


class Resolution(enum.StrEnum):
    """Named output heights; the width follows the source's aspect ratio."""

    R2160P = "2160p"
    R1440P = "1440p"
    R1080P = "1080p"
    R720P = "720p"
    R480P = "480p"
    R360P = "360p"
    R240P = "240p"
    R144P = "144p"


class HdrMode(enum.StrEnum):
    """`spec.outputs[].video.hdr`: what happens to an HDR10/HLG source."""

    AUTO = "auto"  # keep HDR when the output codec carries 10-bit, else tone-map to SDR
    PRESERVE = "preserve"  # keep HDR; refused with an 8-bit-only codec or encoder
    TONEMAP = "tonemap"  # always SDR BT.709, 8-bit


class AudioCodec(enum.StrEnum):
    """Audio handling per output: encode to AAC/Opus, copy the stream, or drop it."""

    AAC = "aac"
    OPUS = "opus"
    COPY = "copy"
    NONE = "none"


class Container(enum.StrEnum):
    """Output container formats."""

    MP4 = "mp4"
    MKV = "mkv"
    WEBM = "webm"


# Default key names inside the user's credentials Secret (AWS-like).
DEFAULT_ACCESS_KEY_ID_KEY = "AWS_ACCESS_KEY_ID"
DEFAULT_SECRET_ACCESS_KEY_KEY = "AWS_SECRET_ACCESS_KEY"

# --- encoders -----------------------------------------------------------------
GPU_ENCODERS: frozenset[str] = frozenset({"h264_nvenc", "hevc_nvenc", "av1_nvenc"})
CPU_ENCODERS: frozenset[str] = frozenset(
    {"libx264", "libx265", "libsvtav1", "libaom-av1", "libvpx-vp9"}
)
# The encoders `spec.outputs[].video.encoder` accepts, in a stable order.
ENCODERS: tuple[str, ...] = tuple(e.value for e in Encoder)
# codec -> (GPU encoder or None, CPU encoder). VP9 has no NVENC encoder.
CODEC_ENCODERS: dict[str, tuple[str | None, str]] = {
    Codec.H264.value: ("h264_nvenc", "libx264"),
    Codec.HEVC.value: ("hevc_nvenc", "libx265"),
    Codec.AV1.value: ("av1_nvenc", "libsvtav1"),
    Codec.VP9.value: (None, "libvpx-vp9"),
}
# encoder -> codec it produces.
ENCODER_CODEC: dict[str, str] = {
    "libx264": Codec.H264.value,
    "h264_nvenc": Codec.H264.value,
    "libx265": Codec.HEVC.value,
    "hevc_nvenc": Codec.HEVC.value,
    "libsvtav1": Codec.AV1.value,
    "libaom-av1": Codec.AV1.value,
    "av1_nvenc": Codec.AV1.value,
    "libvpx-vp9": Codec.VP9.value,
}

# Encoders this runner drives at 8 bits only (H.264 High profile): no HDR output.
EIGHT_BIT_ENCODERS: frozenset[str] = frozenset({"libx264", "h264_nvenc"})
EIGHT_BIT_CODECS: frozenset[str] = frozenset({Codec.H264.value})

# --- presets ------------------------------------------------------------------
CPU_PRESETS: tuple[str, ...] = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)
NVENC_PRESETS: tuple[str, ...] = ("p1", "p2", "p3", "p4", "p5", "p6", "p7")
FORCE_CPU_PRESET = "cpu"  # the seed's special preset: run on the CPU with its default preset
PRESETS: tuple[str, ...] = tuple(p.value for p in Preset)

# --- resolutions ----------------------------------------------------------------
# name -> output height in pixels; width follows the source aspect ratio.
RESOLUTION_HEIGHTS: dict[str, int] = {r.value: int(r.value[:-1]) for r in Resolution}

FRAME_RATE_MIN = 1  # frames per second
FRAME_RATE_MAX = 240  # frames per second

# --- bounds (shared by the pydantic validators and the CRD schema/CEL) ----------
VIDEO_BITRATE_MIN = 64_000  # bps
VIDEO_BITRATE_MAX = 200_000_000  # bps
AUDIO_BITRATE_MIN = 16_000  # bps
AUDIO_BITRATE_MAX = 512_000  # bps
DIMENSION_MIN = 16  # px
DIMENSION_MAX = 7680  # px
MAX_OUTPUTS = 16
MAX_URL_LENGTH = 1024
MAX_NAME_LENGTH = 63
MAX_TOLERATIONS = 32
MAX_MAP_ENTRIES = 64
