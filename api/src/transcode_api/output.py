"""The per-output part of a TranscodeJob spec: `spec.outputs[]`, its video and audio.

`OutputSpec`, `VideoSpec` and `AudioSpec` say what one rendition should look
like. `transcode_api.spec.TranscodeJobSpec` holds a list of them; the runner's
planner reads them (through `effective_codec`) to pick an encoder and build the
FFmpeg arguments; `transcode_api.crdgen` turns their fields, bounds and paired
rules into the CRD schema, so every description here is `kubectl explain` text.
"""

from __future__ import annotations

import re

import pydantic

from transcode_api import base, constants

_GPU = base.cel_list(constants.GPU_ENCODERS)
_NVENC_PRESETS = base.cel_list(constants.NVENC_PRESETS)
_ENCODER_CODEC_CEL = (
    "{" + ", ".join(f"'{e}': '{c}'" for e, c in sorted(constants.ENCODER_CODEC.items())) + "}"
)
_WEBM_CODECS = (constants.Codec.AV1.value, constants.Codec.VP9.value)
_WEBM_ENCODERS = tuple(e for e, c in constants.ENCODER_CODEC.items() if c in _WEBM_CODECS)
_WEBM_AUDIO = (constants.AudioCodec.OPUS.value, constants.AudioCodec.NONE.value, "copy")
_S3_URL = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$"
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def _is_gpu(encoder: str | None) -> bool:
    return encoder is not None and encoder in constants.GPU_ENCODERS


def _twopass_ok(v: VideoSpec, cond: bool) -> bool:
    return not v.two_pass or not cond


