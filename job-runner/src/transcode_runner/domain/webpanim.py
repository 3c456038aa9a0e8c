"""What an animated WebP holds, read from its RIFF chunks: canvas size and frame count.

`app.thumbs` measures the animated preview with `inspect` because Debian's
FFmpeg 5.1 cannot decode animated WebP (its decoder reads still VP8/VP8L
only), so ffprobe cannot count its frames. The container is RIFF: a `VP8X`
chunk carries the canvas size (24-bit width - 1, height - 1) and each frame is
one `ANMF` chunk (libwebp's animation encoder merges a frame identical to the
one before into that one's duration). Pure: bytes in, numbers out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class Animation:
    width: int
    height: int
    frames: int
    milliseconds: int
    """Sum of the frames' durations."""


def inspect(data: bytes) -> Animation:
    """Canvas and frames of an animated WebP; ValueError when `data` is none."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP file (no RIFF/WEBP header)")
    width = height = frames = millis = 0
    at = 12
    while at + 8 <= len(data):
        tag, size = data[at:at + 4], struct.unpack_from("<I", data, at + 4)[0]
        body = data[at + 8:at + 8 + size]
        if tag == b"VP8X" and len(body) >= 10:
            width = 1 + int.from_bytes(body[4:7], "little")
            height = 1 + int.from_bytes(body[7:10], "little")
        elif tag == b"ANMF" and len(body) >= 16:
            frames += 1
            millis += int.from_bytes(body[12:15], "little")
        at += 8 + size + (size & 1)  # chunks are padded to an even size
    if not frames:
        raise ValueError("WebP file has no animation frames (ANMF chunks)")
    return Animation(width, height, frames, millis)
