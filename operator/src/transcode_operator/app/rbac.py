"""The smallest RBAC the operator and the runner need, generated from what the code calls.

`OPERATOR_NEEDS` is the table of (API group, resource, verb) the operator
uses: every call of `kubeclient.CALLS`, plus what kopf does with our handlers
(watch jobs and runner Pods, post Events, discover the CRD), and the TokenReviews and
SubjectAccessReviews of the HTTP API. `operator_cluster_role()` and
`runner_cluster_role()` turn it into ClusterRoles, except the leader Lease calls
(`kubeclient.NAMESPACED_CALLS`), which `operator_role()` grants in the operator's
namespace only; `api_reader_roles()` are the ClusterRoles a platform team binds to
the HTTP API's callers (`API_READERS`); `python -m
transcode_operator.app.rbac --out deploy/rbac` writes deploy/rbac/*.yaml, which the
Helm chart and kustomize manifests copy. A unit test checks that the files
are current and that every API call in `kubeclient` is in the table.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from transcode_api import constants
from transcode_operator.adapters import apiauth, httpapi, kubeclient

Need = tuple[str, str, str]  # (api group, resource, verb)
OPERATOR_ROLE = "kube-transcoder-operator"
RUNNER_ROLE = "kube-transcoder-runner"
DEFAULT_NAMESPACE = "kube-transcoder"
LABELS = {"app.kubernetes.io/name": "kube-transcoder", "app.kubernetes.io/part-of": "kube-transcoder"}

JOBS, JOBS_STATUS = constants.PLURAL, f"{constants.PLURAL}/status"
G = constants.GROUP

# Why kopf needs each of these, given app.handlers.REGISTRY and app.handlers.configure.
KOPF_NEEDS: dict[Need, str] = {
    (G, JOBS, "list"): "kopf lists TranscodeJobs (the informer's initial listing)",
    (G, JOBS, "watch"): "kopf watches TranscodeJobs",
    ("", "pods", "list"): "kopf lists runner Pods (label selector) for the informer",
    ("", "pods", "watch"): "kopf watches runner Pods",
    ("batch", "jobs", "list"): "kopf lists the batch Jobs of Kueue-queued attempts (label selector)",
    ("batch", "jobs", "watch"): "kopf watches them (Kueue admits or evicts an attempt)",
    ("", "events", "create"): "kopf.event posts the Events of events.Reason",
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"):
        "kopf discovers the TranscodeJob CRD (also when installed after the operator)",
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"): "as list",
}
# Pods carry a blockOwnerDeletion ownerReference to their job; clusters with the
# OwnerReferencesPermissionEnforcement admission plugin require this.
OWNER_NEEDS: dict[Need, str] = {
    (G, f"{constants.PLURAL}/finalizers", "update"): "blockOwnerDeletion on runner Pods",
}
RUNNER_NEEDS: dict[Need, str] = {
    (G, JOBS, "get"): "the runner reads its job (resourceVersion, attempt checks)",
    (G, JOBS_STATUS, "patch"): "the runner writes status.runner (progress, result)",
}

# Who may read what from the operator's HTTP API (adapters.apiguard asks a SubjectAccessReview).
API_READERS: dict[str, tuple[str, dict[str, Any]]] = {
    "kube-transcoder-job-reader": (
        "GET /api/v1/jobs/{namespace}/{name}: bind with a RoleBinding in each namespace",
        {"apiGroups": [G], "resources": [JOBS], "verbs": ["get"]}),
    "kube-transcoder-gpu-status-reader": (
        f"GET {httpapi.GPU_STATUS_PATH}: bind with a ClusterRoleBinding",
        {"apiGroups": [G], "resources": [apiauth.GPU_STATUS_RESOURCE], "verbs": ["get"]}),
    "kube-transcoder-metrics-reader": (
        "GET /metrics (Prometheus's ServiceAccount): bind with a ClusterRoleBinding",
        {"nonResourceURLs": [httpapi.METRICS_PATH], "verbs": ["get"]}),
}


def operator_needs() -> set[Need]:
    """Every (group, resource, verb) the operator uses."""
    return set(kubeclient.CALLS.values()) | set(KOPF_NEEDS) | set(OWNER_NEEDS)


def namespaced_needs() -> set[Need]:
    """What only a Role in the operator's own namespace grants (the leader Lease)."""
    return {kubeclient.CALLS[name] for name in kubeclient.NAMESPACED_CALLS}


