"""The operator's HTTP API answers only what Kubernetes RBAC grants the caller's token.

On the real control plane (RBAC on, ServiceAccount tokens signed by the API
server) the operator runs on the generated ClusterRole alone, so its own
TokenReviews and SubjectAccessReviews must be allowed by deploy/rbac/operator.yaml.
ServiceAccounts get real tokens from the TokenRequest API and grants from the
generated reader ClusterRoles (deploy/rbac/api-readers.yaml): a RoleBinding of
the job reader in namespace A only, ClusterRoleBindings of the GPU status and
metrics readers. Every authenticated user may `get /api/*` through Kubernetes'
default discovery role, which is why the GPU status is a resource permission
(`get gpustatus.kubetranscoder.io`) and not a non-resource URL. A caller sees 401 without a token or with a forged one, 403
without the grant (also for a job that does not exist, so names cannot be
probed), the job in A, and 403 for the same name in B; GPU status is 403 without
its own grant and 503 with it (this operator has no Redis); /healthz is open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dev import apiaccess
from dev import operators as opf
from dev.cluster.fixtures import Kube
from dev.services import procs


def test_api_access_follows_rbac(kube: Kube, operator: Any, tmp_path: Path) -> None:
    kubeconfig = apiaccess.operator_kubeconfig(kube, tmp_path / "operator.kubeconfig")
    apiaccess.install_reader_roles(kube)
    ns_a, ns_b = kube.namespace("api-a"), kube.namespace("api-b")
    port = procs.free_port()
    op = operator(ns_a, kubeconfig=kubeconfig, http__port=port,
                  runner__command=opf.fake_runner())
    for ns in (ns_a, ns_b):
        opf.apply_job(kube, ns, opf.job_manifest("shared-name", acceleration={"mode": "cpu"}))
    reader = apiaccess.caller(kube, ns_a, "reader", jobs_in=[ns_a])
    gpu = apiaccess.caller(kube, ns_a, "gpu-watcher", cluster_roles=[apiaccess.GPU_READER],
                           expect=[apiaccess.GPU_STATUS])
    scraper = apiaccess.caller(kube, ns_a, "scraper", cluster_roles=[apiaccess.METRICS_READER],
                               expect=[apiaccess.METRICS])
    nobody = apiaccess.caller(kube, ns_b, "nobody")
    base = f"http://127.0.0.1:{port}"
    job_a, job_b = f"{base}/api/v1/jobs/{ns_a}/shared-name", f"{base}/api/v1/jobs/{ns_b}/shared-name"

    status, headers, body = apiaccess.get(job_a)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in body["error"]
    status, headers, _ = apiaccess.get(job_a, "eyJhbGciOiJSUzI1NiJ9.forged.signature")
    assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]

    status, _, body = apiaccess.get(job_a, nobody)
    assert status == 403 and body["namespace"] == ns_a and body["verb"] == "get"
    assert f'"system:serviceaccount:{ns_b}:nobody" may not get transcodejobs' in body["error"]

    status, _, body = apiaccess.get(job_a, reader)
    assert status == 200 and body["id"] == f"{ns_a}/shared-name", body
    assert apiaccess.get(f"{base}/api/v1/jobs/{ns_a}/no-such-job", reader)[0] == 404
    status, _, body = apiaccess.get(job_b, reader)
    assert status == 403 and body["namespace"] == ns_b
    assert apiaccess.get(f"{base}/api/v1/jobs/{ns_b}/no-such-job", reader)[0] == 403

    gpu_url = f"{base}/api/v1/system/gpu/status"
    status, _, body = apiaccess.get(gpu_url, reader)
    assert status == 403 and "gpustatus.kubetranscoder.io (cluster-wide)" in body["error"]
    status, _, body = apiaccess.get(gpu_url, gpu)
    assert status == 503 and "not configured" in body["error"]  # allowed; no Redis here

    assert apiaccess.get(f"{base}/metrics")[0] == 401
    assert apiaccess.get(f"{base}/metrics", reader)[0] == 403
    status, _, text = apiaccess.get(f"{base}/metrics", scraper)
    assert status == 200 and "transcoder_jobs" in text
    assert apiaccess.get(f"{base}/healthz")[0] == 200

    log = op.log_tail(200_000)
    for token in (reader, gpu, scraper, nobody):
        assert token not in log
    assert "TokenReview failed" not in log and "SubjectAccessReview failed" not in log, log[-3000:]
