"""Benchmark: thumbnails from the encode's own decode vs none vs a second FFmpeg process.

One run, the real runner CLI (`python -m transcode_runner run`) against the
test fixtures' S3 server (versitygw on loopback), CPU encodes of a generated
1080p source:
  (1) three H.264 outputs (1080p, 720p, 480p) as MP4 files;
  (2) the same job with `thumbnails` (poster, a tile every 2 s, a 6 s WebP
      preview): the pictures are branches of the one filter graph;
  (3) job (1) plus a separate FFmpeg process that decodes the source again to
      write the same pictures (the graph `thumbplan` builds, alone): what the
      pictures would cost without sharing the decode.
Prints wall and CPU seconds (user + system of the runner and its FFmpeg: the
figure that machine load on a shared host disturbs least) and (2)/(1) and
(2)/(3) of both. Nothing is asserted.

    .venv/bin/python bench/thumbnails.py [--seconds 20] [--preset veryfast] [--repeat 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
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
from dev.services import s3server  # noqa: E402
from transcode_api import spec  # noqa: E402
from transcode_runner.domain import graph, thumbplan  # noqa: E402
from transcode_runner.io import mediaprobe, seams  # noqa: E402

_LOADER = importlib.util.spec_from_file_location("bench_packaging",
                                                 Path(__file__).with_name("packaging.py"))
assert _LOADER is not None and _LOADER.loader is not None
pack_bench = importlib.util.module_from_spec(_LOADER)  # bench/packaging.py: job, run_job
_LOADER.loader.exec_module(pack_bench)

THUMBS: dict[str, Any] = {"poster": {}, "sprite": {"intervalSeconds": 2},
                          "preview": {"seconds": 6, "fps": 10, "clips": 3}}


def cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(run: Any, *args: Any) -> tuple[float, float]:
    """(wall, CPU) seconds of `run(*args)` (its child processes' CPU)."""
    before = cpu_seconds()
    wall = run(*args)
    return wall, cpu_seconds() - before


def pictures_alone(source: Path, bucket: str, work: Path) -> float:
    """Wall time of one FFmpeg process that decodes `source` only for the pictures."""
    job = spec.parse_spec({**pack_bench.job(f"s3://{bucket}/source.mp4", bucket, "x", "veryfast",
                                            None),
                           "thumbnails": {"destination": f"s3://{bucket}/alone/", **THUMBS}})
    info = mediaprobe.inspect_source(source, seams.SubprocessRunner(), "ffprobe", 60,
                                     ffmpeg="ffmpeg")
    assert job.thumbnails is not None
    thumbs = thumbplan.build(job.thumbnails, info, work)
    text, labels = graph.filter_complex(info, graph.CPU, [p.branch for p in thumbs.products])
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-i",
            "file:" + str(source), "-filter_complex", text]
    for product, label in zip(thumbs.products, labels, strict=True):
        argv += ["-map", f"[{label}]", *product.args]
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each side, interleaved; the best of each is compared")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, s3server.S3Server(s3server.build_binary()) as server:
        work = Path(tmp)
        source = work / "source.mp4"
        media_samples.make_sample(source, args.seconds, preset="veryfast", bitrate="8M")
        bucket = server.make_bucket("bench")
        plains: list[tuple[float, float]] = []
        shared: list[tuple[float, float]] = []
        alone: list[tuple[float, float]] = []
        for n in range(args.repeat):  # interleaved, so machine load hits every side alike
            for name, walls in (("plain", plains), ("thumbs", shared)):
                folder = work / f"{name}-{n}"
                folder.mkdir()
                body = pack_bench.job(str(source), bucket, f"{name}-{n}", args.preset, None)
                if name == "thumbs":
                    body["thumbnails"] = {"destination": f"s3://{bucket}/{name}-{n}/pictures/",
                                          **THUMBS}
                walls.append(timed(pack_bench.run_job, server, body, folder))
            folder = work / f"alone-{n}"
            folder.mkdir()
            alone.append(timed(pictures_alone, source, bucket, folder))
        plain, together, extra = min(plains), min(shared), min(alone)  # by wall time
    print(f"source: {args.seconds} s 1080p, three H.264 rungs, libx264 {args.preset}; "
          "poster, a tile every 2 s, a 6 s WebP preview")
    separate = (plain[0] + extra[0], plain[1] + extra[1])
    print("                                          wall s    CPU s")
    for label, (wall, cpu) in (("three MP4 outputs", plain),
                               ("same + thumbnails from the one decode", together),
                               ("same + a second FFmpeg for the pictures", separate),
                               ("  (the second FFmpeg alone)", extra)):
        print(f"{label:40s} {wall:8.2f} {cpu:8.2f}")
    print(f"ratio shared/plain:                      {together[0] / plain[0]:8.3f} "
          f"{together[1] / plain[1]:8.3f}")
    print(f"ratio shared/separate:                   {together[0] / separate[0]:8.3f} "
          f"{together[1] / separate[1]:8.3f}")


if __name__ == "__main__":
    main()
