"""Keyframe options that make every rung of a packaged ladder switchable at every segment.

`plan` adds `args(encoder, segment_seconds, fps)` after each output's encoder
options when the job has `spec.packaging`. Every encoder gets a keyframe
forced at each multiple of the segment duration (`-force_key_frames
expr:gte(t,n_forced*S)`, by media time, so rungs of one source get them on
the same frames even when the source is VFR) and a GOP of one segment (`-g`);
the encoders that can make those keyframes IDR frames of closed GOPs are told
so (`-forced-idr 1`, `-flags +cgop`: libx264, libx265 and NVENC), and scene
cut keyframes between the boundaries are turned off where the encoder allows
(`-sc_threshold 0` for libx264, `-no-scenecut 1` for NVENC). Pure.
"""

from __future__ import annotations

from transcode_api import constants

_IDR_ENCODERS = frozenset({"libx264", "libx265", *constants.GPU_ENCODERS})
_MIN_KEYINT = frozenset({"libx264", "libx265", "libaom-av1", "libvpx-vp9"})


def gop_frames(segment_seconds: int, fps: float | None) -> int | None:
    """Frames in one segment at `fps` (None when the rate is unknown)."""
    if not fps or fps <= 0:
        return None
    return max(1, round(fps * segment_seconds))


def args(encoder: str, segment_seconds: int, fps: float | None) -> list[str]:
    """The options for one output's video encoder (given after its `encoders.video_args`)."""
    out = ["-force_key_frames", f"expr:gte(t,n_forced*{segment_seconds})"]
    frames = gop_frames(segment_seconds, fps)
    if frames is not None:
        out += ["-g", str(frames)]
        if encoder in _MIN_KEYINT:
            out += ["-keyint_min", str(frames)]
    if encoder in _IDR_ENCODERS:
        out += ["-forced-idr", "1", "-flags", "+cgop"]
    if encoder == "libx264":
        out += ["-sc_threshold", "0"]
    elif encoder in constants.GPU_ENCODERS:
        out += ["-no-scenecut", "1"]
    return out
