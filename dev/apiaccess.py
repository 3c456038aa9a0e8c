"""Callers of the operator's HTTP API in tests: ServiceAccounts, their RBAC, real tokens, GETs.

Imported by the e2e tests that talk to the API (tests/e2e/test_api_access.py,
test_operator_redis.py, test_ship_examples.py). `install_reader_roles(kube)`
applies the generated reader ClusterRoles (deploy/rbac/api-readers.yaml);
`caller(kube, namespace, name, jobs_in=[...], cluster_roles=[...])` creates a
ServiceAccount, binds the job reader with a RoleBinding in each of `jobs_in` and
each named ClusterRole with a ClusterRoleBinding, waits until the API server's
authoriser agrees (a SubjectAccessReview), and returns a token from the
TokenRequest API, as `kubectl create token` would. `operator_kubeconfig(kube,
path)` is a kubeconfig of the operator's own ServiceAccount bound to the
generated ClusterRole only. `get(url, token)` is one GET: status, headers, body.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client

from dev.cluster import controlplane
from dev.cluster.fixtures import Kube, wait_for
from transcode_api import constants
from transcode_operator.adapters import apiauth
from transcode_operator.app import rbac

REPO = Path(__file__).resolve().parents[1]
READERS = REPO / "deploy" / "rbac" / "api-readers.yaml"
OPERATOR_RBAC = REPO / "deploy" / "rbac" / "operator.yaml"
JOB_READER, GPU_READER, METRICS_READER = (
    "kube-transcoder-job-reader", "kube-transcoder-gpu-status-reader",
    "kube-transcoder-metrics-reader")
assert {JOB_READER, GPU_READER, METRICS_READER} == set(rbac.API_READERS)
RBAC_API = "rbac.authorization.k8s.io"
GPU_STATUS = ("get", f"{apiauth.GPU_STATUS_RESOURCE}.{constants.GROUP}")
METRICS = ("get", "/metrics")


def install_reader_roles(kube: Kube) -> None:
    kube.kubectl("apply", "-f", str(READERS))


def _can(kube: Kube, who: str, verb: str, what: str, namespace: str | None) -> bool:
    """The API server's SubjectAccessReview answer (what the operator will ask, too)."""
    if what.startswith("/"):
        attrs: dict[str, Any] = {"nonResourceAttributes": {"path": what, "verb": verb}}
    else:
        resource, _, group = what.partition(".")
        attrs = {"resourceAttributes": {"verb": verb, "resource": resource, "group": group,
                                        "namespace": namespace or ""}}
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": who, "groups": ["system:serviceaccounts", "system:authenticated"],
                     **attrs}}
    answer = client.AuthorizationV1Api(kube.api_client).create_subject_access_review(body)
    return bool(answer.status.allowed)


def caller(kube: Kube, namespace: str, name: str, *, jobs_in: list[str] | tuple[str, ...] = (),
           cluster_roles: list[str] | tuple[str, ...] = (), job_role: str = JOB_READER,
           expect: list[tuple[str, str]] | tuple[tuple[str, str], ...] = ()) -> str:
    """A token of a new ServiceAccount `namespace/name` with the grants named.

    `expect` lists cluster-wide (verb, resource or URL) the caller must be allowed before
    this returns (`GPU_STATUS`, `METRICS`); RoleBindings in `jobs_in` are always waited for.
    """
    core = client.CoreV1Api(kube.api_client)
    authz = client.RbacAuthorizationV1Api(kube.api_client)
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name=name)))
    subject = client.RbacV1Subject(kind="ServiceAccount", name=name, namespace=namespace)
    for job_ns in jobs_in:
        authz.create_namespaced_role_binding(job_ns, client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name=f"{name}-jobs"), subjects=[subject],
            role_ref=client.V1RoleRef(api_group=RBAC_API, kind="ClusterRole", name=job_role)))
    for role in cluster_roles:
        authz.create_cluster_role_binding(client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name=f"{namespace}-{name}-{role}"[:253]),
            subjects=[subject],
            role_ref=client.V1RoleRef(api_group=RBAC_API, kind="ClusterRole", name=role)))
    who = f"system:serviceaccount:{namespace}:{name}"
    for job_ns in jobs_in:
        wait_for(lambda ns=job_ns: _can(kube, who, "get", f"{constants.PLURAL}.{constants.GROUP}",
                                        ns), 30, f"{who} to get jobs in {job_ns}")
    for verb, what in expect:
        wait_for(lambda v=verb, w=what: _can(kube, who, v, w, None), 30, f"{who} to {verb} {what}")
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
    answer = core.create_namespaced_service_account_token(name, namespace, request)
    token: str = answer.status.token
    return token


def operator_kubeconfig(kube: Kube, path: Path) -> str:
    """A kubeconfig of the operator's ServiceAccount, bound to the generated ClusterRole only."""
    kube.kubectl("create", "namespace", rbac.DEFAULT_NAMESPACE, check=False)
    kube.kubectl("apply", "-f", str(OPERATOR_RBAC))
    token = kube.kubectl("create", "token", rbac.OPERATOR_ROLE, "-n", rbac.DEFAULT_NAMESPACE,
                         "--duration=1h").stdout.strip()
    cp = kube.cluster.cp
    assert cp is not None
    return str(controlplane.write_kubeconfig(path, cp.server, cp.ca, token=token))


def get(url: str, token: str | None = None, timeout: float = 5) -> tuple[int, dict[str, str], Any]:
    """GET `url` (with `Authorization: Bearer token`): status, headers and JSON (or text) body."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            status, headers, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        status, headers, raw = exc.code, dict(exc.headers), exc.read()
    text = raw.decode(errors="replace")
    if headers.get("Content-Type", "").startswith("application/json"):
        return status, headers, json.loads(text)
    return status, headers, text
