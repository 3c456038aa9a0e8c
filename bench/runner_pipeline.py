"""Benchmark: the runner end to end vs bare FFmpeg vs the naive download-encode-upload.

One source (60 s of 1080p testsrc2 + a tone by default), the same encode in all
three, in one run, against the local S3 server (versitygw, started here from the
test fixtures' cached build):

  (a) bare `ffmpeg`, local file -> local file (the runner's own argument list);
  (b) the naive way: boto3 `download_file`, the same `ffmpeg`, `upload_file`,
      all with boto3's defaults;
  (c) the runner: `python -m transcode_runner run --spec job.yaml` with an s3://
      source and destination (probe, ranged download, ffprobe, encode, verified
      multipart upload, report).

Prints each wall time, c/a (target <= 1.10) and c/b (target < 1). Nothing is
asserted; timings never live in tests.

    .venv/bin/python bench/runner_pipeline.py [--seconds 60] [--encoder libx264] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
for src in ("api/src", "job-runner/src", "."):
    if str(ROOT / src) not in sys.path:
        sys.path.insert(0, str(ROOT / src))

from dev import media as media_samples  # noqa: E402
from dev.services import s3server  # noqa: E402
from transcode_api import spec  # noqa: E402
from transcode_runner.domain import plan  # noqa: E402
from transcode_runner.io import jobfile, mediaprobe, seams  # noqa: E402


def make_source(path: Path, seconds: int) -> None:
    media_samples.make_sample(path, seconds, preset="veryfast", bitrate="8M")

def job_spec(source: str, destination: str, encoder: str, endpoint: str, region: str
             ) -> dict[str, object]:
    return {
        "source": source,
        "storage": {"endpoint": endpoint, "region": region, "pathStyle": True},
        "outputs": [{"name": "720p", "destination": destination,
                     "video": {"encoder": encoder, "preset": "veryfast", "resolution": "720p",
                               "bitrate": 3_000_000},
                     "audio": {"codec": "aac", "bitrate": 128_000}}],
    }


def ffmpeg_argv(job: spec.TranscodeJobSpec, source: Path, scratch: Path) -> list[str]:
    """The runner's own FFmpeg argument list for this job and source (no probe)."""
    runner = seams.SubprocessRunner()
    info = mediaprobe.inspect_source(source, runner, "ffprobe", 60)
    choices = plan.choose(job, None)
    (argv,) = plan.build(job, info, choices, scratch).passes
    return list(argv)


def timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="source duration")
    parser.add_argument("--encoder", default="libx264", help="libx264, h264_nvenc, ...")
    parser.add_argument("--repeat", type=int, default=1, help="best of N, interleaved")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kt-bench-") as tmp, \
            s3server.S3Server(s3server.build_binary()) as server:
        work = Path(tmp)
        source = work / "source.mp4"
        print(f"making a {args.seconds} s 1080p source ...", flush=True)
        make_source(source, args.seconds)
        client = server.client()
        bucket = server.make_bucket()
        client.upload_file(str(source), bucket, "in/source.mp4")
        src_url = f"s3://{bucket}/in/source.mp4"
        print(f"source: {source.stat().st_size / 1e6:.1f} MB, encoder {args.encoder}")

        def document(destination: str) -> dict[str, object]:
            return job_spec(src_url, destination, args.encoder, server.endpoint, server.region)

        parsed = jobfile.parse_local(document(f"s3://{bucket}/out/a.mp4"))
        (work / "a").mkdir()
        argv = ffmpeg_argv(parsed, source, work / "a")

        def bare() -> None:
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)

        def naive() -> None:
            folder = work / "b"
            folder.mkdir(exist_ok=True)
            client.download_file(bucket, "in/source.mp4", str(folder / "source.mp4"))
            naive_argv = [a.replace(str(source.resolve()), str((folder / "source.mp4").resolve()))
                          .replace(str((work / "a").resolve()), str(folder.resolve()))
                          for a in argv]
            subprocess.run(naive_argv, check=True, stdout=subprocess.DEVNULL)
            client.upload_file(str(folder / "out-720p.mp4"), bucket, "out/b.mp4")

        job_file = work / "job.yaml"
        job_file.write_text(yaml.safe_dump({"spec": document(f"s3://{bucket}/out/c.mp4")}))
        env = {**os.environ, **server.env(), "TRANSCODER_SCRATCH_DIR": str(work / "c")}

        def runner() -> None:
            subprocess.run([sys.executable, "-m", "transcode_runner", "run", "--spec",
                            str(job_file)], check=True, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)

        labels = {"a": "(a) bare ffmpeg, local -> local",
                  "b": "(b) naive: download_file, ffmpeg, upload_file",
                  "c": "(c) transcode-runner run, s3 -> s3"}
        best: dict[str, float] = {}
        for round_ in range(args.repeat):  # interleaved, so a busy moment hits all three
            for key, fn in (("a", bare), ("b", naive), ("c", runner)):
                elapsed = timed(fn)
                best[key] = min(best.get(key, elapsed), elapsed)
                print(f"round {round_ + 1}: {labels[key]:<46} {elapsed:8.2f} s", flush=True)
        a, b, c = best["a"], best["b"], best["c"]
        for key, label in labels.items():
            print(f"best: {label:<46} {best[key]:8.2f} s")
        print(f"c/a = {c / a:.3f}  (target <= 1.10)")
        print(f"c/b = {c / b:.3f}  (target < 1.00)")


if __name__ == "__main__":
    main()
