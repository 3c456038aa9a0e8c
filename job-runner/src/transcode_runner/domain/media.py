"""What the runner knows about a media file, parsed from ffprobe's JSON: `MediaInfo`.

`io.mediaprobe` runs ffprobe on the downloaded source (and on finished
outputs), calls `parse` on its JSON and, for the source, `check_source` to
refuse what is not a usable video. A `MediaInfo` holds the facts `render`,
`graph`, `plan` and `io.encode` need: coded and displayed size (rotation from
the display matrix, `rotation`, and the sample aspect ratio applied), field
order (`interlace`), frame rate and whether it varies, colour and HDR
(`colorimetry`), bit depth, duration, audio presence and tracks
(`tracks.parse`). Non-video, still-image, undecodable, frameless or oddly
rotated files raise `errors.BadInput` with a one-line reason. Pure: a dict in,
a value out.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from transcode_runner.domain import colorimetry, errors, interlace, tracks

# Demuxers that accept anything (text, images) and must not count as video.
_NOT_VIDEO_FORMATS = frozenset({"tty", "image2", "lavfi"})
_NOT_VIDEO_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})
_VFR_TOLERANCE = 0.01
"""avg_frame_rate more than 1 % off r_frame_rate: the timestamps are not evenly spaced."""


@dataclass(frozen=True)
class MediaInfo:
    """What the runner knows about one media file."""

    path: Path
    size: int
    """File size in bytes."""
    format_name: str
    duration: float
    """Seconds; 0.0 when the container does not say."""
    width: int
    """Coded width in pixels (as stored, before rotation and pixel aspect)."""
    height: int
    """Coded height in pixels."""
    sample_aspect: Fraction
    """Pixel aspect ratio (1 for square pixels)."""
    fps: float | None
    """Average frames per second."""
    video_codec: str
    has_audio: bool
    audio_codec: str | None
    bit_rate: int | None
    """Overall bits per second, from the container or size / duration."""
    video_end: float = 0.0
    """Seconds from the file's start to its video stream's end (0.0 when the stream does not
    say how long it is): where FFmpeg's output timeline ends the picture."""
    rotation: int = 0
    """Clockwise degrees (0, 90, 180, 270) the coded picture is turned to be shown."""
    field_order: interlace.FieldOrder = interlace.FieldOrder.PROGRESSIVE
    frame_rate: Fraction | None = None
    """The stream's base rate (r_frame_rate): the rate of a constant-rate stream."""
    variable_frame_rate: bool = False
    colour: colorimetry.Colour = colorimetry.Colour()
    hdr: colorimetry.Hdr = colorimetry.Hdr()
    pix_fmt: str | None = None
    profile: str | None = None
    frames: int | None = None
    """Video frames the container lists (None when it does not say)."""
    audio_tracks: tuple[tracks.AudioTrack, ...] = ()
    subtitle_tracks: tuple[tracks.SubtitleTrack, ...] = ()

    @property
    def display_size(self) -> tuple[float, float]:
        """Width and height as shown, in square pixels."""
        width, height = self.width * float(self.sample_aspect), float(self.height)
        return (height, width) if self.rotation in (90, 270) else (width, height)

    @property
    def interlaced(self) -> bool:
        return self.field_order != interlace.FieldOrder.PROGRESSIVE

    @property
    def bit_depth(self) -> int:
        return self.colour.bit_depth


def check_source(info: MediaInfo) -> None:
    """Raise `errors.BadInput` when the parsed source is not a video FFmpeg can decode."""
    if info.format_name.split(",")[0] in _NOT_VIDEO_FORMATS or info.video_codec in (
        _NOT_VIDEO_CODECS
    ):
        raise errors.BadInput(f"source is not a video (detected {info.format_name})",
                              reason="NotAVideo")
    if info.format_name.endswith("_pipe"):
        raise errors.BadInput(f"source is a still image ({info.video_codec}), not a video",
                              reason="NotAVideo")
    if info.video_codec in ("none", "unknown"):
        raise errors.BadInput("source video codec is unknown to FFmpeg: it cannot be decoded",
                              reason="UndecodableVideo")
    if info.frames == 0:
        raise errors.BadInput("source video stream has no frames", reason="NoVideoFrames")


def may_carry_hdr_side_data(info: MediaInfo) -> bool:
    """More than 8 bits or a PQ/HLG transfer: the first frame's HDR side data is worth reading."""
    return info.colour.bit_depth > 8 or info.colour.transfer in (colorimetry.PQ, colorimetry.HLG)


