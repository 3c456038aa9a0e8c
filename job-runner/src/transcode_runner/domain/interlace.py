"""Is the source interlaced, and which field comes first: the stream's flag, else `idet`'s counts.

`io.mediaprobe` calls `from_flag` on the stream's field order while analysing
the source: a flag ffprobe reports (`progressive`, `tt`, `bb`, `tb`, `bt`)
decides; when it is missing or `unknown`, `io.idet` runs FFmpeg's `idet`
filter on a short sample and `parse_idet` decides from its multi-frame counts.
`render` deinterlaces whatever is not `PROGRESSIVE` (`bwdif` on the CPU,
`yadif_cuda` on the GPU). Pure: text in, a `FieldOrder` out.
"""

from __future__ import annotations

import enum
import re

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


def parse_idet(stderr: str) -> FieldOrder:
    """Decide from idet's `Multi frame detection` line: interlaced needs a clear majority."""
    found = _MULTI.findall(stderr)
    if not found:
        return FieldOrder.PROGRESSIVE
    tff, bff, progressive = (int(n) for n in found[-1])
    if tff + bff < 3 or tff + bff <= 2 * progressive:
        return FieldOrder.PROGRESSIVE
    return FieldOrder.TFF if tff >= bff else FieldOrder.BFF