def cluster_needs() -> set[Need]:
    """What the operator's ClusterRole grants: everything else."""
    return operator_needs() - namespaced_needs()


def rules(needs: set[Need]) -> list[dict[str, Any]]:
    """PolicyRules grouping verbs by (group, resource), in a stable order."""
    verbs: dict[tuple[str, str], set[str]] = defaultdict(set)
    for group, resource, verb in needs:
        verbs[(group, resource)].add(verb)
    by_verbs: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for (group, resource), vs in verbs.items():
        by_verbs[(group, tuple(sorted(vs)))].append(resource)
    return [{"apiGroups": [group], "resources": sorted(resources), "verbs": list(vs)}
            for (group, vs), resources in sorted(by_verbs.items())]


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(LABELS)}
    if namespace:
        meta["namespace"] = namespace
    return meta


def operator_cluster_role() -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": _meta(OPERATOR_ROLE), "rules": rules(cluster_needs())}


def operator_role(namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
    """The Role for the leader Lease, in the operator's namespace only."""
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": _meta(OPERATOR_ROLE, namespace), "rules": rules(namespaced_needs())}


def runner_cluster_role() -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": _meta(RUNNER_ROLE), "rules": rules(set(RUNNER_NEEDS))}


def api_reader_roles() -> list[dict[str, Any]]:
    """The ClusterRoles of `API_READERS` (each names its route in an annotation)."""
    return [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {**_meta(name), "annotations": {"kubetranscoder.io/grants": why}},
             "rules": [rule]}
            for name, (why, rule) in API_READERS.items()]


def operator_objects(namespace: str = DEFAULT_NAMESPACE) -> list[dict[str, Any]]:
    """ServiceAccount, ClusterRole + ClusterRoleBinding and Role + RoleBinding."""
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(OPERATOR_ROLE, namespace)},
        operator_cluster_role(),
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": _meta(OPERATOR_ROLE),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": OPERATOR_ROLE},
         "subjects": [{"kind": "ServiceAccount", "name": OPERATOR_ROLE, "namespace": namespace}]},
        operator_role(namespace),
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": _meta(OPERATOR_ROLE, namespace),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": OPERATOR_ROLE},
         "subjects": [{"kind": "ServiceAccount", "name": OPERATOR_ROLE, "namespace": namespace}]},
    ]


def runner_objects(namespace: str = "default", service_account: str = "transcode-runner"
                   ) -> list[dict[str, Any]]:
    """The runner ClusterRole, and a ServiceAccount + RoleBinding for one job namespace."""
    return [
        runner_cluster_role(),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(service_account, namespace)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": _meta(service_account, namespace),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": RUNNER_ROLE},
         "subjects": [{"kind": "ServiceAccount", "name": service_account,
                       "namespace": namespace}]},
    ]


HEADER = ("# generated by python -m transcode_operator.app.rbac --out deploy/rbac; do not edit.\n"
          "# Source: operator/src/transcode_operator/rbac.py (checked by tests/unit/operator).\n")


def render(objects: list[dict[str, Any]], note: str = "") -> str:
    return HEADER + note + yaml.safe_dump_all(objects, sort_keys=False)


def files() -> dict[str, str]:
    """File name -> content of everything under deploy/rbac."""
    return {
        "operator.yaml": render(operator_objects()),
        "runner.yaml": render(runner_objects(), "# Bind kube-transcoder-runner in every "
                              "namespace that runs jobs and set\n# runner.serviceAccountName "
                              "to that ServiceAccount (example: namespace default).\n"),
        "api-readers.yaml": render(api_reader_roles(), "# Bind these to the callers of the "
                                   "operator's HTTP API (README: HTTP API access).\n"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transcode_operator.app.rbac")
    parser.add_argument("--out", type=Path, default=Path("deploy/rbac"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files().items():
        (args.out / name).write_text(text)
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
