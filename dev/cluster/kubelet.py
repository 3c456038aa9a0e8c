"""Real kubelet nodes for the local cluster: a kubelet and its own containerd per Node.

Used by `dev.cluster.cluster.LocalCluster(kubelet_nodes=...)` (the e2e `kube`
fixture, `python -m dev.cluster up`, the demo) instead of the node agent. Each
`KubeletNode` runs what `dev/cluster/node/build.sh` builds from pinned modules
(containerd + runc, kubelet) with the configs of `dev.cluster.nodeconfig`, every
root, state, log and socket folder under the node's temp folder, the pause and project
images imported from podman's store. `--node-ip=127.0.0.1`, which the kubelet refuses
to publish: the Node has no address, so nothing is ever sent to a non-loopback one.
GPU nodes get their `nvidia.com/gpu` capacity PATCHed into the Node status, as a device
plugin would. `teardown()` kills the containers, stops containerd and kubelet by PID,
unmounts what they mounted under the temp folder and removes their cgroups; it works
from `state()`, so `python -m dev.cluster down` runs it from another process.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from dev.cluster import images, nodeconfig, nodehost
from dev.services import procs

HERE = Path(__file__).resolve().parent
PROJECT_IMAGES = images.PROJECT_IMAGES  # localhost/kube-transcoder-{runner,operator}:<KT_IMAGE_TAG>


def save_images(folder: Path, images: tuple[str, ...] = PROJECT_IMAGES) -> list[Path]:
    """`podman save` each image the local store has (after `make images`) as an OCI archive."""
    folder.mkdir(parents=True, exist_ok=True)
    archives = []
    for i, image in enumerate(images):
        if subprocess.run(["podman", "image", "exists", image]).returncode == 0:
            archives.append(folder / f"{i}.oci.tar")
            subprocess.run(["podman", "save", "-q", "--format", "oci-archive", "-o",
                            str(archives[-1]), image], check=True, capture_output=True)
    return archives


def build_binaries() -> Path:
    """Build (or find in the cache) kubelet, containerd, shim, ctr, loopback, pause."""
    out = subprocess.run(["bash", str(HERE / "node" / "build.sh")], check=True,
                         stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class NodeSpec:
    name: str
    gpus: int = 0


def default_nodes() -> list[NodeSpec]:
    """The two Nodes the node agent registers, as real kubelets."""
    return [NodeSpec("cpu-node-0"), NodeSpec("gpu-node-0", gpus=1)]


@dataclass
class KubeletNode:
    spec: NodeSpec
    workdir: Path
    bin_dir: Path
    kubeconfig: Path
    ca: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    socket = property(lambda self: self.workdir / "containerd.sock")
    pod_logs = property(lambda self: self.workdir / "pod-logs")

    @property
    def cgroup_root(self) -> str:
        return f"/{self.workdir.parent.parent.name}-{self.name}"

    @property
    def nvidia_runc_root(self) -> Path:
        """runc's state folder for containers of the `nvidia` handler (and only those)."""
        return self.workdir / "runc-nvidia"

    def ctr(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bin_dir / "ctr"), f"--address={self.socket}",
                               "-n", "k8s.io", *args], capture_output=True, text=True,
                              timeout=timeout)

    def start(self, archives: list[Path]) -> KubeletNode:
        """Start containerd, import the pause image and `archives`, start the kubelet."""
        for d in ("root", "state", "cni", "kubelet", "pod-logs", "runc", "runc-nvidia"):
            (self.workdir / d).mkdir(parents=True, exist_ok=True)
        nodehost.make_cgroup(self.cgroup_root)
        self._write_configs()
        wd = self.workdir
        self._spawn("containerd", [str(self.bin_dir / "containerd"),
                                   f"--config={wd / 'containerd.toml'}"])
        self._wait(lambda: self.ctr("version", timeout=10).returncode == 0, 60, "containerd")
        pause = self.bin_dir.parent / f"pause-{nodeconfig.PAUSE_IMAGE.split(':')[-1]}.oci.tar"
        for archive in [pause, *archives]:
            out = self.ctr("images", "import", str(archive))
            if out.returncode != 0:
                raise RuntimeError(f"ctr images import {archive} failed: {out.stderr}")
        self._spawn("kubelet", [
            str(self.bin_dir / "kubelet"), f"--config={wd / 'kubelet.yaml'}",
            f"--kubeconfig={self.kubeconfig}", f"--hostname-override={self.name}",
            "--node-ip=127.0.0.1", f"--root-dir={wd / 'kubelet'}",
            f"--cert-dir={wd / 'kubelet' / 'pki'}",
            f"--node-labels={nodeconfig.node_labels(self.spec.gpus)}", "--v=2"])
        return self

    def _spawn(self, name: str, args: list[str]) -> None:
        env = {**os.environ, "PATH": f"{self.bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin"}
        log = open(self.workdir / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env,
                                            start_new_session=True)

    def _wait(self, ok: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ok():
            for name, p in self.procs.items():
                if p.poll() is not None:
                    tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"{self.name}: {name} exited with {p.returncode}:\n{tail}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: {what} not up after {timeout}s")
            time.sleep(0.3)

    def _write_configs(self) -> None:
        wd = self.workdir
        (wd / "containerd.toml").write_text(nodeconfig.containerd(wd, self.bin_dir))
        (wd / "cni" / "10-loopback.conflist").write_text(nodeconfig.cni_conflist())
        (wd / "certs.d" / "_default").mkdir(parents=True, exist_ok=True)
        (wd / "certs.d" / "_default" / "hosts.toml").write_text(nodeconfig.registry_hosts())
        (wd / "kubelet.yaml").write_text(json.dumps(nodeconfig.kubelet(
            wd, ca=self.ca, cgroup_root=self.cgroup_root, port=procs.free_port(),
            gpus=self.spec.gpus), indent=2))

    def advertise_gpus(self, api: client.ApiClient) -> None:
        """PATCH `nvidia.com/gpu` into the Node's status capacity (what a device plugin does)."""
        if self.spec.gpus:
            client.CoreV1Api(api).patch_node_status(
                self.name, {"status": {"capacity": {"nvidia.com/gpu": str(self.spec.gpus)}}})

    def container_log(self, namespace: str, pod: str, container: str) -> str:
        """The container's log as the kubelet wrote it (no `kubectl logs` on loopback)."""
        files = sorted(self.pod_logs.glob(f"{namespace}_{pod}_*/{container}/*.log"))
        return "".join(f.read_text(errors="replace") for f in files)

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "workdir": str(self.workdir), "bin_dir": str(self.bin_dir),
                "cgroup_root": self.cgroup_root,
                "pids": {n: p.pid for n, p in self.procs.items()}}

    def stop(self) -> None:
        """Tear down; then drop the image store (about 1 GB), keeping configs and logs."""
        left = teardown(self.state())
        for p in self.procs.values():
            with contextlib.suppress(Exception):
                p.wait(timeout=10)
        self.procs.clear()
        if not any(x.startswith("mount ") for x in left):  # never rmtree into a mount
            subprocess.run(["rm", "-rf", "--one-file-system",  # faster than rmtree
                            *(str(self.workdir / d) for d in ("root", "state", "kubelet"))])


