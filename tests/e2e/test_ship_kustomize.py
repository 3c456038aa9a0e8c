"""`kubectl apply -k` of the plain manifests (overlay cpu-only) into the local control plane.

The real kubectl builds the overlay with its own kustomize and applies it: the
namespace `kube-transcoder` (Pod Security "restricted" enforced by the real API
server), the CRD, RBAC, the operator and Redis. The test applies a kustomization
that uses manifests/overlays/cpu-only unchanged as its base and adds what the
local cluster needs (no pod network, no registry): this checkout's operator image
from the local store, the operator on the host network, serving only its own
namespace on free host ports through `TRANSCODER_*` variables (which override the
settings file), and the namespace's Pod Security enforced at `privileged`, since
a host-network Pod is refused at any other level. The real API server then checks
the running operator Pod against `restricted` (a server-side dry run of the
overlay's own label): host namespaces and host ports are its only violations.
The operator must start with the overlay's settings (enableGPU false) and the Redis
logins Secret the test creates the way the README says; then everything but the
CRD, which the rest of the session still uses, is deleted with `kubectl delete -k`.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from dev.cluster import helm
from dev.cluster.fixtures import Kube, wait_for
from dev.services import procs
from transcode_api import constants, redisacl

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "manifests/overlays/cpu-only"
NAMESPACE = "kube-transcoder"
KEEP_CRD = "app.kubernetes.io/component!=crds"


def http_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def write_test_kustomization(folder: Path, http_port: int, health_port: int) -> None:
    env = [
        {"name": "TRANSCODER_KOPF__NAMESPACES", "value": json.dumps([NAMESPACE])},
        {"name": "TRANSCODER_HTTP__PORT", "value": str(http_port)},
        {"name": "TRANSCODER_KOPF__LIVENESSENDPOINT", "value": f"http://0.0.0.0:{health_port}/healthz"},
    ]
    patch = {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "kube-transcoder-operator", "namespace": NAMESPACE},
             "spec": {"template": {"spec": {
                 "hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet",
                 "containers": [{"name": "operator", "env": env}]}}}}
    (folder / "operator-env.yaml").write_text(yaml.safe_dump(patch))
    privileged = {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}
    (folder / "namespace-host-network.yaml").write_text(yaml.safe_dump(privileged))
    image = helm.local_image("kube-transcoder-operator")
    # What the README tells kustomize users: the Redis logins Secret comes from
    # `python -m transcode_api.redisacl secret`, never from manifests/.
    secret = redisacl.secret_manifest("kube-transcoder-redis-auth", NAMESPACE,
                                      redisacl.new_passwords())
    (folder / "redis-auth.yaml").write_text(yaml.safe_dump(secret))
    (folder / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(OVERLAY, folder), "redis-auth.yaml"],
        "patches": [{"path": "operator-env.yaml"}, {"path": "namespace-host-network.yaml"}],
        "images": [{"name": "ghcr.io/kube-transcoder/operator",
                    "newName": f"{image['registry']}/{image['repository']}",
                    "newTag": image["tag"]}],
    }))


def restricted_violations(kube: Kube) -> set[str]:
    """What the API server finds against `restricted` in the namespace's running Pods."""
    out = kube.kubectl("label", "--dry-run=server", "--overwrite", "namespace", NAMESPACE,
                       "pod-security.kubernetes.io/enforce=restricted")
    found = set()
    for line in out.stderr.splitlines():  # "Warning: <pod>: host namespaces, hostPort"
        if line.startswith("Warning: kube-transcoder-operator-"):
            found |= {v.strip() for v in line.split(": ", 2)[2].split(",")}
    return found


def test_apply_k_cpu_only_overlay_then_delete(kube: Kube, tmp_path: Path) -> None:
    http_port, health_port = procs.free_port(), procs.free_port()
    write_test_kustomization(tmp_path, http_port, health_port)
    kube.kubectl("apply", "-k", str(tmp_path), timeout=180)
    try:
        kube.kubectl("wait", "--for=condition=Established", f"crd/{constants.CRD_NAME}", "--timeout=60s")
        built = yaml.safe_load_all(kube.kubectl("kustomize", str(OVERLAY)).stdout)
        ns = next(d for d in built if d["kind"] == "Namespace")  # what a user applies
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        cfg = yaml.safe_load(json.loads(kube.kubectl(
            "get", "configmap", "kube-transcoder-operator", "-n", NAMESPACE, "-o", "json").stdout)
            ["data"]["config.yaml"])
        assert cfg["enableGPU"] is False, "the cpu-only overlay's settings were not applied"
        kube.kubectl("rollout", "status", "deployment/kube-transcoder-operator", "-n", NAMESPACE,
                     "--timeout=120s", timeout=150)
        wait_for(lambda: http_ok(health_port), 90, "the operator's liveness endpoint")
        assert restricted_violations(kube) == {"host namespaces", "hostPort"}
        assert not kube.kubectl("get", "daemonsets", "-n", NAMESPACE, "-o", "name").stdout.strip()
    finally:
        kube.kubectl("delete", "-k", str(tmp_path), "-l", KEEP_CRD, "--wait=true", "--timeout=180s",
                     check=False, timeout=240)
    wait_for(lambda: kube.kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0, 180,
             f"namespace {NAMESPACE} to be deleted")
    left = kube.kubectl("get", "clusterroles,clusterrolebindings", "-l",
                        "app.kubernetes.io/part-of=kube-transcoder,app.kubernetes.io/instance=kube-transcoder",
                        "-o", "name").stdout.split()
    assert not left, left
    assert kube.kubectl("get", "crd", constants.CRD_NAME, check=False).returncode == 0
    wait_for(lambda: not procs.port_open(health_port), 60, "the operator process to stop")
