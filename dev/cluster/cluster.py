"""A whole local cluster: the control plane plus real kubelets (or the node agent), as one object.

Used by the pytest fixtures (`dev.cluster.fixtures`), by `python -m dev.cluster`
(`make cluster-up`, `make cluster-down`), by the demo and by the benchmarks.
`LocalCluster.start()` builds or finds the binaries, starts the control plane,
starts the nodes and waits until every Node is Ready and the `default`
ServiceAccount exists; `stop()` stops every process it started, by PID.
The nodes are real kubelet + containerd nodes (`dev.cluster.kubelet`;
`kubelet_nodes`, by default `kubelet.default_nodes()`), what the tests, cluster-up
and the demo use; with `simulate=SECONDS` the node agent registers the Nodes instead
and completes every Pod after that delay without running it (the scale benchmarks:
real kubelets cannot run 1,000 Pods on 2 cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dev.cluster import controlplane, kubelet

REPO = Path(__file__).resolve().parents[2]


@dataclass
class LocalCluster:
    workdir: Path = field(default_factory=controlplane.new_workdir)
    simulate: float | None = None
    agent_args: list[str] = field(default_factory=list)
    cp: controlplane.ControlPlane | None = None
    agent: subprocess.Popen[bytes] | None = None
    # --- kubelet nodes (dev/cluster/kubelet.py): real kubelets instead of the agent ---
    kubelet_nodes: list[kubelet.NodeSpec] = field(default_factory=list)
    nodes: list[kubelet.KubeletNode] = field(default_factory=list)

    @property
    def kubeconfig(self) -> Path:
        assert self.cp is not None
        return self.cp.kubeconfig

    @property
    def bin_dir(self) -> Path:
        assert self.cp is not None
        return self.cp.bin_dir

    def kubectl_cmd(self, *args: str) -> list[str]:
        return [str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args]

    def start(self, timeout: float = 180.0) -> LocalCluster:
        bin_dir = controlplane.build_binaries()
        self.cp = controlplane.ControlPlane(self.workdir, bin_dir).start()
        if self.simulate is None:
            self.nodes = kubelet.start_nodes(self.workdir, self.kubeconfig, self.cp.ca,
                                             self.kubelet_nodes or kubelet.default_nodes(),
                                             timeout)
        else:  # the scale benchmarks: Pods that only flip their status (no kubelet)
            self.start_agent()
        self.wait_ready(timeout)
        return self

    def start_agent(self) -> None:
        args = [sys.executable, "-m", "dev.cluster.nodeagent",
                f"--kubeconfig={self.kubeconfig}",
                *self.agent_args]
        if self.simulate is not None:
            args.append(f"--simulate={self.simulate}")
        log = open(self.workdir / "nodeagent.log", "ab")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.agent = subprocess.Popen(args, cwd=REPO, env=env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.agent and self.agent.poll() is not None:
                tail = (self.workdir / "nodeagent.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"node agent exited with {self.agent.returncode}:\n{tail}")
            out = subprocess.run(self.kubectl_cmd("get", "nodes", "-o", "json"),
                                 capture_output=True, text=True)
            sa = subprocess.run(self.kubectl_cmd("get", "serviceaccount", "default", "-n",
                                                 "default"), capture_output=True, text=True)
            if out.returncode == 0 and sa.returncode == 0:
                nodes = json.loads(out.stdout)["items"]
                ready = [n for n in nodes if not any(
                    t.get("key") == "node.kubernetes.io/not-ready"
                    for t in n["spec"].get("taints", []))
                    and any(c["type"] == "Ready" and c["status"] == "True"
                            for c in n["status"].get("conditions", []))]
                if nodes and len(ready) == len(nodes):
                    return
                last = f"{len(ready)}/{len(nodes)} nodes ready"
            else:
                last = out.stderr + sa.stderr
            time.sleep(0.5)
        raise TimeoutError(f"cluster not ready after {timeout}s: {last}")

    def pids(self) -> dict[str, int]:
        pids = dict(self.cp.pids()) if self.cp else {}
        if self.agent:
            pids["nodeagent"] = self.agent.pid
        for node in self.nodes:
            pids.update({f"{node.name}/{n}": p for n, p in node.state()["pids"].items()})
        return pids

    def stop(self) -> None:
        # agent first: it kills the Pod processes it started
        if self.agent:
            controlplane.stop_pids({"nodeagent": self.agent.pid})
            self.agent = None
        for node in self.nodes:  # kubelet nodes: containers, PIDs, mounts, cgroups
            node.stop()
        self.nodes = []
        if self.cp:
            self.cp.stop()

    def state(self) -> dict[str, object]:
        return {"workdir": str(self.workdir), "kubeconfig": str(self.kubeconfig),
                "bin_dir": str(self.bin_dir), "pids": self.pids(),
                "kubelet_nodes": [n.state() for n in self.nodes]}
