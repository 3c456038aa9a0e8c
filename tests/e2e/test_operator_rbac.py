"""The generated RBAC (deploy/rbac/operator.yaml) is enough: the operator runs on it alone.

The operator is started with a kubeconfig holding only the token of the
`kube-transcoder-operator` ServiceAccount bound to the generated ClusterRole,
and must still take a job with a credentials Secret from apply to Succeeded,
post its Events, and run its finalizer on delete. A permission the role lacks
shows up here as a stuck job and a 403 in the operator log.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client

from dev import operators as opf
from dev.cluster import controlplane
from dev.cluster.fixtures import Kube, wait_for
from transcode_operator.app import rbac

RBAC = opf.REPO / "deploy" / "rbac" / "operator.yaml"
FORBIDDEN = re.compile(r"(?<![,.])\b403\b|Forbidden")
"""An HTTP 403 as a word, or the API's "Forbidden", in the operator log: a port such as
40355 is no 403, nor a log line's milliseconds (`18:04:54,403`)."""


def _operator_kubeconfig(kube: Kube, path: Path) -> str:
    kube.kubectl("create", "namespace", "kube-transcoder", check=False)
    kube.kubectl("apply", "-f", str(RBAC))
    token = kube.kubectl("create", "token", "kube-transcoder-operator", "-n", "kube-transcoder",
                         "--duration=1h").stdout.strip()
    cp = kube.cluster.cp
    assert cp is not None
    return str(controlplane.write_kubeconfig(path, cp.server, cp.ca, token=token))


def test_operator_works_with_only_the_generated_cluster_role(
        kube: Kube, operator: Any, tmp_path: Path) -> None:
    kubeconfig = _operator_kubeconfig(kube, tmp_path / "operator.kubeconfig")
    ns = kube.namespace("rbac")
    opf.core(kube).create_namespaced_secret(ns, client.V1Secret(
        metadata=client.V1ObjectMeta(name="media-s3", labels=opf.CREDENTIALS_LABELS),
        string_data={"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s3cr3t"}))
    # The leader Lease lives where the generated Role grants it: the operator's namespace.
    op = operator(ns, kubeconfig=kubeconfig, runner__command=opf.fake_runner(),
                  runner__extra_env={"KT_FAKE_SLEEP": "1"},
                  leader_election__namespace="kube-transcoder")
    opf.apply_job(kube, ns, opf.job_manifest(
        "rbacjob", storage={"credentialsSecretRef": {"name": "media-s3"}}))
    job = opf.wait_phase(kube, ns, "rbacjob", "Succeeded", "Failed")
    assert job["status"]["phase"] == "Succeeded", job["status"]
    opf.wait_event(kube, ns, "rbacjob", "Succeeded")
    kube.kubectl("delete", "tj", "rbacjob", "-n", ns, "--wait=false")
    wait_for(lambda: opf.get_job(kube, ns, "rbacjob") is None, 60, "the finalizer to finish")
    log = op.log_tail(200_000)
    assert not FORBIDDEN.search(log), log[-3000:]


def test_a_glob_scoped_operator_serves_only_matching_namespaces_without_listing_them(
        kube: Kube, operator: Any, tmp_path: Path) -> None:
    """`-n 'team-*'` on the generated role, which grants no namespace list: a matching
    namespace made after the operator started is served, another one's job is left alone.
    kopf used to list and watch namespaces for a glob (and missed one created between its
    two lists); the operator now watches every namespace and keeps to its scope."""
    kubeconfig = _operator_kubeconfig(kube, tmp_path / "operator.kubeconfig")
    prefix = f"scope{uuid.uuid4().hex[:6]}"
    op = operator(f"{prefix}-*", kubeconfig=kubeconfig, runner__command=opf.fake_runner(),
                  runner__extra_env={"KT_FAKE_SLEEP": "1"},
                  leader_election__namespace="kube-transcoder",
                  leader_election__lease_name=prefix)
    served, other = kube.namespace(prefix), kube.namespace("other")
    for ns in (served, other):
        opf.apply_job(kube, ns, opf.job_manifest("scoped"))
    job = opf.wait_phase(kube, served, "scoped", "Succeeded", "Failed")
    assert job["status"]["phase"] == "Succeeded", job["status"]
    left = opf.get_job(kube, other, "scoped")
    assert left is not None and not left.get("status"), left.get("status")
    assert not opf.core(kube).list_namespaced_pod(other).items
    assert not opf.core(kube).list_namespaced_event(other).items  # no Created, no Succeeded
    log = op.log_tail(200_000)
    assert f"serving namespaces {prefix}-*" in log  # what the troubleshooting entry points to
    assert not FORBIDDEN.search(log), log[-3000:]


def test_runner_role_allows_status_patch_and_nothing_else(kube: Kube, tmp_path: Path) -> None:
    opf.install_crd(kube)
    ns = kube.namespace("rbac")
    objects = rbac.runner_objects(ns)
    kube.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                     "items": objects}))
    who = f"system:serviceaccount:{ns}:transcode-runner"
    def can(verb: str, resource: str, *extra: str) -> bool:
        out = kube.kubectl("auth", "can-i", verb, resource, *extra, "-n", ns, f"--as={who}",
                           check=False)
        return out.stdout.strip() == "yes"
    wait_for(lambda: can("patch", "transcodejobs.kubetranscoder.io", "--subresource=status"), 30,
             "the runner binding to apply")
    assert can("get", "transcodejobs.kubetranscoder.io")
    assert not can("patch", "transcodejobs.kubetranscoder.io")
    assert not can("create", "pods")
    assert not can("get", "secrets")
