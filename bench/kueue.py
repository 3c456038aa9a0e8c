"""Benchmark: 200 GPU TranscodeJobs through a 4-GPU Kueue ClusterQueue vs the same 200
jobs without Kueue, on the same local cluster (node agent simulate mode) in one run.

    .venv/bin/python bench/kueue.py [--jobs 200] [--simulate 5]

The cluster has one GPU node with 4 GPUs, so without Kueue the scheduler runs 4
GPU Pods at a time and keeps the rest Pending; with Kueue, a ClusterQueue with 4
GPUs of quota admits 4 batch Jobs at a time and holds the rest Queued. It
prints the time until all jobs Succeeded on each side and their ratio, and the
API writes per job to the resources the operator writes (TranscodeJobs and
their status, Pods without Kueue, batch Job creates and deletes with Kueue: Kueue
itself patches `suspend`), from the API server's
apiserver_request_total; Events are shown apart, since Kueue and the Job
controller post some too. Nothing is asserted; timing claims live here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT, ROOT / "api/src", ROOT / "operator/src", HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import operator_scale as scale  # noqa: E402
from kubernetes import client, config  # noqa: E402

from dev import operators as opf  # noqa: E402
from dev.cluster import cluster as local_cluster  # noqa: E402
from dev.cluster import kueuehost  # noqa: E402
from dev.cluster.fixtures import Kube  # noqa: E402
from dev.services import procs  # noqa: E402
from transcode_api import status as job_status  # noqa: E402

OPERATOR_RESOURCES = ("transcodejobs", "transcodejobs/status", "pods", "jobs")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs on each side (200)")
    parser.add_argument("--simulate", type=float, default=5.0,
                        help="seconds each simulated Pod runs (5)")
    parser.add_argument("--timeout", type=float, default=900.0, help="per side, seconds")
    return parser.parse_args(argv)


def queues(kube: Kube, ns: str) -> None:
    group = "kueue.x-k8s.io/v1beta2"
    resources = [{"name": "cpu", "nominalQuota": "1000"},
                 {"name": "memory", "nominalQuota": "4000Gi"},
                 {"name": "ephemeral-storage", "nominalQuota": "100Ti"},
                 {"name": "nvidia.com/gpu", "nominalQuota": 4}]
    docs = [{"apiVersion": group, "kind": "ResourceFlavor", "metadata": {"name": "bench-gpu"}},
            {"apiVersion": group, "kind": "ClusterQueue", "metadata": {"name": "bench-gpu"},
             "spec": {"namespaceSelector": {}, "resourceGroups": [{
                 "coveredResources": ["cpu", "memory", "ephemeral-storage", "nvidia.com/gpu"],
                 "flavors": [{"name": "bench-gpu", "resources": resources}]}]}},
            {"apiVersion": group, "kind": "LocalQueue",
             "metadata": {"name": "gpu", "namespace": ns}, "spec": {"clusterQueue": "bench-gpu"}}]
    kube.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": docs}))


def side(kube: Kube, n: int, args: argparse.Namespace, tmp: Path, queued: bool) -> dict[str, Any]:
    label = "kueue" if queued else "plain"
    ns = kube.namespace(f"bench-{label}")
    if queued:
        queues(kube, ns)
    result = job_status.RunnerResult.model_validate({
        "outcome": "Succeeded", "exitCode": 0, "message": "simulated",
        "outputs": [{"name": "720p", "url": "s3://media-out/x.mp4", "bytes": 1}],
        "metadata": {"gpuEnabled": True, "encoderUsed": "h264_nvenc", "processingSpeed": 2.0}})
    op = opf.OperatorProcess(kube, ns, tmp / f"operator-{label}.log", {
        "runner__command": ["true"], "runner__resources": scale.SMALL,
        "runner__extra_env": {"KT_SIMULATED_TERMINATION_MESSAGE":
                              result.to_termination_message()},
        "http__enabled": "false", **({"queues__default": "gpu"} if queued else {})})
    op.start()
    custom = client.CustomObjectsApi(kube.api_client)

    def make(i: int) -> None:
        opf.create_job(kube, ns, opf.job_manifest(
            f"tj-{i}", acceleration={"mode": "gpu", "gpuPendingTimeout": "1h"}))

    def finished() -> int:
        items = scale._items(lambda **kw: custom.list_namespaced_custom_object(
            opf.GROUP, opf.VERSION, ns, opf.PLURAL, **kw))
        return sum(1 for j in items if (j.get("status") or {}).get("phase") == "Succeeded")

    try:
        before = scale.request_totals(kube)
        t0 = time.monotonic()
        scale.create_all(make, n, 16)
        done_at = scale.wait_until(f"{label}: Succeeded", finished, n, t0, args.timeout)
        time.sleep(3)  # let queued Events go out before counting
        writes = scale.request_totals(kube) - before
    finally:
        op.stop()
    ours = {f"{verb} {res}{' (' + group + ')' if group else ''}": count / n
            for (verb, res, group), count in sorted(writes.items())
            if res in OPERATOR_RESOURCES and group in ("", "batch", "kubetranscoder.io")
            and not (verb == "POST" and res == "transcodejobs")
            and not (queued and res == "pods")  # with Kueue the Job controller makes Pods
            and not (res == "jobs" and verb not in ("POST", "DELETE"))}  # Kueue (un)suspends
    events = sum(c for (v, res, _), c in writes.items() if res == "events") / n
    return {"done": done_at, "writes": ours, "total": sum(ours.values()), "events": events}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    c = local_cluster.LocalCluster(
        simulate=args.simulate,
        agent_args=["--pods=5000", "--cpu=1000", "--memory=4000Gi", "--gpu-nodes=1",
                    "--gpus-per-node=4", "--cpu-nodes=1"])
    procs.on_exit(c.stop)
    tmp = Path(c.workdir)
    try:
        c.start()
        cfg = client.Configuration()
        config.load_kube_config(str(c.kubeconfig), client_configuration=cfg)
        kube = Kube(c, client.ApiClient(cfg))
        opf.install_crd(kube)
        plain = side(kube, args.jobs, args, tmp, queued=False)
        k = kueuehost.Kueue(tmp / "kueue", Path(c.kubeconfig), c.bin_dir / "kubectl")
        procs.on_exit(k.stop)
        k.start()
        try:
            queued = side(kube, args.jobs, args, tmp, queued=True)
        finally:
            k.stop()
    finally:
        c.stop()
    for name, row in (("without Kueue", plain), ("with Kueue", queued)):
        print(f"{name}: all {args.jobs} Succeeded after {row['done']:.1f}s; operator writes "
              f"per job {row['total']:.2f} {row['writes']}; Events per job (all sources) "
              f"{row['events']:.2f}")
    print(f"ratio (with / without Kueue): time to all finished {queued['done'] / plain['done']:.2f}x, "
          f"operator writes per job {queued['total'] / plain['total']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
