"""Benchmark: the chaos run at 100 jobs, with the operator SIGKILLed every 1–5 s and without.

    .venv/bin/python bench/chaos.py [--jobs 100] [--timeout 1800]    (BENCH_QUICK=1: 12 jobs)

Starts the S3 server and a local cluster of real kubelet nodes (the runner image as
real containers; KT_IMAGE_TAG / KT_IMAGE_BUILD as for the e2e tests), then runs the
same mix of jobs twice (after 4 unreported warm-up jobs), side by side in one run,
each in its own namespace with its own operator (`dev.chaos`: two outputs each, one in six flaky with a Transient first
attempt, one in ten with a missing source): first calm, then with the operator
SIGKILLed at a random moment 1–5 s after each start and restarted. It prints, for
each side, jobs lost (not ended as their input says), duplicate Pods (more than one
Pod for an attempt, from a watch of every Pod created), orphaned uploads (multipart
uploads still open), outputs whose bytes do not match their status, and the wall
time; then the chaos side's wall time as a ratio to the calm side's, and the load
average (the machine is shared). Nothing is asserted; the e2e test asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT, ROOT / "api/src", ROOT / "operator/src", ROOT / "job-runner/src"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from kubernetes import client, config  # noqa: E402

from dev import chaos  # noqa: E402
from dev import operators as opf  # noqa: E402
from dev.cluster import cluster as local_cluster  # noqa: E402
from dev.cluster import images, kubelet  # noqa: E402
from dev.cluster.fixtures import Kube  # noqa: E402
from dev.services import procs, s3server  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK") == "1"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=12 if QUICK else 100,
                        help="jobs on each side (100; BENCH_QUICK=1: 12)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per side, seconds")
    return parser.parse_args(argv)


def side(kube: Kube, s3: s3server.S3Server, tmp: Path, n: int, kill: bool,
         timeout: float, label: str = "") -> chaos.Report:
    label = label or ("chaos" if kill else "calm")
    ns = kube.namespace(f"bench-{label}")
    op = opf.OperatorProcess(kube, ns, tmp / f"operator-{label}.log",
                             chaos.operator_settings(ns))
    procs.on_exit(op.stop)
    op.start()
    try:
        folder = tmp / label
        folder.mkdir()
        return chaos.run(kube, ns, s3, op, folder, chaos.cases(n), kill=kill, timeout=timeout)
    finally:
        op.stop()


def line(label: str, report: chaos.Report) -> str:
    c = report.counts()
    return (f"{label:6} jobs {c['jobs']:4}  lost {c['lost']}  duplicate Pods "
            f"{c['duplicate_pods']}  orphaned uploads {c['open_uploads']}  bad outputs "
            f"{c['bad_outputs']}  Created Events off {c['event_mismatches']}  attempts "
            f"{c['attempts']}  kills {c['kills']:3}  wall {c['seconds']:7.1f} s")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    images.ensure_images()
    s3 = s3server.S3Server().start()
    procs.on_exit(s3.stop)
    c = local_cluster.LocalCluster(kubelet_nodes=kubelet.default_nodes())
    procs.on_exit(c.stop)
    try:
        c.start(timeout=300)
        cfg = client.Configuration()
        config.load_kube_config(str(c.kubeconfig), client_configuration=cfg)
        kube = Kube(c, client.ApiClient(cfg))
        opf.install_crd(kube)
        with tempfile.TemporaryDirectory(prefix="kt-bench-chaos-") as tmp:
            # warm-up, not reported: the first runner containers on each node start
            # slower (image layers, page cache), which would count against one side only
            side(kube, s3, Path(tmp), 4, False, args.timeout, "warmup")
            calm = side(kube, s3, Path(tmp), args.jobs, False, args.timeout)
            print(line("calm", calm), flush=True)
            wild = side(kube, s3, Path(tmp), args.jobs, True, args.timeout)
            print(line("killed", wild), flush=True)
        load = os.getloadavg()
        print(f"wall time with kills / without: {wild.seconds / calm.seconds:.2f} "
              f"({wild.seconds:.1f} s / {calm.seconds:.1f} s, {wild.kills} SIGKILLs); "
              f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
        print("counts:", json.dumps({"calm": calm.counts(), "killed": wild.counts()}))
        for report in (calm, wild):
            for problem in report.lost + report.over_limit + report.open_uploads \
                    + report.bad_outputs + report.event_mismatches:
                print("  problem:", problem)
        return 0
    finally:
        c.stop()
        s3.stop()


if __name__ == "__main__":
    start = time.monotonic()
    code = main()
    print(f"(bench/chaos.py took {time.monotonic() - start:.0f} s)")
    sys.exit(code)
