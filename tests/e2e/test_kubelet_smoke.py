"""Smoke tests of the real kubelet nodes: what a production node does (and the agent did not).

Runs on the `kube` cluster (`dev.cluster.kubelet`: kubelet + containerd +
runc built from pinned modules, cgroup v1). Every Pod uses the runner image, as a
real container, on the host network (there is no pod network here). Each test
checks something a user sees in Pod status or on disk: the restricted security
context is enforced, the memory limit OOM-kills, the emptyDir `sizeLimit` evicts,
a missing image backs off, the `nvidia` RuntimeClass reaches its own runtime
handler, deletion sends SIGTERM and then SIGKILL after the grace period, and a
host-network Pod reaches the API server on loopback with its service-account token.
If the kubelet cannot start here, every test fails with its log: nothing skips.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from kubernetes import client

from dev.cluster import kubelet, nodeconfig
from dev.cluster.fixtures import Kube, wait_for, wait_pod_gone

RUNNER = kubelet.PROJECT_IMAGES[0]
RESTRICTED = {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
              "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
              "seccompProfile": {"type": "RuntimeDefault"}}


def _pod(name: str, code: str, *, node: str = "cpu-node-0", memory: str = "128Mi",
         image: str = RUNNER, **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
                 "command": ["python", "-c", code], "securityContext": RESTRICTED,
                 "resources": {"limits": {"cpu": "500m", "memory": memory}}}
    container.update(spec.pop("container", {}))
    body = {"restartPolicy": "Never", "hostNetwork": True, "containers": [container],
            "nodeSelector": {"kubernetes.io/hostname": node},
            "terminationGracePeriodSeconds": 5, **spec}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body}


def _run(kube: Kube, ns: str, pod: dict[str, Any]) -> None:
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod))


def _ended(core: client.CoreV1Api, ns: str, name: str) -> Any:
    pod = core.read_namespaced_pod(name, ns)
    return pod if pod.status.phase in ("Succeeded", "Failed") else None


def _node(kube: Kube, name: str) -> kubelet.KubeletNode:
    return next(n for n in kube.cluster.nodes if n.name == name)


def _why(kube: Kube, ns: str, pod: str, node: str = "cpu-node-0") -> str:
    return f"container log:\n{_node(kube, node).container_log(ns, pod, 'main')}"


def test_nodes_are_real_kubelets_with_a_gpu_node(kube: Kube) -> None:
    nodes = {n["metadata"]["name"]: n for n in
             json.loads(kube.kubectl("get", "nodes", "-o", "json").stdout)["items"]}
    assert set(nodes) == {"cpu-node-0", "gpu-node-0"}
    for node in nodes.values():
        info = node["status"]["nodeInfo"]
        assert info["kubeletVersion"] == "v1.37.2"
        assert info["containerRuntimeVersion"].startswith("containerd://2.4.2")
        # the kubelet refuses a loopback node IP and no other address may be used: none
        assert [a for a in node["status"].get("addresses", [])
                if a["type"] != "Hostname"] == []
    gpu = nodes["gpu-node-0"]
    assert gpu["status"]["allocatable"]["nvidia.com/gpu"] == "1"
    assert gpu["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"
    assert nodeconfig.GPU_TAINT in gpu["spec"]["taints"]
    assert "nvidia.com/gpu" not in nodes["cpu-node-0"]["status"]["allocatable"]
    rc = json.loads(kube.kubectl("get", "runtimeclass", "nvidia", "-o", "json").stdout)
    assert rc["handler"] == "nvidia"


def test_restricted_runner_pod_runs_as_nonroot_with_read_only_root(kube: Kube) -> None:
    ns = kube.namespace()
    core = client.CoreV1Api(kube.api_client)
    code = (
        "import errno, os, pathlib\n"
        "try:\n    open('/written-by-pod', 'w'); write = 'allowed'\n"
        "except OSError as e:\n    write = errno.errorcode[e.errno]\n"
        "status = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
        "limit = open('/sys/fs/cgroup/memory/memory.limit_in_bytes').read().strip()\n"
        "pathlib.Path('/dev/termination-log').write_text(\n"
        "    f\"uid={os.getuid()} gid={os.getgid()} write={write} limit={limit} \"\n"
        "    f\"capeff={status['CapEff'].strip()} seccomp={status['Seccomp'].strip()}\")\n"
    )
    _run(kube, ns, _pod("restricted", code, memory="256Mi"))
    pod = wait_for(lambda: _ended(core, ns, "restricted"), 120, "restricted pod to end")
    st = pod.status.container_statuses[0]
    assert pod.status.phase == "Succeeded", _why(kube, ns, "restricted")
    assert st.container_id.startswith("containerd://")
    assert st.state.terminated.reason == "Completed" and st.state.terminated.exit_code == 0
    assert st.state.terminated.message == (
        f"uid=65532 gid=65532 write=EROFS limit={256 << 20} capeff=0000000000000000 seccomp=2")


def test_pod_over_its_memory_limit_is_oom_killed(kube: Kube) -> None:
    ns = kube.namespace()
    core = client.CoreV1Api(kube.api_client)
    code = "import time\nblob = b'x' * (400 << 20)\ntime.sleep(30)\n"
    _run(kube, ns, _pod("hog", code, memory="128Mi"))
    pod = wait_for(lambda: _ended(core, ns, "hog"), 120, "memory hog to end")
    term = pod.status.container_statuses[0].state.terminated
    assert pod.status.phase == "Failed"
    assert (term.reason, term.exit_code) == ("OOMKilled", 137)


def test_emptydir_over_its_size_limit_is_evicted_by_the_kubelet(kube: Kube) -> None:
    ns = kube.namespace()
    core = client.CoreV1Api(kube.api_client)
    code = ("import time\nopen('/scratch/fill', 'wb').write(b'x' * (16 << 20))\n"
            "time.sleep(600)\n")
    _run(kube, ns, _pod(
        "filler", code, container={"volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]},
        volumes=[{"name": "scratch", "emptyDir": {"sizeLimit": "4Mi"}}]))
    pod = wait_for(lambda: _ended(core, ns, "filler"), 180, "emptyDir eviction")
    assert pod.status.phase == "Failed"
    assert pod.status.reason == "Evicted"
    assert 'Usage of EmptyDir volume "scratch" exceeds the limit "4Mi"' in pod.status.message


def test_missing_image_goes_err_image_pull_then_image_pull_back_off(kube: Kube) -> None:
    ns = kube.namespace()
    core = client.CoreV1Api(kube.api_client)
    image = "ghcr.io/kube-transcoder/missing:v0"  # containerd sends every pull to loopback

    def waiting(reason: str) -> Any:
        pod = core.read_namespaced_pod("ghost", ns)
        sts = pod.status.container_statuses or []
        return sts and sts[0].state.waiting and sts[0].state.waiting.reason == reason and sts[0]
    _run(kube, ns, _pod("ghost", "pass", image=image))
    st = wait_for(lambda: waiting("ImagePullBackOff"), 180, "ImagePullBackOff")
    assert image in st.state.waiting.message
    events = core.list_namespaced_event(ns, field_selector="involvedObject.name=ghost").items
    assert any(e.message == "Error: ErrImagePull" for e in events), [e.message for e in events]
    pulls = [e.message for e in events if e.reason == "Failed" and image in e.message]
    assert pulls and all(f"dial tcp {nodeconfig.LOOPBACK_REGISTRY}" in m for m in pulls), pulls
    assert core.read_namespaced_pod("ghost", ns).status.phase == "Pending"


def test_runtime_class_nvidia_runs_through_the_nvidia_handler(kube: Kube) -> None:
    ns = kube.namespace()
    core = client.CoreV1Api(kube.api_client)
    gpu = _node(kube, "gpu-node-0")
    code = "import time\ntime.sleep(600)\n"
    tolerate = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    _run(kube, ns, _pod(
        "gpu", code, node="gpu-node-0", runtimeClassName="nvidia", tolerations=tolerate,
        container={"resources": {"limits": {"memory": "128Mi", "nvidia.com/gpu": "1"}}}))
    _run(kube, ns, _pod("plain", code, node="gpu-node-0", tolerations=tolerate))

    def running_id(name: str) -> str | None:
        sts = core.read_namespaced_pod(name, ns).status.container_statuses or []
        ok = sts and sts[0].state.running and sts[0].container_id
        return sts[0].container_id.removeprefix("containerd://") if ok else None
    gpu_id = wait_for(lambda: running_id("gpu"), 120, "GPU pod running")
    plain_id = wait_for(lambda: running_id("plain"), 120, "plain pod running")

    def runc_ids(root: Path) -> set[str]:
        out = subprocess.run([nodeconfig.RUNC, "--root", str(root / "k8s.io"), "list", "-q"],
                             capture_output=True, text=True, check=True)
        return set(out.stdout.split())
    try:
        assert gpu_id in runc_ids(gpu.nvidia_runc_root)
        assert plain_id not in runc_ids(gpu.nvidia_runc_root)
        assert plain_id in runc_ids(gpu.workdir / "runc")
    finally:  # the node's one GPU is for the tests that follow
        for name in ("gpu", "plain"):
            core.delete_namespaced_pod(name, ns, grace_period_seconds=0)
        for name in ("gpu", "plain"):
            wait_pod_gone(core, ns, name, 60, f"the {name} Pod to be gone")


def test_delete_sends_sigterm_then_sigkill_after_the_grace_period(
        kube: Kube, tmp_path: Path) -> None:
    ns = kube.namespace()
    core = client.CoreV1Api(kube.api_client)
    tmp_path.chmod(0o777)
    marker = tmp_path / "log"
    code = (
        "import signal, time\n"
        "def log(what):\n    open('/marker/log', 'a').write(f'{what} {time.time()}\\n')\n"
        "signal.signal(signal.SIGTERM, lambda *_: log('TERM'))\n"
        "log('START')\n"
        "while True:\n    log('TICK'); time.sleep(0.2)\n"
    )
    grace = 4
    _run(kube, ns, _pod(
        "stubborn", code, terminationGracePeriodSeconds=grace,
        container={"volumeMounts": [{"name": "marker", "mountPath": "/marker"}]},
        volumes=[{"name": "marker", "hostPath": {"path": str(tmp_path), "type": "Directory"}}]))
    wait_for(lambda: marker.exists() and "TICK" in marker.read_text(), 120, "pod to start")
    core.delete_namespaced_pod("stubborn", ns)

    wait_pod_gone(core, ns, "stubborn", 60, "pod deletion")
    lines = [ln.split() for ln in marker.read_text().splitlines()]
    term = [float(t) for w, t in lines if w == "TERM"]
    ticks = [float(t) for w, t in lines if w == "TICK"]
    assert len(term) == 1, "SIGTERM was not delivered exactly once"
    after = ticks[-1] - term[0]
    # it kept running through the grace period, then stopped without any chance to log
    assert grace - 1.0 <= after <= grace + 3.0, f"last tick {after:.1f}s after SIGTERM"


def test_host_network_pod_reaches_the_api_server_on_loopback(kube: Kube) -> None:
    ns = kube.namespace()
    core = client.CoreV1Api(kube.api_client)
    code = (
        "import json, os, pathlib, ssl, urllib.error, urllib.request\n"
        "sa = '/var/run/secrets/kubernetes.io/serviceaccount'\n"
        "host, port = os.environ['KUBERNETES_SERVICE_HOST'], os.environ['KUBERNETES_SERVICE_PORT']\n"
        "ctx = ssl.create_default_context(cafile=f'{sa}/ca.crt')\n"
        "token = open(f'{sa}/token').read()\n"
        "req = urllib.request.Request(f'https://{host}:{port}/api/v1/nodes',\n"
        "                             headers={'Authorization': f'Bearer {token}'})\n"
        "try:\n    urllib.request.urlopen(req, context=ctx, timeout=10); out = '200'\n"
        "except urllib.error.HTTPError as e:\n    out = f'{e.code} {json.load(e)[\"message\"]}'\n"
        "pathlib.Path('/dev/termination-log').write_text(f'{host} {out}')\n"
    )
    _run(kube, ns, _pod("caller", code))
    pod = wait_for(lambda: _ended(core, ns, "caller"), 120, "API caller to end")
    assert pod.status.phase == "Succeeded", _why(kube, ns, "caller")
    # authenticated by its projected service-account token, refused by RBAC: it got there
    assert pod.status.container_statuses[0].state.terminated.message.startswith(
        f'127.0.0.1 403 nodes is forbidden: User "system:serviceaccount:{ns}:default"')
