"""`make bench`: every side-by-side benchmark in one go, each printing its own ratio.

Runs the scripts in bench/ one after another as subprocesses with their default
sizes (override with `BENCH_QUICK=1` for a short smoke run). `bench/cache.py`
needs a TranscodeJob to read, so this script starts the whole local stack
(dev.stack), runs one small job through it and points cache.py at it. No
timing is asserted anywhere; the numbers are for reading.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
QUICK = os.environ.get("BENCH_QUICK") == "1"


def run(script: str, *args: str) -> int:
    print(f"\n===== bench/{script} {' '.join(args)} =====", flush=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(HERE / script), *args], env=env).returncode


def cache_bench() -> int:
    sys.path.insert(0, str(REPO))
    from dev import demo, stack

    with stack.Stack() as s:
        s.start_cluster()
        s.start_services()
        s.install_operator()
        ns = s.namespace("bench")
        with tempfile.TemporaryDirectory() as tmp:
            s.upload(demo.make_sample(Path(tmp), 4), "media-in", "trailer.mov")
        s.create_bucket("media-out")
        s.credentials_secret(ns, "media-s3")
        assert s.s3 is not None and s.redis is not None and s.cluster is not None
        s.kubectl("apply", "-n", ns, "-f", "-", input=demo.JOB.format(endpoint=s.s3.endpoint))
        demo.follow(s, ns, "trailer-720p", timeout=600)
        return run("cache.py", f"--kubeconfig={s.cluster.kubeconfig}",
                   f"--job={ns}/trailer-720p", f"--redis-url={s.redis.url}",
                   *(["--requests=200"] if QUICK else []))


def main() -> int:
    codes = [
        run("ladder.py", *(["--seconds=5"] if QUICK else [])),
        run("runner_pipeline.py", *(["--seconds=10"] if QUICK else ["--repeat=2"])),
        run("upload.py", *(["--size-mib=128", "--repeat=1"] if QUICK else [])),
        run("packaging.py", *(["--seconds=10"] if QUICK else ["--repeat=2"])),
        run("thumbnails.py", *(["--seconds=10"] if QUICK else ["--repeat=2"])),
        cache_bench(),
        run("operator_scale.py", *(["--jobs=100"] if QUICK else [])),
        run("crd_cost.py", *(["--writes=200", "--rounds=1"] if QUICK else [])),
        run("kueue.py", *(["--jobs=40"] if QUICK else [])),
        run("chaos.py", *(["--jobs=12"] if QUICK else [])),
    ]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
