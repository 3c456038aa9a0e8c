"""Per-encoder FFmpeg options: NVENC as the seed specifies, CPU encoders, containers.

`plan` asks `video_args` for the options of one output's video encoder, and
`pass_args` / `container_args` for two-pass and muxer options. NVENC H.264:
preset mapped to p1..p7, VBR, CQ 23, 3 B-frames with middle reference, High
profile, level 4.1 (higher only when the frame size or rate needs it); HEVC
NVENC: 4 B-frames, Main profile (Main10 for HDR), High tier. libx265 gets the
HDR10/HLG signalling and static metadata of the output's `render.Look`, and
libsvtav1 the static metadata. CPU encoders take the x264-style
preset (translated for SVT-AV1, libaom and libvpx), a bitrate or a CRF. Pure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from transcode_api import constants, output
from transcode_runner.domain import colorimetry, render

EXTENSIONS = {"mp4": "mp4", "mkv": "mkv", "webm": "webm"}
CONTENT_TYPES = {"mp4": "video/mp4", "mkv": "video/x-matroska", "webm": "video/webm"}
_MUXERS = {"mp4": "mp4", "mkv": "matroska", "webm": "webm"}

# x264-style names to NVENC presets (the seed: ultrafast -> p1 ... medium -> p6, slow -> p7).
NVENC_PRESET = {
    "ultrafast": "p1",
    "superfast": "p2",
    "veryfast": "p3",
    "faster": "p4",
    "fast": "p5",
    "medium": "p6",
    "slow": "p7",
    "slower": "p7",
    "veryslow": "p7",
}
# NVENC presets back to x264-style names, for a CPU fallback of a p1..p7 output.
CPU_PRESET = {"p1": "ultrafast", "p2": "superfast", "p3": "veryfast", "p4": "faster",
              "p5": "fast", "p6": "medium", "p7": "slow"}
DEFAULT_NVENC_PRESET = "p5"
DEFAULT_CPU_PRESET = "medium"
NVENC_CQ = 23
_SVT_PRESET = {"ultrafast": 12, "superfast": 11, "veryfast": 10, "faster": 9, "fast": 8,
               "medium": 7, "slow": 5, "slower": 4, "veryslow": 2}
_AOM_CPU_USED = {"ultrafast": 8, "superfast": 8, "veryfast": 7, "faster": 6, "fast": 5,
                 "medium": 4, "slow": 3, "slower": 2, "veryslow": 1}
_VPX_CPU_USED = {"ultrafast": 8, "superfast": 7, "veryfast": 6, "faster": 5, "fast": 4,
                 "medium": 3, "slow": 2, "slower": 1, "veryslow": 0}
# H.264 levels: (level, max macroblocks per frame, max macroblocks per second).
_H264_LEVELS = (("4.1", 8192, 245_760), ("4.2", 8704, 522_240), ("5.1", 36_864, 983_040),
                ("5.2", 36_864, 2_073_600), ("6.2", 139_264, 16_711_680))
_X265_QUIET = "log-level=error"  # x265 logs on its own; keep stderr for FFmpeg's errors
_TWO_PASS = frozenset({"libx264", "libx265", "libvpx-vp9", "libaom-av1"})


class Frame(Protocol):
    """The output frame facts `video_args` needs (`plan.OutputPlan` fits)."""

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    @property
    def look(self) -> render.Look | None: ...


def supports_two_pass(encoder: str) -> bool:
    """Whether this runner does two-pass with `encoder` (CPU encoders but SVT-AV1)."""
    return encoder in _TWO_PASS


def video_args(
    encoder: str, video: output.VideoSpec, device: int | None, frame: Frame, fps: float | None
) -> list[str]:
    """`-c:v` and the rate-control options of one output."""
    if encoder in constants.GPU_ENCODERS:
        return _nvenc(encoder, video, device, frame, fps)
    preset = cpu_preset(video)
    args = ["-c:v", encoder]
    if encoder == "libx264":
        args += ["-preset", preset] if preset else []
        args += _rate(video, crf_flag="-crf")
    elif encoder == "libx265":
        args += ["-preset", preset] if preset else []
        args += _rate(video, crf_flag="-crf") + ["-tag:v", "hvc1",
                                                  "-x265-params", x265_params(frame.look)]
    elif encoder == "libsvtav1":
        args += ["-preset", str(_SVT_PRESET[preset])] if preset else []
        args += _rate(video, crf_flag="-crf")
        if frame.look is not None and (hdr := colorimetry.svt_av1_hdr_params(frame.look.hdr)):
            args += ["-svtav1-params", ":".join(hdr)]
    elif encoder == "libaom-av1":
        args += ["-cpu-used", str(_AOM_CPU_USED[preset or DEFAULT_CPU_PRESET]), "-row-mt", "1"]
        args += _rate(video, crf_flag="-crf", zero_bitrate_for_crf=True)
    elif encoder == "libvpx-vp9":
        args += ["-deadline", "good", "-cpu-used", str(_VPX_CPU_USED[preset or DEFAULT_CPU_PRESET]),
                 "-row-mt", "1"]
        args += _rate(video, crf_flag="-crf", zero_bitrate_for_crf=True)
    else:
        args += _rate(video, crf_flag="-crf")
    return args


def cpu_preset(video: output.VideoSpec) -> str | None:
    """x264-style preset for a CPU encoder; None means the encoder's own default (`cpu`)."""
    if video.preset is None:
        return DEFAULT_CPU_PRESET
    if video.preset == constants.Preset.CPU:
        return None
    return CPU_PRESET.get(video.preset.value, video.preset.value)


