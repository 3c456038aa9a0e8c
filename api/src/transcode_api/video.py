"""The video part of one output (`spec.outputs[].video`): codec, encoder, size, rate, HDR.

`VideoSpec` says how one rendition's video stream is encoded: codec and
encoder, preset, size (a named rung or width/height, never upscaled), rate
control, two-pass, the HDR policy (`hdr`) and the frame rate (`frameRate`
fixes it, `maxFrameRate` caps it; neither: the source's timing, VFR kept).
`transcode_api.output.OutputSpec` holds one; the runner's planner reads it; its
paired `base.Rule`s become CEL in the CRD, so every description here is
`kubectl explain` text.
"""

from __future__ import annotations

import pydantic

from transcode_api import base, constants

_GPU = base.cel_list(constants.GPU_ENCODERS)
_EIGHT_BIT_CODECS = base.cel_list(constants.EIGHT_BIT_CODECS)
_EIGHT_BIT_ENCODERS = base.cel_list(constants.EIGHT_BIT_ENCODERS)
_NVENC_PRESETS = base.cel_list(constants.NVENC_PRESETS)
_ENCODER_CODEC_CEL = (
    "{" + ", ".join(f"'{e}': '{c}'" for e, c in sorted(constants.ENCODER_CODEC.items())) + "}"
)


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
            "Output size by name (2160p, 1440p, 1080p, 720p, 480p, 360p, 240p, 144p): "
            "the short side of the displayed frame (rotation and pixel aspect applied), "
            "so 720p of a portrait phone clip is 720x1280; the other side follows the "
            "displayed aspect ratio, rounded to an even number. Never upscaled: a "
            "smaller source keeps its size and the output's messages say NotUpscaled. "
            "Mutually exclusive with width/height. Default: the source size."
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

    hdr: constants.HdrMode | None = pydantic.Field(
        default=None,
        description=(
            "What happens to an HDR source (HDR10/PQ or HLG): auto keeps HDR when the "
            "output codec carries 10 bits (hevc, av1, vp9) and tone-maps to SDR BT.709 "
            "otherwise (h264); preserve keeps HDR (refused with h264, libx264 or "
            "h264_nvenc); tonemap always makes 8-bit SDR BT.709. HDR10 static metadata "
            "(mastering display, MaxCLL/MaxFALL) is carried to HDR outputs; Dolby Vision "
            "and HDR10+ dynamic metadata are not, which the output's messages say. "
            "No effect on SDR sources. Default: auto."
        ),
    )
    frame_rate: float | None = pydantic.Field(
        default=None,
        ge=constants.FRAME_RATE_MIN,
        le=constants.FRAME_RATE_MAX,
        description=(
            "Fixed output frame rate in frames per second (1..240; 23.976, 29.97 and "
            "59.94 mean the exact 1000/1001 rates): the output is constant-frame-rate, "
            "frames dropped or repeated as needed. Not with maxFrameRate. Default: the "
            "source's own timing (a variable-frame-rate source stays variable, no frame "
            "is duplicated)."
        ),
    )
    max_frame_rate: float | None = pydantic.Field(
        default=None,
        ge=constants.FRAME_RATE_MIN,
        le=constants.FRAME_RATE_MAX,
        description=(
            "Frame-rate cap in frames per second (1..240): a source above it is "
            "converted to exactly this rate, one at or below it keeps its own timing. "
            "Not with frameRate. Default: no cap."
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
            cel=(
                "!has(self.hdr) || self.hdr != 'preserve' || (has(self.codec) ? "
                f"!(self.codec in {_EIGHT_BIT_CODECS}) : "
                f"(has(self.encoder) && !(self.encoder in {_EIGHT_BIT_ENCODERS})))"
            ),
            message=(
                "hdr preserve needs a 10-bit codec (hevc, av1 or vp9); h264 (libx264, "
                "h264_nvenc) is 8-bit here: use hdr auto or tonemap"
            ),
            field="hdr",
            check=lambda v: v.hdr != constants.HdrMode.PRESERVE or (
                v.effective_codec.value not in constants.EIGHT_BIT_CODECS
                and (v.encoder is None or v.encoder.value not in constants.EIGHT_BIT_ENCODERS)
            ),
        ),
        base.Rule(
            cel="!has(self.frameRate) || !has(self.maxFrameRate)",
            message="set either frameRate (fixed) or maxFrameRate (cap), not both",
            field="frameRate",
            check=lambda v: v.frame_rate is None or v.max_frame_rate is None,
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
