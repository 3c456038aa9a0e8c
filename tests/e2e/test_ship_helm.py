"""`helm install` of charts/kube-transcoder into the local control plane, then `helm uninstall`.

The pinned helm (dev/cluster/helm) installs the chart into a fresh namespace
with `--wait`; a kubelet node runs the operator Pod from the local operator image
on the host network (`helm.local_cluster_values`: the cluster has no pod network),
so the test can see the operator really start from the chart's settings: kopf's
liveness endpoint and the HTTP API answer on the host ports the values chose. RBAC is checked with
`kubectl auth can-i` as the operator and runner ServiceAccounts. `helm
uninstall --wait` must then leave no object of the release behind, except the
CRD (crds.keep=true). The test cluster is shared by the whole session, so the
release serves only its own namespace and never deletes the CRD; an existing CRD
is handed over to the release the way Helm documents (ownership metadata).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from dev.cluster import helm
from dev.cluster.fixtures import Kube, wait_for
from dev.services import procs
from transcode_api import constants

RELEASE = "kt-e2e"
NAMESPACED_KINDS = "deployments,replicasets,pods,services,configmaps,serviceaccounts,roles,rolebindings,daemonsets"


@pytest.fixture
def helm_cli(kube: Kube, tmp_path: Path) -> helm.Helm:
    try:
        return helm.Helm(kube.kubeconfig, tmp_path)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


def adopt_crd(kube: Kube, release: str, namespace: str) -> None:
    """Let `release` take over the CRD when an earlier test (or release) created it."""
    if kube.kubectl("get", "crd", constants.CRD_NAME, check=False).returncode == 0:
        kube.kubectl("patch", "crd", constants.CRD_NAME, "--type", "merge",
                     "-p", json.dumps(helm.adoption_metadata(release, namespace)))


def http_ok(port: int, path: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def test_values(namespace: str, http_port: int, health_port: int) -> dict[str, Any]:
    """Values of a release that keeps to its own namespace and to free host ports."""
    return {
        "operator": {"httpPort": http_port, "healthPort": health_port,
                     "config": {"kopf": {"namespaces": [namespace]}}},
        "redis": {"enabled": False},
        "gpuProbe": {"enabled": False},
    }


test_values.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def can_i(kube: Kube, namespace: str, sa: str, verb: str, resource: str,
          sa_namespace: str | None = None) -> bool:
    """`kubectl auth can-i` as a ServiceAccount (of `sa_namespace`, default `namespace`);
    `resource` may name a subresource (jobs/status)."""
    resource, _, sub = resource.partition("/")
    extra = [f"--subresource={sub}"] if sub else []
    out = kube.kubectl("auth", "can-i", verb, resource, *extra, "-n", namespace,
                       f"--as=system:serviceaccount:{sa_namespace or namespace}:{sa}",
                       check=False)
    return out.stdout.strip() == "yes"


def release_objects(kube: Kube, namespace: str) -> list[str]:
    selector = f"app.kubernetes.io/instance={RELEASE}"
    names = kube.kubectl("get", NAMESPACED_KINDS, "-n", namespace, "-l", selector, "-o", "name").stdout.split()
    names += kube.kubectl("get", "clusterroles,clusterrolebindings", "-l", selector, "-o", "name").stdout.split()
    return names


def test_helm_install_runs_the_operator_and_uninstall_cleans_up(kube: Kube, helm_cli: helm.Helm) -> None:
    ns = kube.namespace("helm")
    http_port, health_port = procs.free_port(), procs.free_port()
    adopt_crd(kube, RELEASE, ns)
    helm_cli.install(RELEASE, ns, helm.local_cluster_values(test_values(ns, http_port, health_port)))
    try:
        dep = json.loads(kube.kubectl("get", "deployment", f"{RELEASE}-kube-transcoder-operator",
                                      "-n", ns, "-o", "json").stdout)
        assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "RollingUpdate"
        assert dep["status"].get("readyReplicas") == 1
        # The operator process started from the chart's command and settings file:
        wait_for(lambda: http_ok(health_port, "/healthz"), 90, "kopf liveness endpoint")
        wait_for(lambda: http_ok(http_port, "/healthz"), 30, "operator HTTP API")
        crd = json.loads(kube.kubectl("get", "crd", constants.CRD_NAME, "-o", "json").stdout)
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        kube.kubectl("wait", "--for=condition=Established", f"crd/{constants.CRD_NAME}", "--timeout=60s")

        operator_sa, runner_sa = f"{RELEASE}-kube-transcoder-operator", f"{RELEASE}-kube-transcoder-runner"
        for verb, resource in (("create", "pods"), ("delete", "pods"), ("watch", "transcodejobs"),
                               ("patch", "transcodejobs/status"), ("get", "secrets")):
            assert can_i(kube, ns, operator_sa, verb, resource), f"operator cannot {verb} {resource}"
        # The leader Lease: in the release namespace, and nowhere else (kube-system's).
        assert can_i(kube, ns, operator_sa, "update", "leases.coordination.k8s.io")
        assert not can_i(kube, "kube-system", operator_sa, "update",
                         "leases.coordination.k8s.io", sa_namespace=ns)
        wait_for(lambda: kube.kubectl("get", "lease", "kube-transcoder-operator", "-n", ns,
                                      "-o", "jsonpath={.spec.holderIdentity}",
                                      check=False).stdout.startswith(f"{RELEASE}-"),
                 60, "the operator Pod to hold the leader Lease")
        assert can_i(kube, ns, runner_sa, "patch", "transcodejobs/status")
        assert can_i(kube, ns, runner_sa, "get", "transcodejobs")
        for verb, resource in (("patch", "transcodejobs"), ("delete", "transcodejobs"),
                               ("update", "transcodejobs/status"), ("get", "secrets"),
                               ("create", "pods")):
            assert not can_i(kube, ns, runner_sa, verb, resource), f"runner may {verb} {resource}"
    finally:
        helm_cli.uninstall(RELEASE, ns)

    wait_for(lambda: not release_objects(kube, ns), 120, "the release's objects to be deleted")
    wait_for(lambda: not kube.kubectl("get", "pods", "-n", ns, "-o", "name").stdout.strip(), 120,
             "the operator Pod to be gone")
    wait_for(lambda: not procs.port_open(health_port), 60, "the operator process to stop")
    assert kube.kubectl("get", "crd", constants.CRD_NAME, check=False).returncode == 0, \
        "crds.keep=true must keep the CRD (and every TranscodeJob) on uninstall"
    assert not helm_cli.run("list", "-n", ns, "-q").stdout.strip()