def nvenc_preset(video: output.VideoSpec) -> str:
    """p1..p7 for NVENC from the spec's preset (default p5)."""
    if video.preset is None or video.preset == constants.Preset.CPU:
        return DEFAULT_NVENC_PRESET
    value = video.preset.value
    return value if value in constants.NVENC_PRESETS else NVENC_PRESET[value]


def _nvenc(
    encoder: str, video: output.VideoSpec, device: int | None, frame: Frame, fps: float | None
) -> list[str]:
    args = ["-c:v", encoder]
    if device is not None:
        args += ["-gpu", str(device)]
    args += ["-preset", nvenc_preset(video), "-rc", "vbr",
             "-cq", str(video.cq if video.cq is not None else NVENC_CQ),
             "-b:v", str(video.bitrate or 0)]
    if video.max_bitrate:
        args += ["-maxrate", str(video.max_bitrate), "-bufsize", str(2 * video.max_bitrate)]
    if encoder == "h264_nvenc":
        args += ["-bf", "3", "-b_ref_mode", "middle", "-profile:v", "high",
                 "-level", h264_level(frame.width, frame.height, fps)]
    elif encoder == "hevc_nvenc":
        ten_bit = frame.look is not None and frame.look.colour.bit_depth > 8
        args += ["-bf", "4", "-profile:v", "main10" if ten_bit else "main", "-tier", "high",
                 "-tag:v", "hvc1"]
    return args


def x265_params(look: render.Look | None, *extra: str) -> str:
    """`-x265-params`: quiet logs, HDR10/HLG signalling and static metadata, `extra`."""
    params = [_X265_QUIET]
    if look is not None and look.hdr.is_hdr:
        params += colorimetry.x265_hdr_params(look.colour, look.hdr)
    return ":".join([*params, *extra])


def h264_level(width: int, height: int, fps: float | None) -> str:
    """4.1 as the seed says, or the lowest level that holds the frame size and rate."""
    blocks = ((width + 15) // 16) * ((height + 15) // 16)
    rate = blocks * (fps or 30.0)
    for level, max_frame, max_rate in _H264_LEVELS:
        if blocks <= max_frame and rate <= max_rate:
            return level
    return _H264_LEVELS[-1][0]


def _rate(video: output.VideoSpec, crf_flag: str, zero_bitrate_for_crf: bool = False
          ) -> list[str]:
    if video.bitrate:
        args = ["-b:v", str(video.bitrate)]
        if video.max_bitrate:
            args += ["-maxrate", str(video.max_bitrate), "-bufsize", str(2 * video.max_bitrate)]
        return args
    args = [crf_flag, str(video.crf)] if video.crf is not None else []
    if zero_bitrate_for_crf:
        args = [crf_flag, str(video.crf if video.crf is not None else 32), "-b:v", "0"]
    if video.max_bitrate:
        args += ["-maxrate", str(video.max_bitrate), "-bufsize", str(2 * video.max_bitrate)]
    return args


def pass_args(encoder: str, number: int, log: Path, look: render.Look | None = None
              ) -> list[str]:
    """Options for pass 1 (analysis) or 2 of a two-pass CPU encode, stats in `log`."""
    if encoder == "libx265":  # given after video_args: this -x265-params wins, so it repeats
        return ["-x265-params", x265_params(look, f"pass={number}", f"stats={log}.x265")]
    return ["-pass", str(number), "-passlogfile", str(log)]


def container_args(container: str) -> list[str]:
    """Muxer options: `+faststart` for MP4 so players can start before the end."""
    args = ["-f", _MUXERS[container]]
    if container == "mp4":
        args += ["-movflags", "+faststart"]
    return args
