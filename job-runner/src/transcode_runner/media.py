"""Inspect media files with ffprobe: the source before planning, outputs after encoding.

`pipeline` calls `inspect_source` on the downloaded source: it returns the
facts `plan` and `encode` need (duration, frame size, sample aspect ratio,
audio presence) or raises `errors.BadInput` with a one-line reason for empty,
unreadable, non-video, still-image or damaged files, within a time bound.
`inspect_output` measures a finished output for the result (duration,
dimensions, bitrate). ffprobe runs through the injected `seams.ProcessRunner`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from transcode_runner import errors, seams

# Demuxers that accept anything (text, images) and must not count as video.
_NOT_VIDEO_FORMATS = frozenset({"tty", "image2", "lavfi"})
_NOT_VIDEO_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})


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
    height: int
    sample_aspect: Fraction
    """Pixel aspect ratio (1 for square pixels)."""
    fps: float | None
    video_codec: str
    has_audio: bool
    audio_codec: str | None
    bit_rate: int | None
    """Overall bits per second, from the container or size / duration."""

    @property
    def display_width(self) -> float:
        """Width in square pixels (anamorphic sources are wider than stored)."""
        return self.width * float(self.sample_aspect)


def inspect_source(
    path: Path, runner: seams.ProcessRunner, ffprobe: str, timeout: float
) -> MediaInfo:
    """Probe the source; raise `errors.BadInput` when it is not a usable video."""
    if not path.is_file():
        raise errors.BadInput(f"source {path.name!r} does not exist or is not a file",
                              reason="SourceNotFound")
    size = path.stat().st_size
    if size == 0:
        raise errors.BadInput("source is empty (0 bytes)", reason="SourceEmpty")
    data = _ffprobe(path, runner, ffprobe, timeout, bad=errors.BadInput)
    info = _parse(path, size, data)
    if info.format_name.split(",")[0] in _NOT_VIDEO_FORMATS or info.video_codec in (
        _NOT_VIDEO_CODECS
    ):
        raise errors.BadInput(f"source is not a video (detected {info.format_name})",
                              reason="NotAVideo")
    if info.format_name.endswith("_pipe"):
        raise errors.BadInput(f"source is a still image ({info.video_codec}), not a video",
                              reason="NotAVideo")
    return info


def inspect_output(
    path: Path, runner: seams.ProcessRunner, ffprobe: str, timeout: float
) -> MediaInfo:
    """Probe a finished output; an unreadable output is an internal error."""
    size = path.stat().st_size
    return _parse(path, size, _ffprobe(path, runner, ffprobe, timeout, bad=errors.Internal))


def _ffprobe(
    path: Path,
    runner: seams.ProcessRunner,
    ffprobe: str,
    timeout: float,
    bad: type[errors.RunnerError],
) -> dict[str, Any]:
    argv: Sequence[str] = (
        ffprobe,
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        # "file:" keeps a name such as "-i" or "http:x" from being read as anything else.
        "file:" + os.fspath(path.resolve()),
    )
    done = runner.run(argv, timeout=timeout)
    if done.timed_out:
        raise bad(f"ffprobe gave no answer within {timeout:.0f} s (damaged source?)",
                  reason="SourceUnreadable")
    if done.returncode != 0:
        raise bad(f"source is not a readable media file: {_last_error(done.stderr, path)}",
                  reason="SourceUnreadable")
    try:
        data = json.loads(done.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise errors.Internal(f"ffprobe printed invalid JSON: {exc}") from exc
    if not isinstance(data, dict) or not data.get("streams"):
        raise bad(f"source has no media streams: {_last_error(done.stderr, path)}",
                  reason="NotAVideo")
    return data


def _parse(path: Path, size: int, data: dict[str, Any]) -> MediaInfo:
    streams: list[dict[str, Any]] = list(data.get("streams") or [])
    fmt: dict[str, Any] = dict(data.get("format") or {})
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video"
            and not (s.get("disposition") or {}).get("attached_pic")
        ),
        None,
    )
    if video is None:
        raise errors.BadInput("source has no video stream", reason="NotAVideo")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise errors.BadInput("source video stream has no frame size (damaged header?)",
                              reason="SourceUnreadable")
    duration = _float(fmt.get("duration")) or _float(video.get("duration")) or 0.0
    bit_rate = _int(fmt.get("bit_rate"))
    if bit_rate is None and duration > 0:
        bit_rate = int(size * 8 / duration)
    return MediaInfo(
        path=path,
        size=size,
        format_name=str(fmt.get("format_name") or "unknown"),
        duration=duration,
        width=width,
        height=height,
        sample_aspect=_ratio(video.get("sample_aspect_ratio")),
        fps=_rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate")),
        video_codec=str(video.get("codec_name") or "unknown"),
        has_audio=audio is not None,
        audio_codec=str(audio.get("codec_name")) if audio else None,
        bit_rate=bit_rate,
    )


def _last_error(stderr: str, path: Path) -> str:
    """ffprobe's complaints on one line, without the (possibly long) file path."""
    found: list[str] = []
    for line in stderr.splitlines():
        text = re.sub(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*", "", line.strip())
        for prefix in ("file:" + os.fspath(path.resolve()), os.fspath(path.resolve())):
            text = text.replace(prefix + ": ", "").replace(prefix, path.name)
        if text and text not in found:
            found.append(text)
    if not found:
        return "no detail from ffprobe"
    return errors.one_line("; ".join(found[-3:]), limit=200)


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


def _rate(value: object) -> float | None:
    num, _, den = str(value or "").partition("/")
    try:
        rate = int(num) / int(den or 1)
    except (ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 else None