def video_stream(data: dict[str, Any]) -> dict[str, Any]:
    """The first video stream of ffprobe's JSON that is not a cover picture."""
    streams: list[dict[str, Any]] = list(data.get("streams") or [])
    video = next(
        (s for s in streams if s.get("codec_type") == "video"
         and not (s.get("disposition") or {}).get("attached_pic")),
        None,
    )
    if video is None:
        raise errors.BadInput("source has no video stream", reason="NotAVideo")
    return video


def rotation(stream: dict[str, Any]) -> int:
    """Clockwise degrees to show the picture upright, as FFmpeg's autorotate turns it."""
    counter_clockwise: float | None = None
    for entry in stream.get("side_data_list") or []:
        if "rotation" in entry:
            counter_clockwise = float(entry["rotation"])
    if counter_clockwise is None and (stream.get("tags") or {}).get("rotate") is not None:
        counter_clockwise = -float((stream.get("tags") or {})["rotate"])  # older: clockwise
    if counter_clockwise is None:
        return 0
    clockwise = -counter_clockwise % 360
    if abs(clockwise - round(clockwise / 90) * 90) > 0.5:
        raise errors.BadInput(
            f"source is rotated by {clockwise:g} degrees; only multiples of 90 can be shown "
            "upright", reason="UnsupportedRotation")
    return int(round(clockwise / 90) * 90) % 360


def parse(path: Path, size: int, data: dict[str, Any]) -> MediaInfo:
    """The `MediaInfo` of ffprobe's `-show_format -show_streams` JSON for a file of `size` bytes.

    Rotation, field order and the frame-level HDR metadata are left at their
    defaults; `io.mediaprobe.inspect_source` fills them in for the source.
    """
    streams: list[dict[str, Any]] = list(data.get("streams") or [])
    fmt: dict[str, Any] = dict(data.get("format") or {})
    video = video_stream(data)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise errors.BadInput("source video stream has no frame size (damaged header?)",
                              reason="SourceUnreadable")
    duration = _float(fmt.get("duration")) or _float(video.get("duration")) or 0.0
    video_seconds = _float(video.get("duration"))
    offset = (_float(video.get("start_time")) or 0.0) - (_float(fmt.get("start_time")) or 0.0)
    video_end = max(offset, 0.0) + video_seconds if video_seconds else 0.0
    bit_rate = _int(fmt.get("bit_rate"))
    if bit_rate is None and duration > 0:
        bit_rate = int(size * 8 / duration)
    base_rate = _fraction(video.get("r_frame_rate"))
    average = _fraction(video.get("avg_frame_rate"))
    variable = bool(base_rate and average and abs(average / base_rate - 1) > _VFR_TOLERANCE)
    described, hdr = colorimetry.describe(video)
    frames = str(video.get("nb_frames") or "")
    audio_tracks, subtitle_tracks = tracks.parse(streams)
    return MediaInfo(
        path=path,
        size=size,
        format_name=str(fmt.get("format_name") or "unknown"),
        duration=duration,
        video_end=video_end,
        width=width,
        height=height,
        sample_aspect=_ratio(video.get("sample_aspect_ratio")),
        fps=float(rate) if (rate := average or base_rate) is not None else None,
        video_codec=str(video.get("codec_name") or "none"),
        has_audio=audio is not None,
        audio_codec=str(audio.get("codec_name")) if audio else None,
        bit_rate=bit_rate,
        frame_rate=base_rate,
        variable_frame_rate=variable,
        colour=described,
        hdr=hdr,
        pix_fmt=str(video["pix_fmt"]) if video.get("pix_fmt") else None,
        profile=str(video["profile"]) if video.get("profile") else None,
        frames=int(frames) if frames.isdigit() else None,
        audio_tracks=audio_tracks,
        subtitle_tracks=subtitle_tracks,
    )


def _float(value: object) -> float | None:
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if number > 0 and number != float("inf") else None


def _int(value: object) -> int | None:
    number = _float(value)
    return int(number) if number is not None else None


def _ratio(value: object) -> Fraction:
    num, _, den = str(value or "1:1").partition(":")
    try:
        ratio = Fraction(int(num), int(den or 1))
    except (ValueError, ZeroDivisionError):
        return Fraction(1)
    return ratio if ratio > 0 else Fraction(1)


def _fraction(value: object) -> Fraction | None:
    num, _, den = str(value or "").partition("/")
    try:
        rate = Fraction(int(num), int(den or 1))
    except (ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 else None
