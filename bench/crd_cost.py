"""Benchmark: what a TranscodeJob write costs the API server, against a batch/v1 Job's, and
how much of it is the CRD's CEL rules and its schema.

    .venv/bin/python bench/crd_cost.py [--writes 1000] [--rounds 2]

It starts the local control plane (node agent in simulate mode, no operator), installs
the TranscodeJob CRD and four copies of it under other API groups: one without its CEL
rules (`x-kubernetes-validations`), one with only its spec immutability rule, one with
only that rule's field-by-field test (its form before the `self == oldSelf` shortcut,
`crdgen.immutability_rule`), and one without any schema (every field kept as given). Then, in each round and for each kind, it creates --writes objects (the bench's
usual `acceleration.mode: cpu` job; for batch/v1 a suspended Job, so the Job controller
makes no Pods) and status-patches each once (the operator's first write: phase,
attempts, Pod name, start time), all from 32 client threads, and reads the API server's
CPU seconds (/proc) around each batch. It prints the CPU seconds per 1,000 writes of
each kind and their ratio to the batch/v1 Job's. Every status write of a job pays for
all of its spec's CEL rules again: the API server evaluates them on the whole object,
status subresource included, and every field a rule looks up costs it a rebuilt map of
that object's property schemas, which is why the immutability rule's form matters.
Nothing is asserted; timing claims live here.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "api/src", ROOT / "operator/src"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench.operator_scale import _cpu_seconds  # noqa: E402
from kubernetes import client, config  # noqa: E402

from dev import operators as opf  # noqa: E402
from dev.cluster import cluster as local_cluster  # noqa: E402
from dev.cluster.fixtures import Kube  # noqa: E402
from dev.services import procs  # noqa: E402
from transcode_api import crdgen  # noqa: E402

CRD = ROOT / "crds" / f"{opf.PLURAL}.{opf.GROUP}.yaml"
NO_CEL, NO_SCHEMA = "nocel.bench.kubetranscoder.io", "noschema.bench.kubetranscoder.io"
IMMUTABLE, IMMUTABLE_FIELDS = "immutable.bench.kubetranscoder.io", "fields.bench.kubetranscoder.io"
VARIANTS = {NO_CEL: "TranscodeJob, no CEL", IMMUTABLE: "only the immutability rule",
            IMMUTABLE_FIELDS: "only it, field by field", NO_SCHEMA: "TranscodeJob, no schema"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=1000, help="objects per kind (1000)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; the median is printed")
    return parser.parse_args(argv)


def _strip_cel(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("x-kubernetes-validations", None)
        for value in node.values():
            _strip_cel(value)
    elif isinstance(node, list):
        for value in node:
            _strip_cel(value)


def variant(crd: dict[str, Any], group: str) -> dict[str, Any]:
    """The TranscodeJob CRD under `group`, less its CEL rules (NO_CEL), less all but the
    immutability rule (IMMUTABLE), that with the field-by-field test only (its form
    before the `self == oldSelf` shortcut: IMMUTABLE_FIELDS), or less its schema."""
    out = copy.deepcopy(crd)
    out["spec"]["group"], out["metadata"]["name"] = group, f"{opf.PLURAL}.{group}"
    for version in out["spec"]["versions"]:
        if group in (NO_CEL, IMMUTABLE, IMMUTABLE_FIELDS):
            _strip_cel(version["schema"])
        if group in (IMMUTABLE, IMMUTABLE_FIELDS):
            rule = crdgen.immutability_rule()
            if group == IMMUTABLE_FIELDS:
                rule["rule"] = crdgen.changed_fields_test()
            version["schema"]["openAPIV3Schema"]["properties"]["spec"][
                "x-kubernetes-validations"] = [rule]
        elif group == NO_SCHEMA:
            version["schema"] = {"openAPIV3Schema": {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True}}
            version.pop("additionalPrinterColumns", None)
    return out


POD = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}
STATUS = {"status": {"phase": "Running", "attempts": 1, "podName": "tj-1",
                     "startTime": "2026-01-01T00:00:00Z"}}


def job_calls(batch: client.BatchV1Api, ns: str
              ) -> tuple[Callable[[int], Any], Callable[[int], Any]]:
    """Create the i-th suspended batch/v1 Job in `ns`; patch its status."""
    def create(i: int) -> Any:
        return batch.create_namespaced_job(ns, {
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": f"j-{i}"},
            "spec": {"suspend": True, "template": POD}})

    def patch(i: int) -> Any:
        return batch.patch_namespaced_job_status(f"j-{i}", ns,
                                                 {"status": {"active": 0, "ready": 0}})
    return create, patch


def job_resource_calls(custom: client.CustomObjectsApi, group: str, ns: str
                       ) -> tuple[Callable[[int], Any], Callable[[int], Any]]:
    """Create the i-th TranscodeJob (under `group`) in `ns`; patch its status."""
    def create(i: int) -> Any:
        body = opf.job_manifest(f"tj-{i}", acceleration={"mode": "cpu"})
        body["apiVersion"] = f"{group}/{opf.VERSION}"
        return custom.create_namespaced_custom_object(group, opf.VERSION, ns, opf.PLURAL, body)

    def patch(i: int) -> Any:
        return custom.patch_namespaced_custom_object_status(group, opf.VERSION, ns, opf.PLURAL,
                                                            f"tj-{i}", STATUS)
    return create, patch


def timed(api_pid: int, threads: int, n: int, call: Callable[[int], Any]) -> float:
    """API server CPU seconds while `call(i)` runs for i in range(n) on `threads` threads."""
    before = _cpu_seconds(api_pid)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(call, range(n)))
    return _cpu_seconds(api_pid) - before


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    c = local_cluster.LocalCluster(simulate=10, agent_args=["--pods=10", "--cpu-nodes=1"])
    procs.on_exit(c.stop)
    try:
        c.start()
        cfg = client.Configuration()
        config.load_kube_config(str(c.kubeconfig), client_configuration=cfg)
        cfg.connection_pool_maxsize = 32
        kube = Kube(c, client.ApiClient(cfg))
        opf.install_crd(kube)
        crd = yaml.safe_load(CRD.read_text())
        for group in VARIANTS:
            kube.kubectl("apply", "-f", "-", input=json.dumps(variant(crd, group)))
            kube.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                         f"crd/{opf.PLURAL}.{group}")
        time.sleep(5)  # let the API server serve the new groups' discovery
        api_pid = c.pids()["kube-apiserver"]
        custom = client.CustomObjectsApi(kube.api_client)
        batch = client.BatchV1Api(kube.api_client)
        kinds: dict[str, Callable[[str], tuple[Callable[[int], Any], Callable[[int], Any]]]] = {
            "batch/v1 Job (suspended)": lambda ns: job_calls(batch, ns),
            **{label: functools.partial(job_resource_calls, custom, group)
               for group, label in {opf.GROUP: "TranscodeJob", **VARIANTS}.items()}}
        costs: dict[str, list[tuple[float, float]]] = {}
        for _ in range(args.rounds):
            for label, calls in kinds.items():
                create, patch = calls(kube.namespace("cost"))
                costs.setdefault(label, []).append((timed(api_pid, 32, args.writes, create),
                                                    timed(api_pid, 32, args.writes, patch)))
    finally:
        c.stop()
    _print(costs, args.writes)
    return 0


def _print(costs: dict[str, list[tuple[float, float]]], writes: int) -> None:
    per_k = 1000 / writes
    rows = {label: (statistics.median(c for c, _ in runs) * per_k,
                    statistics.median(p for _, p in runs) * per_k)
            for label, runs in costs.items()}
    base = rows["batch/v1 Job (suspended)"]
    print("\nAPI server CPU seconds per 1,000 writes (median of the rounds; ratio to batch/v1)")
    print("                               create            status patch")
    for label, (create, patch) in rows.items():
        print(f"  {label:26s} {create:6.2f}s {create / base[0]:5.2f}x   "
              f"{patch:6.2f}s {patch / base[1]:5.2f}x")


if __name__ == "__main__":
    sys.exit(main())