class VideoSpec(base.SpecModel):
    """How the video stream of one output is encoded."""

    codec: constants.Codec | None = pydantic.Field(
        default=None,
        description=(
            "Video codec: h264, hevc, av1 or vp9. Default: the codec of `encoder` when "
            "one is named, else h264. The operator picks the NVENC encoder for it when a "
            "GPU is usable (h264_nvenc, hevc_nvenc, av1_nvenc) and the CPU encoder "
            "otherwise (libx264, libx265, libsvtav1, libvpx-vp9); vp9 is CPU-only."
        ),
    )
    encoder: constants.Encoder | None = pydantic.Field(
        default=None,
        description=(
            "Explicit FFmpeg encoder, overriding the automatic GPU/CPU choice: libx264, "
            "libx265, libsvtav1, libaom-av1, libvpx-vp9 (CPU) or h264_nvenc, hevc_nvenc, "
            "av1_nvenc (GPU only). Must produce `codec` when both are set. A CPU encoder "
            "runs on the CPU even when a GPU is free (fallback reason CPURequested)."
        ),
    )
    preset: constants.Preset | None = pydantic.Field(
        default=None,
        description=(
            "Speed/quality trade-off. ultrafast..veryslow (mapped to p1..p7 on NVENC), "
            "p1..p7 (NVENC presets, GPU only), or `cpu` to force CPU encoding with the "
            "encoder's default preset (the seed's special preset). Default: medium on "
            "the CPU, p5 on the GPU."
        ),
    )
    resolution: constants.Resolution | None = pydantic.Field(
        default=None,
        description=(
            "Output height by name (2160p, 1440p, 1080p, 720p, 480p, 360p); the width "
            "follows the source aspect ratio, rounded to an even number. Mutually "
            "exclusive with width/height. Default: the source size."
        ),
    )
    width: int | None = pydantic.Field(
        default=None,
        ge=constants.DIMENSION_MIN,
        le=constants.DIMENSION_MAX,
        description=(
            "Output width in pixels, even, 16..7680. With only one of width/height the "
            "other follows the source aspect ratio. Not together with resolution."
        ),
    )
    height: int | None = pydantic.Field(
        default=None,
        ge=constants.DIMENSION_MIN,
        le=constants.DIMENSION_MAX,
        description="Output height in pixels, even, 16..7680. Not together with resolution.",
    )
    bitrate: int | None = pydantic.Field(
        default=None,
        ge=constants.VIDEO_BITRATE_MIN,
        le=constants.VIDEO_BITRATE_MAX,
        description=(
            "Target average video bitrate in bits per second (64000..200000000, i.e. "
            "64 kbps..200 Mbps). Unset: quality-based rate control (crf or cq). "
            "Required by twoPass."
        ),
    )
    max_bitrate: int | None = pydantic.Field(
        default=None,
        ge=constants.VIDEO_BITRATE_MIN,
        le=constants.VIDEO_BITRATE_MAX,
        description=(
            "Peak video bitrate in bits per second (64 kbps..200 Mbps), at least "
            "`bitrate`; sets the VBV/maxrate cap. Unset: no cap beyond the encoder's."
        ),
    )
    crf: int | None = pydantic.Field(
        default=None,
        ge=0,
        le=63,
        description=(
            "Constant rate factor for CPU encoders (0..51 for x264/x265, 0..63 for AV1 "
            "and VP9; lower is better quality). Not with a GPU encoder (use cq). "
            "Default: the encoder's default (23 for libx264)."
        ),
    )
    cq: int | None = pydantic.Field(
        default=None,
        ge=0,
        le=51,
        description=(
            "Constant quality for NVENC encoders (0..51; lower is better). Not with an "
            "explicit CPU encoder (use crf). Default: 23, as the seed's NVENC profile."
        ),
    )
    two_pass: bool = pydantic.Field(
        default=False,
        description=(
            "Encode twice for more accurate bitrate allocation (about 2x the time). CPU "
            "only: refused with a GPU encoder, a p1..p7 preset or acceleration.mode gpu, "
            "and needs `bitrate`. With mode auto the output is encoded on the CPU."
        ),
    )

    @property
    def effective_codec(self) -> constants.Codec:
        """The codec this output produces: `codec`, else the encoder's, else h264."""
        if self.codec is not None:
            return constants.Codec(self.codec)
        if self.encoder is not None:
            return constants.Codec(constants.ENCODER_CODEC[self.encoder])
        return constants.Codec.H264

    __rules__ = (
        base.Rule(
            cel=f"!has(self.encoder) || !has(self.codec) || {_ENCODER_CODEC_CEL}[self.encoder] == self.codec",
            message=(
                "encoder must produce the requested codec (h264: libx264/h264_nvenc; "
                "hevc: libx265/hevc_nvenc; av1: libsvtav1/libaom-av1/av1_nvenc; vp9: libvpx-vp9)"
            ),
            field="encoder",
            check=lambda v: (
                v.encoder is None
                or v.codec is None
                or constants.ENCODER_CODEC[v.encoder] == v.codec
            ),
        ),
        base.Rule(
            cel=f"!(has(self.twoPass) && self.twoPass) || !has(self.encoder) || !(self.encoder in {_GPU})",
            message="twoPass is CPU-only and cannot be used with a GPU encoder (h264_nvenc, hevc_nvenc, av1_nvenc)",
            field="twoPass",
            check=lambda v: _twopass_ok(v, _is_gpu(v.encoder)),
        ),
        base.Rule(
            cel=f"!(has(self.twoPass) && self.twoPass) || !has(self.preset) || !(self.preset in {_NVENC_PRESETS})",
            message="twoPass is CPU-only and cannot be used with an NVENC preset (p1..p7)",
            field="twoPass",
            check=lambda v: _twopass_ok(v, v.preset in constants.NVENC_PRESETS),
        ),
        base.Rule(
            cel="!(has(self.twoPass) && self.twoPass) || has(self.bitrate)",
            message="twoPass needs a target bitrate (video.bitrate, bits per second)",
            field="twoPass",
            check=lambda v: _twopass_ok(v, v.bitrate is None),
        ),
        base.Rule(
            cel=f"!has(self.preset) || !(self.preset in {_NVENC_PRESETS}) || !has(self.encoder) || self.encoder in {_GPU}",
            message="presets p1..p7 are NVENC presets; a CPU encoder takes ultrafast..veryslow",
            field="preset",
            check=lambda v: (
                v.preset not in constants.NVENC_PRESETS or v.encoder is None or _is_gpu(v.encoder)
            ),
        ),
        base.Rule(
            cel=f"!has(self.preset) || self.preset != 'cpu' || !has(self.encoder) || !(self.encoder in {_GPU})",
            message="preset cpu forces CPU encoding and cannot be used with a GPU encoder",
            field="preset",
            check=lambda v: v.preset != constants.Preset.CPU or not _is_gpu(v.encoder),
        ),
        base.Rule(
            cel="!has(self.resolution) || (!has(self.width) && !has(self.height))",
            message="set either resolution or width/height, not both",
            field="resolution",
            check=lambda v: v.resolution is None or (v.width is None and v.height is None),
        ),
        base.Rule(
            cel="!has(self.width) || self.width % 2 == 0",
            message="width must be an even number of pixels (16..7680)",
            field="width",
            check=lambda v: v.width is None or v.width % 2 == 0,
        ),
        base.Rule(
            cel="!has(self.height) || self.height % 2 == 0",
            message="height must be an even number of pixels (16..7680)",
            field="height",
            check=lambda v: v.height is None or v.height % 2 == 0,
        ),
        base.Rule(
            cel="!has(self.maxBitrate) || !has(self.bitrate) || self.maxBitrate >= self.bitrate",
            message="maxBitrate must be at least bitrate (both in bits per second)",
            field="maxBitrate",
            check=lambda v: v.max_bitrate is None or v.bitrate is None or v.max_bitrate >= v.bitrate,
        ),
        base.Rule(
            cel=f"!has(self.crf) || !has(self.encoder) || !(self.encoder in {_GPU})",
            message="crf is a CPU-encoder setting; with a GPU encoder use cq",
            field="crf",
            check=lambda v: v.crf is None or not _is_gpu(v.encoder),
        ),
        base.Rule(
            cel=f"!has(self.cq) || !has(self.encoder) || self.encoder in {_GPU}",
            message="cq is an NVENC setting; with a CPU encoder use crf",
            field="cq",
            check=lambda v: v.cq is None or v.encoder is None or _is_gpu(v.encoder),
        ),
    )


