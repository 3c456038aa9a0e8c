"""Smoke tests of the local cluster itself: real kubectl, scheduler and kubelet nodes.

Everything later stands on these: Nodes register Ready, Pods run as containers of
the local runner image on the host network (the only image here: no registry is
reachable; no pod network, so no sandbox for any other Pod) and report
through the kubelet (exit code, termination message, env from Secrets, emptyDir),
the real scheduler refuses what does not fit, deletion ends the container's process
(found on the host by a marker on its command line), and CRDs work. There is no
device plugin: a GPU Pod is placed by the advertised `nvidia.com/gpu` capacity only.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from kubernetes import client

from dev.cluster import kubelet, nodehost
from dev.cluster.fixtures import Kube, wait_for


def _pod(name: str, code: str, **extra: object) -> dict[str, object]:
    container: dict[str, object] = {
        "name": "main", "image": kubelet.PROJECT_IMAGES[0], "imagePullPolicy": "IfNotPresent",
        "command": ["python3", "-c", code]}
    container.update(extra.pop("container", {}))  # type: ignore[arg-type]
    # host network: without a pod network containerd gives no other Pod a sandbox
    spec: dict[str, object] = {"restartPolicy": "Never", "containers": [container],
                               "terminationGracePeriodSeconds": 5, "hostNetwork": True}
    spec.update(extra)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def _phase(core: client.CoreV1Api, ns: str, name: str, *phases: str) -> object:
    pod = core.read_namespaced_pod(name, ns)
    return pod if pod.status.phase in phases else None


def test_kubectl_lists_both_nodes_ready(kube: Kube) -> None:
    out = json.loads(kube.kubectl("get", "nodes", "-o", "json").stdout)
    nodes = {n["metadata"]["name"]: n for n in out["items"]}
    assert set(nodes) == {"gpu-node-0", "cpu-node-0"}
    for node in nodes.values():
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True"
    gpu = nodes["gpu-node-0"]
    assert gpu["status"]["allocatable"]["nvidia.com/gpu"] == "1"
    assert gpu["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"
    assert "nvidia.com/gpu" not in nodes["cpu-node-0"]["status"]["allocatable"]


def test_pod_succeeds_with_termination_message_env_and_volumes(kube: Kube) -> None:
    ns = kube.namespace()
    core = client.CoreV1Api(kube.api_client)
    core.create_namespaced_secret(ns, client.V1Secret(
        metadata=client.V1ObjectMeta(name="creds"), string_data={"key": "s3cr3t"}))
    code = (
        "import os, pathlib\n"
        "pathlib.Path('/scratch/x').write_text('ok')\n"
        "msg = ' '.join([os.environ['SECRET'], os.environ['MY_NAME'], os.environ['MY_NS'],\n"
        "                pathlib.Path('/scratch/x').read_text(),\n"
        "                pathlib.Path('/var/run/secrets/kubernetes.io/serviceaccount/namespace').read_text()])\n"
        "pathlib.Path('/dev/termination-log').write_text(msg)\n"
    )
    pod = _pod("hello", code, container={
        "env": [
            {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "key"}}},
            {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        ],
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }, volumes=[{"name": "scratch", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}])
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod))
    done = wait_for(lambda: _phase(core, ns, "hello", "Succeeded", "Failed"), 60, "pod to end")
    assert done.status.phase == "Succeeded"
    term = done.status.container_statuses[0].state.terminated
    assert term.exit_code == 0 and term.reason == "Completed"
    assert term.message == f"s3cr3t hello {ns} ok {ns}"
    assert not Path("/scratch/x").exists(), "emptyDir leaked onto the host"


def test_failed_pod_reports_exit_code(kube: Kube) -> None:
    ns = kube.namespace()
    core = client.CoreV1Api(kube.api_client)
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(_pod(
        "fails", "import sys; open('/dev/termination-log','w').write('bad input'); sys.exit(65)")))
    done = wait_for(lambda: _phase(core, ns, "fails", "Succeeded", "Failed"), 60, "pod to end")
    term = done.status.container_statuses[0].state.terminated
    assert (done.status.phase, term.exit_code, term.reason, term.message) == (
        "Failed", 65, "Error", "bad input")


def test_missing_secret_is_a_config_error(kube: Kube) -> None:
    ns = kube.namespace()
    core = client.CoreV1Api(kube.api_client)
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(_pod("nosecret", "pass", container={
        "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]})))

    def waiting() -> object:
        st = core.read_namespaced_pod("nosecret", ns).status.container_statuses
        w = st and st[0].state.waiting
        return w if w and w.reason == "CreateContainerConfigError" else None

    w = wait_for(waiting, 60, "CreateContainerConfigError")
    assert 'secret "absent" not found' in w.message


def test_gpu_pod_runs_on_the_gpu_node_and_two_gpus_stay_unschedulable(kube: Kube) -> None:
    ns = kube.namespace()
    core = client.CoreV1Api(kube.api_client)
    tol = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    # no device plugin on these nodes: nothing sets NVIDIA_VISIBLE_DEVICES
    one = _pod("gpu1", "import os; open('/dev/termination-log','w').write("
                       "os.environ.get('NVIDIA_VISIBLE_DEVICES', 'unset'))",
               container={"resources": {"limits": {"nvidia.com/gpu": "1"}}}, tolerations=tol)
    two = _pod("gpu2", "pass", container={"resources": {"limits": {"nvidia.com/gpu": "2"}}},
               tolerations=tol)
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                               "items": [one, two]}))
    done = wait_for(lambda: _phase(core, ns, "gpu1", "Succeeded", "Failed"), 60, "gpu1 to end")
    assert done.spec.node_name == "gpu-node-0" and done.status.phase == "Succeeded"
    assert done.status.container_statuses[0].state.terminated.message == "unset"

    def unschedulable() -> object:
        pod = core.read_namespaced_pod("gpu2", ns)
        conds = [c for c in pod.status.conditions or [] if c.type == "PodScheduled"]
        return conds[0] if conds and conds[0].status == "False" else None

    cond = wait_for(unschedulable, 60, "PodScheduled=False")
    assert cond.reason == "Unschedulable"
    assert "nvidia.com/gpu" in cond.message
    assert core.read_namespaced_pod("gpu2", ns).status.phase == "Pending"


def test_deleting_a_running_pod_ends_its_process(kube: Kube) -> None:
    ns = kube.namespace()
    marker = f"kt-smoke-{uuid.uuid4().hex}"  # on the container's command line, seen from the host
    code = f"# {marker}\nimport time\nwhile True: time.sleep(0.1)"
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(_pod("sleeper", code)))
    pids = wait_for(lambda: nodehost.pids_with_arg(marker), 120, "the pod's process to start")
    assert len(pids) == 1, pids
    os.kill(pids[0], 0)  # it runs, as a process of this host (runc: no VM)
    kube.kubectl("delete", "pod", "sleeper", "-n", ns, "--wait=true", "--timeout=60s")

    def gone() -> bool:
        try:
            os.kill(pids[0], 0)
        except ProcessLookupError:
            return True
        stat = Path(f"/proc/{pids[0]}/stat")
        return stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z"

    wait_for(gone, 30, "the process to end")
    assert kube.kubectl("get", "pod", "sleeper", "-n", ns, check=False).returncode != 0


def test_crd_can_be_applied_and_listed(kube: Kube) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.smoke.example.com"},
        "spec": {"group": "smoke.example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                     "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                         "type": "object", "properties": {"size": {"type": "integer"}}}}}}}]},
    }
    kube.kubectl("apply", "-f", "-", input=json.dumps(crd))
    kube.kubectl("wait", "--for=condition=Established", "crd/widgets.smoke.example.com",
                 "--timeout=60s")
    ns = kube.namespace()
    obj = {"apiVersion": "smoke.example.com/v1", "kind": "Widget",
           "metadata": {"name": "w1"}, "spec": {"size": 3}}
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj))
    out = json.loads(kube.kubectl("get", "widgets", "-n", ns, "-o", "json").stdout)
    assert [(i["metadata"]["name"], i["spec"]["size"]) for i in out["items"]] == [("w1", 3)]
