"""Benchmark: a three-rung CMAF job vs the same three MP4 outputs, and directory upload speed.

One run, the real runner CLI (`python -m transcode_runner run`) against the
test fixtures' S3 server (versitygw on loopback), CPU encodes:
  (1) three H.264 outputs (1080p, 720p, 480p) as MP4 files;
  (2) the same job with `packaging: cmaf` (the same MP4s, plus the remux into
      CMAF segments, the measured manifests and the directory upload).
Prints both wall times and packaged/plain (target <= 1.10: packaging must cost
almost nothing over encoding). Then the package's files are uploaded again
with the runner's directory upload (`dirupload`: parallel PUTs with CRC32,
manifests last) and, as one object of the same total size, with the runner's
multipart upload (`transfer`); prints both throughputs. Nothing is asserted.

    .venv/bin/python bench/packaging.py [--seconds 30] [--segment 2] [--preset veryfast] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
for src in ("", "api/src", "job-runner/src"):
    if str(ROOT / src) not in sys.path:
        sys.path.insert(0, str(ROOT / src))

from dev import media as media_samples  # noqa: E402
from dev.services import s3server  # noqa: E402
from transcode_runner.io import dirupload, ledger, s3upload, transfer  # noqa: E402

RUNGS = (("1080p", 5_000_000), ("720p", 3_000_000), ("480p", 1_200_000))
MiB = 1024 * 1024


def job(source: str, bucket: str, name: str, preset: str, segment: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "source": source, "acceleration": {"mode": "cpu"},
        "outputs": [{"name": rung, "destination": f"s3://{bucket}/{name}/files/{rung}.mp4",
                     "video": {"codec": "h264", "preset": preset, "resolution": rung,
                               "bitrate": rate}, "audio": {"codec": "aac"}}
                    for rung, rate in RUNGS]}
    if segment is not None:
        spec["packaging"] = {"format": "cmaf", "destination": f"s3://{bucket}/{name}/stream/",
                             "segmentSeconds": segment}
    return spec


def run_job(server: s3server.S3Server, spec: dict[str, Any], work: Path) -> float:
    spec = {**spec, "storage": {"endpoint": server.endpoint, "region": server.region,
                                "pathStyle": True}}
    path = work / "job.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "kubetranscoder.io/v1alpha1",
                                    "kind": "TranscodeJob", "metadata": {"name": "bench"},
                                    "spec": spec}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSCODER_", "AWS_"))}
    env.update(server.env(), TRANSCODER_SCRATCH_DIR=str(work / "scratch"),
               TRANSCODER_TERMINATION_MESSAGE_PATH=str(work / "termination-log"),
               TRANSCODER_NETWORK_ALLOW='["127.0.0.1"]', TRANSCODER_GPU_PROBE="false",
               PYTHONPATH=os.pathsep.join(str(ROOT / s) for s in ("", "api/src", "job-runner/src")))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "transcode_runner", "run", "--spec", str(path)],
                          env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"runner failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall


def upload_speeds(server: s3server.S3Server, bucket: str, prefix: str, work: Path
                  ) -> tuple[float, float, int, int]:
    """(directory MiB/s, one object MiB/s, bytes, objects) for the package under `prefix`."""
    s3 = server.client()
    folder = work / "package"
    folder.mkdir()
    items = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            local = folder / obj["Key"].replace("/", "_")
            s3.download_file(bucket, obj["Key"], str(local))
            items.append(dirupload.Item(local, "again/" + obj["Key"], "video/iso.segment",
                                        "public, max-age=31536000, immutable"))
    size = sum(i.path.stat().st_size for i in items)
    knobs = s3upload.Knobs(10 * MiB, 10, 10 * MiB)
    started = time.perf_counter()
    dirupload.upload(s3, bucket, [[i for i in items if not i.key.endswith((".m3u8", ".mpd"))],
                                  [i for i in items if i.key.endswith((".m3u8", ".mpd"))]],
                     knobs, threading.Event(), ledger.Book(ledger.Memory()))
    tree = time.perf_counter() - started
    big = work / "one.bin"
    with big.open("wb") as out:
        for item in items:
            out.write(item.path.read_bytes())
    started = time.perf_counter()
    transfer.Transfer(s3).upload(big, f"s3://{bucket}/again/one.bin")
    single = time.perf_counter() - started
    return size / MiB / tree, size / MiB / single, size, len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--segment", type=int, default=2)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each side, interleaved; the best of each is compared")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, s3server.S3Server(s3server.build_binary()) as server:
        work = Path(tmp)
        source = work / "source.mp4"
        media_samples.make_sample(source, args.seconds, preset="veryfast", bitrate="8M")
        bucket = server.make_bucket("bench")
        plains, packs = [], []
        for n in range(args.repeat):  # interleaved, so machine load hits both sides alike
            for name, segment, walls in (("plain", None, plains), ("cmaf", args.segment, packs)):
                folder = work / f"{name}-{n}"
                folder.mkdir()
                walls.append(run_job(server, job(str(source), bucket, name, args.preset,
                                                 segment), folder))
        plain, packed = min(plains), min(packs)
        tree, single, size, count = upload_speeds(server, bucket, "cmaf/stream/", work)
    print(f"source: {args.seconds} s 1080p, rungs {', '.join(r for r, _ in RUNGS)}, "
          f"libx264 {args.preset}, {args.segment} s segments")
    print(f"three MP4 outputs:             {plain:7.2f} s")
    print(f"same + CMAF packaging:         {packed:7.2f} s")
    print(f"ratio packaged/plain:          {packed / plain:7.3f}  (target <= 1.10)")
    print(f"segment directory upload:      {tree:7.1f} MiB/s  ({count} objects, "
          f"{size / MiB:.1f} MiB)")
    print(f"one object of the same bytes:  {single:7.1f} MiB/s")
    print(f"ratio directory/one object:    {tree / single:7.3f}")


if __name__ == "__main__":
    main()
