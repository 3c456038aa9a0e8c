"""Inspect media files with ffprobe: the source before planning, outputs after encoding.

`app.pipeline` calls `inspect_source` on the downloaded source: it refuses a
missing or empty file, runs ffprobe (`ffprobe_json`), parses and checks the
answer (`domain.media.parse` and `check_source`), takes the field order from
the stream's flag or else from FFmpeg's `idet` (`idet.detect`), reads the first
frame's HDR side data when the source may carry it, and returns one frozen
`media.MediaInfo`. `inspect_output` measures a finished output for the result,
its tracks included. Every program runs through the injected
`seams.ProcessRunner`, within a time bound; failures raise `errors.BadInput`
(the source) or `errors.Internal` (an output) with a one-line reason.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from transcode_runner.domain import colorimetry, errors, interlace, media
from transcode_runner.io import ffprobe_json, idet, seams


def inspect_source(
    path: Path, runner: seams.ProcessRunner, ffprobe: str, timeout: float,
    ffmpeg: str = "ffmpeg",
) -> media.MediaInfo:
    """Probe the source; raise `errors.BadInput` when it is not a usable video."""
    if not path.is_file():
        raise errors.BadInput(f"source {path.name!r} does not exist or is not a file",
                              reason="SourceNotFound")
    size = path.stat().st_size
    if size == 0:
        raise errors.BadInput("source is empty (0 bytes)", reason="SourceEmpty")
    data = ffprobe_json.streams(path, runner, ffprobe, timeout, bad=errors.BadInput)
    info = media.parse(path, size, data)
    media.check_source(info)
    stream = media.video_stream(data)
    rotation = media.rotation(stream)
    field_order = interlace.from_flag(stream.get("field_order"))
    if field_order is None:
        field_order = idet.detect(path, runner, ffmpeg, timeout)
    frame_side: list[dict[str, Any]] = []
    if media.may_carry_hdr_side_data(info):
        frame_side = ffprobe_json.first_frame_side_data(path, runner, ffprobe, timeout)
    described, hdr = colorimetry.describe(stream, frame_side)
    return dataclasses.replace(info, rotation=rotation, field_order=field_order,
                               colour=described, hdr=hdr)


def inspect_output(
    path: Path, runner: seams.ProcessRunner, ffprobe: str, timeout: float
) -> media.MediaInfo:
    """Probe a finished output; an unreadable output is an internal error."""
    size = path.stat().st_size
    return media.parse(path, size, ffprobe_json.streams(path, runner, ffprobe, timeout,
                                                        bad=errors.Internal))
