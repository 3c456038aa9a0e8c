"""Pure builders for a kubelet node's configuration files: containerd, CNI, kubelet.

Called by `dev.cluster.kubelet.KubeletNode.start()`, which writes what these return
into the node's temp folder. Nothing here starts a process or touches the host.
Choices, each forced by this kind of machine (cgroup v1 hybrid, root, no registry,
loopback only): containerd's CRI restricts `oom_score_adj` (runc cannot start a
sandbox otherwise), NRI is off (its socket path is machine-wide), the `nvidia` runtime handler is runc with its own state folder
(there is no NVIDIA container runtime), the CNI conflist is loopback only (no pod
network: test Pods use the host network), every image registry is a closed loopback
port (no registry is reachable; images are imported), the kubelet runs cgroup v1 with cgroupfs
under its own cgroup root, and eviction and image GC thresholds are set so that a
busy shared disk never evicts or deletes the imported images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PAUSE_IMAGE = "registry.k8s.io/pause:3.10.2"
RUNC = "/usr/sbin/runc"
GPU_LABELS = {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
              "nvidia.com/gpu.memory": "81559", "nvidia.com/gpu.family": "hopper",
              "nvidia.com/cuda.driver.major": "570"}
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
RUNTIME_CLASS = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                 "metadata": {"name": "nvidia"}, "handler": "nvidia"}


def toml(d: dict[str, Any], prefix: str = "") -> str:
    """Just enough TOML for containerd's config: scalars, lists, nested tables."""
    lines, tables = [], []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append(toml(v, f"{prefix}{k}."))
        else:
            lines.append(f"{k} = {json.dumps(v)}")
    head = f"[{prefix[:-1]}]\n" if prefix and lines else ""
    return head + "".join(f"{ln}\n" for ln in lines) + "".join(tables)


def containerd(wd: Path, bin_dir: Path) -> str:
    """containerd's config.toml: every folder and socket under the node folder `wd`."""
    def runc(root: str) -> dict[str, Any]:
        return {"runtime_type": "io.containerd.runc.v2", "sandboxer": "podsandbox",
                "options": {"BinaryName": RUNC, "Root": str(wd / root), "SystemdCgroup": False}}
    return toml({
        "version": 3, "root": str(wd / "root"), "state": str(wd / "state"),
        "grpc": {"address": str(wd / "containerd.sock")},
        "ttrpc": {"address": str(wd / "containerd.sock.ttrpc")},
        "plugins": {
            "'io.containerd.internal.v1.opt'": {"path": str(wd / "opt")},
            # NRI's socket defaults to the fixed /var/run/nri/nri.sock, which a second
            # containerd on the machine (another node or cluster) fails to bind: off.
            "'io.containerd.nri.v1.nri'": {"disable": True,
                                           "socket_path": str(wd / "nri.sock")},
            "'io.containerd.cri.v1.images'": {
                "snapshotter": "overlayfs", "pinned_images": {"sandbox": PAUSE_IMAGE},
                "registry": {"config_path": str(wd / "certs.d")}},
            "'io.containerd.cri.v1.runtime'": {
                "restrict_oom_score_adj": True, "netns_mounts_under_state_dir": True,
                "enable_unprivileged_ports": False, "enable_unprivileged_icmp": False,
                "cdi_spec_dirs": [],
                "containerd": {"default_runtime_name": "runc",
                               "runtimes": {"runc": runc("runc"), "nvidia": runc("runc-nvidia")}},
                "cni": {"bin_dirs": [str(bin_dir)], "conf_dir": str(wd / "cni")}},
            "'io.containerd.grpc.v1.cri'": {
                "stream_server_address": "127.0.0.1", "stream_server_port": "0"},
        },
    })


LOOPBACK_REGISTRY = "127.0.0.1:9"


def registry_hosts() -> str:
    """certs.d/_default/hosts.toml: every registry is this closed loopback port, so a
    pull of an image that was not imported fails at once and nothing leaves the machine."""
    return f'server = "http://{LOOPBACK_REGISTRY}"\n'


def cni_conflist() -> str:
    return json.dumps({"cniVersion": "1.0.0", "name": "loopback-only",
                       "plugins": [{"type": "loopback"}]})


def kubelet(wd: Path, *, ca: Path, cgroup_root: str, port: int, gpus: int) -> dict[str, Any]:
    """The KubeletConfiguration (v1beta1) of one node."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "failCgroupV1": False, "cgroupDriver": "cgroupfs", "cgroupRoot": cgroup_root,
        "failSwapOn": False, "address": "127.0.0.1", "port": port,
        "readOnlyPort": 0, "healthzBindAddress": "127.0.0.1", "healthzPort": 0,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(ca)}},
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{wd / 'containerd.sock'}",
        "podLogsDir": str(wd / "pod-logs"), "staticPodPath": "", "registerNode": True,
        "registerWithTaints": [GPU_TAINT] if gpus else [],
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "imagefs.available": "1%", "nodefs.inodesFree": "1%",
                         "imagefs.inodesFree": "1%"},
        "evictionPressureTransitionPeriod": "10s",
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "volumeStatsAggPeriod": "5s", "serializeImagePulls": False, "maxPods": 50,
        "resolvConf": "/etc/resolv.conf", "nodeStatusUpdateFrequency": "5s",
    }


def node_labels(gpus: int) -> str:
    """`--node-labels`: what GPU feature discovery would put on a GPU node."""
    labels = {"node.kubernetes.io/instance-type": "local"}
    if gpus:
        labels |= {**GPU_LABELS, "nvidia.com/gpu.count": str(gpus)}
    return ",".join(f"{k}={v}" for k, v in labels.items())


def loopback_apiserver_policy(api_port: int) -> list[dict[str, Any]]:
    """A MutatingAdmissionPolicy (+ binding): host-network Pods reach the API on loopback.

    There is no kube-proxy: the `kubernetes` Service's ClusterIP that the kubelet puts
    in KUBERNETES_SERVICE_HOST leads nowhere here, and from the host network a packet
    to it would leave by the default route. Each container of a host-network Pod gets
    KUBERNETES_SERVICE_HOST=127.0.0.1 and the API server's port instead, so in-cluster
    clients (the runner's status patches) work and nothing goes off the machine.
    """
    env = ('[Object.spec.containers.env{name: "KUBERNETES_SERVICE_HOST", value: "127.0.0.1"},'
           f' Object.spec.containers.env{{name: "KUBERNETES_SERVICE_PORT", value: "{api_port}"}}]')
    name = "kt-loopback-apiserver"
    return [{
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                "resources": ["pods"]}]},
            "matchConditions": [{"name": "host-network", "expression":
                                 "has(object.spec.hostNetwork) && object.spec.hostNetwork"}],
            "failurePolicy": "Fail", "reinvocationPolicy": "IfNeeded",
            "mutations": [{"patchType": "ApplyConfiguration", "applyConfiguration": {
                "expression": "Object{spec: Object.spec{containers: object.spec.containers.map("
                              f"c, Object.spec.containers{{name: c.name, env: {env}}})}}}}"}}],
        },
    }, {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": name}, "spec": {"policyName": name},
    }]
