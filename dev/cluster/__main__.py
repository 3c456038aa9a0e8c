"""`python -m dev.cluster up|down|status`: the local cluster from the command line.

Called by `make cluster-up` and `make cluster-down`. `up` starts the control plane
and two real kubelet nodes (`dev.cluster.kubelet`, the images of `make images`
imported) in the background, records their PIDs in a state file and prints the
kubeconfig path; `down` kills the nodes' containers, unmounts what they mounted,
stops exactly those PIDs and removes the cluster's temp folder. `up --simulate SECONDS`
runs the node agent instead, whose Pods only flip their status after that delay
(the scale benchmarks' simulated Pods).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from dev.cluster import cluster, controlplane, kubelet

STATE = Path(os.environ.get("KT_STATE_DIR", "/tmp/kube-transcoder")) / "cluster.json"


def up(args: argparse.Namespace) -> int:
    if STATE.exists():
        state = json.loads(STATE.read_text())
        if all(controlplane._alive(p) for p in state["pids"].values()):
            print(f"cluster already up\nexport KUBECONFIG={state['kubeconfig']}")
            return 0
        down(args)
    c = cluster.LocalCluster(simulate=args.simulate)
    try:
        c.start()
    except BaseException:
        c.stop()
        raise
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(c.state(), indent=2))
    # the processes live on in their own sessions after we exit
    print(f"cluster up: nodes gpu-node-0 (nvidia.com/gpu: 1) and cpu-node-0 Ready\n"
          f"kubectl:    {c.bin_dir / 'kubectl'}\n"
          f"export KUBECONFIG={c.kubeconfig}")
    return 0


def down(args: argparse.Namespace) -> int:
    if not STATE.exists():
        print("no cluster recorded; nothing to stop")
        return 0
    state = json.loads(STATE.read_text())
    pids = state["pids"]
    left_over: list[str] = []
    for node in state.get("kubelet_nodes", []):  # kubelet nodes first: containers, mounts
        left_over += kubelet.teardown(node)
        for name in node["pids"]:
            pids.pop(f"{node['name']}/{name}", None)
    agent = {"nodeagent": pids.pop("nodeagent")} if "nodeagent" in pids else {}
    controlplane.stop_pids(agent)
    controlplane.stop_pids(pids)
    deadline = time.monotonic() + 5  # a SIGKILLed process may take a moment to be reaped
    while any(controlplane._alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [n for n, p in {**agent, **pids}.items() if controlplane._alive(p)] + left_over
    if not any(x.startswith("mount ") for x in left_over):  # never rmtree into a mount
        shutil.rmtree(state["workdir"], ignore_errors=True)
    STATE.unlink()
    if left:
        print(f"still running: {left}", file=sys.stderr)
        return 1
    print("cluster down: every process stopped")
    return 0


def status(args: argparse.Namespace) -> int:
    if not STATE.exists():
        print("down")
        return 1
    print(STATE.read_text())
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m dev.cluster")
    ap.add_argument("command", choices=["up", "down", "status"])
    ap.add_argument("--simulate", type=float, default=None, metavar="SECONDS",
                    help="the node agent instead of kubelet nodes: Pods complete after "
                         "SECONDS without running")
    args = ap.parse_args()
    return {"up": up, "down": down, "status": status}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