class AudioSpec(base.SpecModel):
    """How the audio stream of one output is handled."""

    codec: constants.AudioCodec | None = pydantic.Field(
        default=None,
        description=(
            "aac or opus to encode, copy to pass the source stream through unchanged, "
            "none to drop audio. Default: aac, or opus in a webm container."
        ),
    )
    bitrate: int | None = pydantic.Field(
        default=None,
        ge=constants.AUDIO_BITRATE_MIN,
        le=constants.AUDIO_BITRATE_MAX,
        description=(
            "Audio bitrate in bits per second (16000..512000, i.e. 16..512 kbps); only "
            "with aac or opus. Default: 128000 for aac, 96000 for opus."
        ),
    )

    def effective_codec(self, container: constants.Container) -> constants.AudioCodec:
        """The audio codec used in `container`: `codec`, else opus for webm, else aac."""
        if self.codec is not None:
            return constants.AudioCodec(self.codec)
        if container == constants.Container.WEBM:
            return constants.AudioCodec.OPUS
        return constants.AudioCodec.AAC

    __rules__ = (
        base.Rule(
            cel="!has(self.bitrate) || !has(self.codec) || self.codec in ['aac', 'opus']",
            message="bitrate applies only when audio is encoded (codec aac or opus), not with copy or none",
            field="bitrate",
            check=lambda a: a.bitrate is None or a.codec in (None, "aac", "opus"),
        ),
    )


class OutputSpec(base.SpecModel):
    """One rendition: where it goes, in which container, with which video and audio."""

    name: str = pydantic.Field(
        max_length=constants.MAX_NAME_LENGTH,
        pattern=_DNS_LABEL,
        description=(
            "Name of this output, unique within the job: a DNS label (lowercase letters, "
            "digits, '-', at most 63 characters). Used in status.outputs and metrics."
        ),
    )
    destination: str = pydantic.Field(
        max_length=constants.MAX_URL_LENGTH,
        description=(
            "Where the file is uploaded: s3://bucket/key, unique within the job. Written "
            "with a parallel multipart upload and verified by checksum; an existing "
            "object is overwritten."
        ),
    )
    container: constants.Container = pydantic.Field(
        default=constants.Container.MP4,
        description=(
            "Container format: mp4 (default, with +faststart), mkv or webm. webm needs "
            "video codec vp9 or av1 and audio opus, copy or none."
        ),
    )
    video: VideoSpec = pydantic.Field(
        default_factory=VideoSpec,
        json_schema_extra={"default": {}},
        description="Video encoding settings. Default: h264 at the source size, quality-based.",
    )
    audio: AudioSpec = pydantic.Field(
        default_factory=AudioSpec,
        json_schema_extra={"default": {}},
        description="Audio settings. Default: aac at 128 kbps (opus at 96 kbps in webm).",
    )

    __rules__ = (
        base.Rule(
            cel=f"self.destination.matches('{_S3_URL}')",
            message="destination must be an s3://bucket/key URL",
            field="destination",
            check=lambda o: re.fullmatch(_S3_URL, o.destination) is not None,
        ),
        base.Rule(
            cel=(
                "!has(self.container) || self.container != 'webm' || (has(self.video) && "
                f"(has(self.video.codec) ? self.video.codec in {base.cel_list(_WEBM_CODECS)} : "
                f"(has(self.video.encoder) && self.video.encoder in {base.cel_list(_WEBM_ENCODERS)})))"
            ),
            message="container webm needs video codec vp9 or av1",
            field="container",
            check=lambda o: o.container != "webm" or o.video.effective_codec in _WEBM_CODECS,
        ),
        base.Rule(
            cel=(
                "!has(self.container) || self.container != 'webm' || !has(self.audio) || "
                f"!has(self.audio.codec) || self.audio.codec in {base.cel_list(_WEBM_AUDIO)}"
            ),
            message="container webm needs audio codec opus, copy or none",
            field="container",
            check=lambda o: o.container != "webm" or o.audio.codec in (None, *_WEBM_AUDIO),
        ),
    )

