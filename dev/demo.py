"""`make demo`: the main TranscodeJob end to end on a local control plane.

Run by the Makefile's `demo` target (`python -m dev.demo [--keep]`). It starts
the local Kubernetes control plane and two real kubelet nodes, a real S3 server and Redis,
installs the CRD, the runner's RBAC and the operator, makes a 1080p sample
with FFmpeg and uploads it, applies the DESIGN.md job (two outputs, GPU wanted,
CPU fallback allowed), shows live progress from the job's status, and prints
the final result: encoder used, fallback and reason, processing speed, output
URLs and checksums. Everything it started is stopped at the end unless
`--keep` (then it waits for Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dev import media, stack

JOB = """
apiVersion: kubetranscoder.io/v1alpha1
kind: TranscodeJob
metadata:
  name: trailer-720p
spec:
  source: s3://media-in/trailer.mov
  storage:
    endpoint: {endpoint}
    pathStyle: true
    credentialsSecretRef: {{name: media-s3}}
  acceleration: {{mode: auto, allowCpuFallback: true, gpuPendingTimeout: 2m}}
  outputs:
    - name: 720p
      destination: s3://media-out/trailer/720p.mp4
      video: {{codec: h264, preset: medium, resolution: 720p, bitrate: 3000000}}
      audio: {{codec: aac, bitrate: 128000}}
    - name: 480p
      destination: s3://media-out/trailer/480p.mp4
      video: {{codec: h264, preset: medium, resolution: 480p, bitrate: 1200000}}
  backoffLimit: 3
  ttlSecondsAfterFinished: 86400
"""


def say(msg: str) -> None:
    print(f"==> {msg}", flush=True)


def make_sample(folder: Path, seconds: int) -> Path:
    return media.make_sample(folder / "trailer.mov", seconds)

def follow(s: stack.Stack, ns: str, name: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        job = s.get_job(ns, name)
        st = job.get("status") or {}
        prog = st.get("progress") or {}
        line = (f"    phase={st.get('phase', '-'):<10} progress={prog.get('percent', 0):>3}%"
                f" fps={prog.get('fps', '-')} speed={prog.get('speed', '-')}"
                f" attempts={st.get('attempts', 0)}")
        if line != last:
            print(line, flush=True)
            last = line
        if st.get("phase") in ("Succeeded", "Failed"):
            return job
        time.sleep(1)
    raise TimeoutError(f"job {ns}/{name} not finished after {timeout}s")


def report(job: dict[str, Any]) -> None:
    st = job.get("status") or {}
    meta = st.get("metadata") or {}
    print()
    print(f"phase:            {st.get('phase')}  ({st.get('reason', '')} {st.get('message', '')})")
    print(f"encoder used:     {meta.get('encoderUsed')}  (tried: {meta.get('encoderTried')})")
    print(f"gpu fallback:     {meta.get('gpuFallback')}  reason: {meta.get('fallbackReason')}")
    if meta.get("fallbackMessage"):
        print(f"                  {meta['fallbackMessage']}")
    print(f"processing speed: {meta.get('processingSpeed')}x media seconds per wall second"
          f"  ({meta.get('processingTimeSeconds')} s)")
    for out in st.get("outputs") or []:
        print(f"output {out.get('name')}: {out.get('url')}  {out.get('width')}x{out.get('height')}"
              f"  {out.get('bytes')} bytes  {out.get('checksumAlgorithm')}={out.get('checksum')}")


def main() -> int:
    ap = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="keep everything running until Ctrl-C")
    ap.add_argument("--seconds", type=int, default=20, help="length of the sample source")
    args = ap.parse_args()
    t0 = time.monotonic()
    with stack.Stack() as s:
        say("starting the local control plane (etcd, kube-apiserver, scheduler, "
            "controller-manager built from pinned modules) and two real kubelet nodes")
        s.start_cluster()
        say(f"nodes: {s.kubectl('get', 'nodes', '-o', 'wide').stdout}")
        say("starting S3 (versitygw) and Redis")
        s.start_services()
        say(f"installing the CRD, RBAC and the operator ({s.mode_description()})")
        s.install_operator()
        ns = s.namespace("media")
        with tempfile.TemporaryDirectory() as tmp:
            say(f"making a {args.seconds}s 1080p sample with FFmpeg and uploading it")
            sample = make_sample(Path(tmp), args.seconds)
            s.upload(sample, "media-in", "trailer.mov")
        s.create_bucket("media-out")
        s.credentials_secret(ns, "media-s3")
        say("applying the job (kubectl apply -f -):")
        manifest = JOB.format(endpoint=s.s3.endpoint)
        print(manifest)
        s.kubectl("apply", "-n", ns, "-f", "-", input=manifest)
        job = follow(s, ns, "trailer-720p", timeout=600)
        say("kubectl get tj")
        print(s.kubectl("get", "tj", "-n", ns).stdout)
        report(job)
        say(f"done in {time.monotonic() - t0:.0f}s")
        if args.keep:
            say(f"kept running. export KUBECONFIG={s.cluster.kubeconfig}  (Ctrl-C stops all)")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        ok = (job.get("status") or {}).get("phase") == "Succeeded"
        if not ok:
            print(json.dumps(job.get("status"), indent=2))
            print(s.operator_log_tail())
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
