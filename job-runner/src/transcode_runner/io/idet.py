"""Run FFmpeg's `idet` filter on a short sample of the source to tell its field order.

`mediaprobe.inspect_source` calls `detect` when the stream carries no field
order flag (or `unknown`): `idet` reads the first `SAMPLE_FRAMES` frames,
through the injected `seams.ProcessRunner` with an argument list, and
`domain.interlace.parse_idet` decides from its multi-frame counts. A run that
fails or times out counts as progressive.
"""

from __future__ import annotations

import os
from pathlib import Path

from transcode_runner.domain import interlace
from transcode_runner.io import seams

SAMPLE_FRAMES = 120
"""Frames `idet` reads (about 5 s of 25i): enough to tell woven fields from motion."""


def detect(path: Path, runner: seams.ProcessRunner, ffmpeg: str, timeout: float
           ) -> interlace.FieldOrder:
    """Run `idet` on the first `SAMPLE_FRAMES` frames; progressive when it cannot tell."""
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "info",
            "-i", "file:" + os.fspath(path.resolve()),
            "-map", "0:v:0", "-vf", "idet", "-frames:v", str(SAMPLE_FRAMES), "-an", "-sn",
            "-f", "null", "-"]
    done = runner.run(argv, timeout=timeout)
    if done.timed_out or done.returncode != 0:
        return interlace.FieldOrder.PROGRESSIVE
    return interlace.parse_idet(done.stderr)
