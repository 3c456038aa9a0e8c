"""Node agent: simulated Nodes whose Pods only flip their status, for the scale benchmarks.

Started by `dev.cluster.cluster.LocalCluster(simulate=SECONDS)` (`bench/operator_scale.py`,
`bench/kueue.py`, `python -m dev.cluster up --simulate`) as
`python -m dev.cluster.nodeagent --kubeconfig ... --simulate SECONDS`: real kubelets
cannot run 1,000 Pods on 2 cores. It registers Nodes
(`gpu-node-0` with `nvidia.com/gpu` capacity, GPU-feature-discovery labels and the
usual `nvidia.com/gpu:NoSchedule` taint; `cpu-node-0` without a GPU), keeps their
Leases and Ready condition fresh, watches the Pods the real scheduler binds to
them and completes each one after SECONDS without running anything (see
`dev.cluster.podruntime`), reporting Pod status as a kubelet does (the way kwok is
used).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import threading
import time
from types import SimpleNamespace
from typing import Any

from kubernetes import client, config
from kubernetes.watch.watch import iter_resp_lines

from dev.cluster import podruntime

log = logging.getLogger("nodeagent")
LEASE_NS = "kube-node-lease"
K8S_VERSION = "v1.37.2"


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def node_manifest(name: str, gpus: int, cpu: str, memory: str, pods: str) -> dict[str, Any]:
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": "local",
    }
    taints = []
    capacity = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "100Gi"}
    if gpus:
        labels.update({
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.count": str(gpus),
            "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
            "nvidia.com/gpu.memory": "81559",
            "nvidia.com/gpu.family": "hopper",
            "nvidia.com/cuda.driver.major": "570",
        })
        taints.append({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"})
        capacity["nvidia.com/gpu"] = str(gpus)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints} if taints else {},
        "status": {"capacity": capacity, "allocatable": capacity},
    }


def api_client(cfg: client.Configuration, *, wait_for_connection: bool) -> client.ApiClient:
    """A client on `cfg.connection_pool_maxsize` kept connections. With `wait_for_connection`
    a request beyond them waits for one, as a kubelet's requests share its connection;
    urllib3's default instead opens one more and drops it after use (763 "pool is full"
    discards in one 1,000-job run: a TLS handshake each, for the API server and for us)."""
    api = client.ApiClient(cfg)
    api.rest_client.pool_manager.connection_pool_kw["block"] = wait_for_connection
    return api


class NodeAgent:
    def __init__(self, api: client.ApiClient, nodes: list[dict[str, Any]],
                 simulate: float, node_api: client.ApiClient | None = None) -> None:
        """`api` carries the Pods' requests; `node_api` (default: `api`) the Nodes' status
        and Leases, so that a renewal never waits behind a burst of Pod status patches."""
        self.api = api
        self.core = client.CoreV1Api(api)
        self.node_core = client.CoreV1Api(node_api or api)
        self.coord = client.CoordinationV1Api(node_api or api)
        self.nodes = {n["metadata"]["name"]: n for n in nodes}
        self.stop = threading.Event()
        self.pods: dict[str, podruntime.PodWorker | None] = {}
        """Pod uid -> its worker while it runs, None once it ended (until the Pod is gone)."""
        self.lock = threading.Lock()
        self.ctx = podruntime.Context(core=self.core, simulate=simulate)

    # --- nodes -------------------------------------------------------------
    def register(self) -> None:
        for name, body in self.nodes.items():
            try:
                self.node_core.create_node(body)
            except client.ApiException as exc:
                if exc.status != 409:
                    raise
                self.node_core.patch_node(
                    name, {"metadata": {"labels": body["metadata"]["labels"]},
                           "spec": body["spec"]})
            self._node_status(name)
            self._lease(name)

    def _node_status(self, name: str) -> None:
        ts = now().isoformat()
        cond = lambda t, s, r, m: {  # noqa: E731
            "type": t, "status": s, "reason": r, "message": m,
            "lastHeartbeatTime": ts, "lastTransitionTime": ts}
        body = self.nodes[name]["status"]
        status = {
            "capacity": body["capacity"], "allocatable": body["allocatable"],
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
                cond("Ready", "True", "KubeletReady", "node agent is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": name, "systemUUID": name, "bootID": name,
                "kernelVersion": "local", "osImage": "kube-transcoder node agent",
                "containerRuntimeVersion": "process://local", "kubeletVersion": K8S_VERSION,
                "kubeProxyVersion": K8S_VERSION, "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }
        self.node_core.patch_node_status(name, {"status": status})

    def _lease(self, name: str) -> None:
        spec = {"holderIdentity": name, "leaseDurationSeconds": 40,
                "renewTime": now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        try:
            self.coord.patch_namespaced_lease(name, LEASE_NS, {"spec": spec})
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            self.coord.create_namespaced_lease(LEASE_NS, {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": LEASE_NS}, "spec": spec})

    def heartbeat(self) -> None:
        n = 0
        while not self.stop.wait(10):
            n += 1
            for name in self.nodes:
                try:
                    self._lease(name)
                    if n % 3 == 0:
                        self._node_status(name)
                except Exception:
                    log.exception("heartbeat for %s failed", name)

    # --- pods --------------------------------------------------------------
    def watch_pods(self) -> None:
        rv: str | None = None
        while not self.stop.is_set():
            try:
                if rv is None:  # first, or the watch's place expired (410): list again
                    listing = self.core.list_pod_for_all_namespaces()
                    for pod in listing.items:
                        self.on_pod(pod)
                    rv = listing.metadata.resource_version
                rv = self._watch_from(rv)
            except Exception:
                log.exception("pod watch failed; listing again")
                rv = None
                time.sleep(1)

    def _watch_from(self, rv: str) -> str | None:
        """Apply raw Pod watch events after `rv` until the server ends the watch (300 s); the
        last resourceVersion seen, where the next watch resumes, or None after a 410. Raw
        lines, not the client's `Watch`: most events are a tracked Pod's own status
        patches and need no model (building one per event was half of this process's CPU
        at scale), and its raw mode fails on an ERROR event (it reads `raw_object`)."""
        resp = self.core.list_pod_for_all_namespaces(
            watch=True, resource_version=rv, timeout_seconds=300, allow_watch_bookmarks=True,
            _preload_content=False)
        try:
            for line in iter_resp_lines(resp):
                if self.stop.is_set():
                    return rv
                if not line.strip():
                    continue
                ev = json.loads(line)
                raw = ev["object"]
                if ev["type"] == "ERROR":
                    if raw.get("code") == 410:
                        return None
                    raise client.ApiException(status=raw.get("code"), reason=raw.get("message"))
                rv = raw["metadata"].get("resourceVersion") or rv
                if ev["type"] in ("ADDED", "MODIFIED") and self._news(raw):
                    self.on_pod(self._model(raw))
                elif ev["type"] == "DELETED":
                    self.on_deleted(raw["metadata"]["uid"])
        finally:
            resp.close()
            resp.release_conn()
        return rv

    def _news(self, raw: dict[str, Any]) -> bool:
        """Whether a raw Pod event matters: a Pod on our nodes not yet run, or being deleted."""
        meta = raw["metadata"]
        if (raw.get("spec") or {}).get("nodeName") not in self.nodes:
            return False
        with self.lock:
            return meta["uid"] not in self.pods or bool(meta.get("deletionTimestamp"))

    def _model(self, raw: dict[str, Any]) -> Any:
        # `deserialize` reads an answer's `data`, as the client's own watch does
        return self.core.api_client.deserialize(SimpleNamespace(data=json.dumps(raw)), "V1Pod")

    def on_pod(self, pod: Any) -> None:
        if pod.spec.node_name not in self.nodes:
            return
        key = pod.metadata.uid
        with self.lock:
            tracked = key in self.pods
            worker = self.pods.get(key)
            if worker is None:  # new, or run to its end (its uid kept, its worker let go)
                if tracked or pod.metadata.deletion_timestamp is not None or \
                        pod.status.phase in ("Succeeded", "Failed"):
                    if pod.metadata.deletion_timestamp is not None:
                        podruntime.finalize_delete(self.core, pod)
                    return
                worker = podruntime.PodWorker(self.ctx, pod)
                self.pods[key] = worker
                threading.Thread(target=self._run, args=(key, worker), daemon=True).start()
        if pod.metadata.deletion_timestamp is not None:
            worker.request_delete(pod)

    def _run(self, key: str, worker: podruntime.PodWorker) -> None:
        try:
            worker.run()
        finally:
            with self.lock:
                if worker.deleted:
                    self.pods.pop(key, None)
                elif key in self.pods:  # ended: keep the uid, not the Pod it holds
                    self.pods[key] = None

    def on_deleted(self, uid: str) -> None:
        with self.lock:
            worker = self.pods.pop(uid, None)
        if worker:
            worker.kill_now()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--gpu-nodes", type=int, default=1)
    ap.add_argument("--cpu-nodes", type=int, default=1)
    ap.add_argument("--gpus-per-node", type=int, default=1)
    ap.add_argument("--cpu", default="16")
    ap.add_argument("--memory", default="64Gi")
    ap.add_argument("--pods", default="110")
    ap.add_argument("--simulate", type=float, required=True,
                    help="complete Pods after this many seconds without running them")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = client.Configuration()
    config.load_kube_config(args.kubeconfig, client_configuration=cfg)
    cfg.connection_pool_maxsize = 32
    api = api_client(cfg, wait_for_connection=True)
    nodes = [node_manifest(f"gpu-node-{i}", args.gpus_per_node, args.cpu, args.memory, args.pods)
             for i in range(args.gpu_nodes)]
    nodes += [node_manifest(f"cpu-node-{i}", 0, args.cpu, args.memory, args.pods)
              for i in range(args.cpu_nodes)]
    agent = NodeAgent(api, nodes, args.simulate,
                      node_api=api_client(cfg, wait_for_connection=False))
    agent.register()
    threading.Thread(target=agent.heartbeat, daemon=True).start()
    log.info("node agent ready: %s", ", ".join(agent.nodes))
    try:
        agent.watch_pods()
    finally:
        agent.stop.set()


if __name__ == "__main__":
    main()
