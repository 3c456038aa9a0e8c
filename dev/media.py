"""Sample sources made with Debian's FFmpeg: one generator for demo, e2e tests and benches.

`make_sample(path, seconds)` writes a 1080p30 test pattern (testsrc2) with a 440 Hz
tone as H.264/AAC. Used by `make demo` (dev/demo.py), the chart e2e tests
(tests/e2e/test_ship_examples.py) and bench/ladder.py and bench/runner_pipeline.py.
FFmpeg gets an argument list, never a shell.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def make_sample(path: Path, seconds: float, *, preset: str = "ultrafast",
                bitrate: str | None = None) -> Path:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is needed: apt-get install ffmpeg (.ci/run installs it)")
    rate = ["-b:v", bitrate] if bitrate else []
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", preset, *rate, "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(path)],
        check=True, timeout=600)
    return path