def teardown(state: dict[str, Any]) -> list[str]:
    """Stop one node from its `state()`; returns what could not be cleaned up."""
    from dev.cluster import controlplane

    wd, pids = Path(state["workdir"]), state["pids"]
    if "kubelet" in pids:
        controlplane.stop_pids({"kubelet": pids["kubelet"]})
    sock = wd / "containerd.sock"
    if "containerd" in pids and controlplane._alive(pids["containerd"]):
        ctr = [str(Path(state["bin_dir"]) / "ctr"), f"--address={sock}", "-n", "k8s.io"]
        tasks = subprocess.run([*ctr, "tasks", "ls", "-q"], capture_output=True, text=True,
                               timeout=60).stdout.split()
        for task in tasks:
            subprocess.run([*ctr, "tasks", "kill", "--all", "-s", "SIGKILL", task],
                           capture_output=True, timeout=60)
        for task in tasks:
            subprocess.run([*ctr, "tasks", "delete", "--force", task], capture_output=True,
                           timeout=60)
        controlplane.stop_pids({"containerd": pids["containerd"]})
    shims = {f"shim-{pid}": pid for pid in nodehost.pids_with_arg(f"-address\0{sock}\0")}
    controlplane.stop_pids(shims, grace=5)
    nodehost.remove_log_links(wd)
    left = nodehost.unmount_under(wd)
    left += nodehost.remove_cgroup(state["cgroup_root"])
    return left


def start_nodes(workdir: Path, kubeconfig: Path, ca: Path, specs: list[NodeSpec],
                timeout: float = 180.0) -> list[KubeletNode]:
    """Build/find the binaries, start one kubelet node per spec, register the GPU side.

    Returns once every Node is registered, the GPU Nodes show `nvidia.com/gpu` in
    allocatable and the `nvidia` RuntimeClass exists; the caller waits for Ready.
    On failure the nodes already started are torn down before the error propagates.
    """
    from kubernetes import config

    bin_dir = build_binaries()
    nodes = [KubeletNode(s, workdir / "kubelet" / s.name, bin_dir, kubeconfig, ca)
             for s in specs]
    try:
        archives = save_images(workdir / "images")
        with ThreadPoolExecutor(len(nodes)) as pool:  # imports take most of the start time
            for future in [pool.submit(n.start, archives) for n in nodes]:
                future.result()
        for archive in archives:
            archive.unlink()
        cfg = client.Configuration()
        config.load_kube_config(str(kubeconfig), client_configuration=cfg)
        with client.ApiClient(cfg) as api:
            core = client.CoreV1Api(api)

            def registered() -> bool:
                names = {n.metadata.name for n in core.list_node().items}
                return all(n.name in names for n in nodes)
            nodes[0]._wait(registered, timeout, "Node registration")
            for node in nodes:
                node.advertise_gpus(api)
                node._wait(lambda node=node: core.read_node(node.name).status.allocatable.get(
                    "nvidia.com/gpu", "0") == str(node.spec.gpus) or not node.spec.gpus,
                    60, "nvidia.com/gpu in allocatable")
            with contextlib.suppress(client.ApiException):  # already there: fine
                client.NodeV1Api(api).create_runtime_class(nodeconfig.RUNTIME_CLASS)
            _loopback_apiserver(api, int(cfg.host.rsplit(":", 1)[1]), nodes[0])
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def _loopback_apiserver(api: client.ApiClient, port: int, node: KubeletNode) -> None:
    """Install `nodeconfig.loopback_apiserver_policy`; wait until it mutates a Pod."""
    from kubernetes import dynamic

    dyn = dynamic.DynamicClient(api)
    for obj in nodeconfig.loopback_apiserver_policy(port):
        dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"]).create(body=obj)
    probe = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kt-policy-probe"},
             "spec": {"hostNetwork": True, "containers": [{"name": "c", "image": "probe"}]}}

    def mutated() -> bool:
        pod = client.CoreV1Api(api).create_namespaced_pod("default", probe, dry_run="All")
        return any(e.name == "KUBERNETES_SERVICE_HOST" for e in pod.spec.containers[0].env or [])
    node._wait(mutated, 60, "the loopback API server policy")
