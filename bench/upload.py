"""Benchmark: uploading a 1 GiB object three ways to the same local S3 server, in one run.

  (1) the runner's transfer (`transcode_runner.transfer`: 10 MiB parts, 10 in
      flight, CRC32 checksums, then the object verified against the local file);
  (2) boto3 `upload_file` with its defaults (8 MiB parts, 10 threads);
  (3) the AWS CLI `aws s3 cp` (from PyPI: `pip install awscli`; skipped if absent).

The server is versitygw (the test fixtures' build) on loopback. Prints each wall
time and throughput and the runner's time over the best of the others (target:
<= 1.0, i.e. at least as fast). Nothing is asserted.

    .venv/bin/python bench/upload.py [--size-mib 1024] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for src in ("api/src", "job-runner/src", "."):
    if str(ROOT / src) not in sys.path:
        sys.path.insert(0, str(ROOT / src))

from dev.services import s3server  # noqa: E402
from transcode_runner.io import transfer  # noqa: E402

MiB = 1024 * 1024


def make_file(path: Path, size_mib: int) -> None:
    block = os.urandom(MiB)
    with path.open("wb") as handle:
        for index in range(size_mib):
            handle.write(block[index % 251:] + block[: index % 251])  # no two blocks alike


def best_of(repeat: int, fn: Callable[[int], None]) -> float:
    times = []
    for attempt in range(repeat):
        started = time.perf_counter()
        fn(attempt)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=2, help="best of N per method")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kt-bench-upload-") as tmp, \
            s3server.S3Server(s3server.build_binary()) as server:
        path = Path(tmp) / "object.bin"
        make_file(path, args.size_mib)
        size = path.stat().st_size
        bucket = server.make_bucket()
        client = server.client(max_pool_connections=16)
        mover = transfer.Transfer(client)

        def runner(attempt: int) -> None:
            done = mover.upload(path, f"s3://{bucket}/runner-{attempt}.bin")
            assert done.verified_by in ("checksum", "etag"), done

        def boto3_default(attempt: int) -> None:
            server.client().upload_file(str(path), bucket, f"boto3-{attempt}.bin")

        results = {"transcode_runner transfer (verified)": best_of(args.repeat, runner),
                   "boto3 upload_file (defaults)": best_of(args.repeat, boto3_default)}
        aws = shutil.which("aws")
        if aws:
            env = {**os.environ, **server.env()}

            def aws_cli(attempt: int) -> None:
                subprocess.run([aws, "--endpoint-url", server.endpoint, "s3", "cp", "--quiet",
                                str(path), f"s3://{bucket}/aws-{attempt}.bin"],
                               check=True, env=env)

            results["aws s3 cp"] = best_of(args.repeat, aws_cli)
        else:
            print("aws CLI not found: pip install awscli to include it")
        for label, seconds in results.items():
            print(f"{label:<40} {seconds:7.2f} s  {size / seconds / 1e6:8.1f} MB/s")
        ours = results.pop("transcode_runner transfer (verified)")
        print(f"runner / best other = {ours / min(results.values()):.3f}  (target <= 1.0)")


if __name__ == "__main__":
    main()
