"""Benchmark: a three-rung ladder (1080p, 720p, 480p) from one decode vs three FFmpeg runs.

Both sides use the runner's own plan (`transcode_runner.plan`): the job's three
outputs in one FFmpeg process that decodes once and splits, against the same
outputs planned one job each, run one after another. Local files only. Prints
both wall times and single/separate (lower is better for the runner's way).

    .venv/bin/python bench/ladder.py [--seconds 30] [--encoder libx264] [--preset veryfast]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for src in ("", "api/src", "job-runner/src"):
    if str(ROOT / src) not in sys.path:
        sys.path.insert(0, str(ROOT / src))

from dev import media as media_samples  # noqa: E402
from transcode_runner.domain import plan  # noqa: E402
from transcode_runner.io import jobfile, mediaprobe, seams  # noqa: E402

RUNGS = (("1080p", 5_000_000), ("720p", 3_000_000), ("480p", 1_200_000))


def make_source(path: Path, seconds: int) -> None:
    media_samples.make_sample(path, seconds, preset="veryfast", bitrate="8M")

def outputs(encoder: str, preset: str, rungs: tuple[tuple[str, int], ...], folder: Path
            ) -> list[dict[str, Any]]:
    return [{"name": name, "destination": str(folder / f"{name}.mp4"),
             "video": {"encoder": encoder, "preset": preset, "resolution": name,
                       "bitrate": bitrate}} for name, bitrate in rungs]


def passes(source: Path, folder: Path, outs: list[dict[str, Any]]) -> list[list[str]]:
    job = jobfile.parse_local({"source": str(source), "outputs": outs})
    info = mediaprobe.inspect_source(source, seams.SubprocessRunner(), "ffprobe", 60)
    return [list(argv) for argv in plan.build(job, info, plan.choose(job, None), folder).passes]


def run_all(argvs: list[list[str]]) -> float:
    started = time.perf_counter()
    for argv in argvs:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--encoder", default="libx264")
    parser.add_argument("--preset", default="veryfast")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kt-bench-ladder-") as tmp:
        work = Path(tmp)
        source = work / "source.mp4"
        make_source(source, args.seconds)
        one = work / "one"
        one.mkdir()
        single = passes(source, one, outputs(args.encoder, args.preset, RUNGS, one))
        separate: list[list[str]] = []
        for rung in RUNGS:
            folder = work / f"sep-{rung[0]}"
            folder.mkdir()
            separate += passes(source, folder, outputs(args.encoder, args.preset, (rung,), folder))
        print(f"{args.seconds} s 1080p source, {args.encoder} {args.preset}, rungs "
              f"{', '.join(name for name, _ in RUNGS)}")
        together = run_all(single)
        print(f"one FFmpeg, one decode, split x3   {together:8.2f} s", flush=True)
        apart = run_all(separate)
        print(f"three FFmpeg runs, three decodes   {apart:8.2f} s")
        print(f"single/separate = {together / apart:.3f}")


if __name__ == "__main__":
    main()
