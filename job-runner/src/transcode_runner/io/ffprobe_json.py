"""Run ffprobe on one file and return its JSON: streams and format, or the first frame's side data.

`mediaprobe` calls `streams` (for the source and for finished outputs) and
`first_frame_side_data` (HDR10 mastering display, content light level, HDR10+
and Dolby Vision markers live in frames, not streams); `app.thumbs` calls `picture`
for the size (and a GIF's frame count) of each thumbnail. ffprobe runs through the
injected `seams.ProcessRunner` with an argument list; an unreadable file raises
the error class the caller names, with ffprobe's complaint on one line.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transcode_runner.domain import errors
from transcode_runner.io import seams


def streams(
    path: Path,
    runner: seams.ProcessRunner,
    ffprobe: str,
    timeout: float,
    bad: type[errors.RunnerError],
) -> dict[str, Any]:
    argv: Sequence[str] = (
        ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
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


def first_frame_side_data(path: Path, runner: seams.ProcessRunner, ffprobe: str,
                           timeout: float) -> list[dict[str, Any]]:
    """Side data of the first video frame (HDR10 mastering display, light level, HDR10+)."""
    argv = (ffprobe, "-v", "error", "-print_format", "json", "-select_streams", "v:0",
            "-read_intervals", "%+#1", "-show_entries", "frame=side_data_list",
            "-show_frames", "file:" + os.fspath(path.resolve()))
    done = runner.run(argv, timeout=timeout)
    if done.timed_out or done.returncode != 0:
        return []
    try:
        frames = json.loads(done.stdout or "{}").get("frames") or []
    except (json.JSONDecodeError, AttributeError):
        return []
    return list(frames[0].get("side_data_list") or []) if frames else []


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


def picture(path: Path, runner: seams.ProcessRunner, ffprobe: str, timeout: float,
            count: bool = False) -> tuple[int, int, int | None]:
    """(width, height, frames) of an image or GIF the runner wrote; frames are counted by
    decoding when `count`, else None. An unreadable file is an internal error."""
    argv = (ffprobe, "-v", "error", "-print_format", "json", "-select_streams", "v:0",
            *(("-count_frames",) if count else ()),
            "-show_entries", "stream=width,height,nb_read_frames",
            "file:" + os.fspath(path.resolve()))
    done = runner.run(argv, timeout=timeout)
    try:
        stream = json.loads(done.stdout or "{}")["streams"][0]
        frames = int(stream["nb_read_frames"]) if count else None
        return int(stream["width"]), int(stream["height"]), frames
    except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError):
        raise errors.Internal(f"{path.name} is not a readable picture: "
                              f"{_last_error(done.stderr, path)}") from None
