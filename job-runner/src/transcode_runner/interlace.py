"""Is the source interlaced, and which field comes first: the stream's flag, else `idet`.

`media` calls `field_order(stream_flag, ...)` while analysing the source. A
flag ffprobe reports (`progressive`, `tt`, `bb`, `tb`, `bt`) decides; when it
is missing or `unknown`, FFmpeg's `idet` filter reads a short sample of the
source (`SAMPLE_FRAMES` frames, through the injected `seams.ProcessRunner`)
and its multi-frame counts decide. `render` deinterlaces whatever is not
`PROGRESSIVE` (`bwdif` on the CPU, `yadif_cuda` on the GPU).
"""

from __future__ import annotations

import enum
import os
import re
from pathlib import Path

from transcode_runner import seams

SAMPLE_FRAMES = 120
"""Frames `idet` reads (about 5 s of 25i): enough to tell woven fields from motion."""
_MULTI = re.compile(
    r"Multi frame detection:\s*TFF:\s*(\d+)\s*BFF:\s*(\d+)\s*Progressive:\s*(\d+)")


class FieldOrder(enum.StrEnum):
    """How the pictures of a stream are made."""

    PROGRESSIVE = "progressive"
    TFF = "tff"  # interlaced, top field first
    BFF = "bff"  # interlaced, bottom field first


def from_flag(flag: object) -> FieldOrder | None:
    """The stream's field order flag; None when it is missing or `unknown`.

    The first letter of ffprobe's `tt`/`tb`/`bb`/`bt` is the field shown first in
    practice (FFmpeg's demuxers disagree on what the second letter means).
    """
    text = str(flag or "").strip().lower()
    if text == "progressive":
        return FieldOrder.PROGRESSIVE
    if text in ("tt", "tb"):
        return FieldOrder.TFF
    if text in ("bb", "bt"):
        return FieldOrder.BFF
    return None


def detect(path: Path, runner: seams.ProcessRunner, ffmpeg: str, timeout: float
           ) -> FieldOrder:
    """Run `idet` on the first `SAMPLE_FRAMES` frames; progressive when it cannot tell."""
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "info",
            "-i", "file:" + os.fspath(path.resolve()),
            "-map", "0:v:0", "-vf", "idet", "-frames:v", str(SAMPLE_FRAMES), "-an", "-sn",
            "-f", "null", "-"]
    done = runner.run(argv, timeout=timeout)
    if done.timed_out or done.returncode != 0:
        return FieldOrder.PROGRESSIVE
    return parse_idet(done.stderr)


def parse_idet(stderr: str) -> FieldOrder:
    """Decide from idet's `Multi frame detection` line: interlaced needs a clear majority."""
    found = _MULTI.findall(stderr)
    if not found:
        return FieldOrder.PROGRESSIVE
    tff, bff, progressive = (int(n) for n in found[-1])
    if tff + bff < 3 or tff + bff <= 2 * progressive:
        return FieldOrder.PROGRESSIVE
    return FieldOrder.TFF if tff >= bff else FieldOrder.BFF
