"""The operator with Redis on the real control plane: limits, output locks, progress, API.

A real redis-server (dev.services) backs the namespace concurrency cap, the
output-destination locks and the progress relay; the operator's HTTP API
serves job status and Prometheus metrics to a ServiceAccount token granted both.
Each test checks what a user sees: a job waiting in Pending with reason RateLimited or OutputLocked until the
other finishes (the fake runner: a run of a chosen length), progress appearing in
the job's status while it runs and results counted in /metrics (the real runner in
a container on a kubelet node: FFmpeg's own progress, the runner's own result).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dev import apiaccess, realrunner
from dev import operators as opf
from dev.cluster.fixtures import Kube, wait_for
from dev.services import procs, redisserver, s3server
from tests.e2e import test_redis_tenancy


def _reason(kube: Kube, ns: str, name: str) -> str | None:
    return ((opf.get_job(kube, ns, name) or {}).get("status") or {}).get("reason")


def test_concurrency_cap_keeps_the_second_job_pending_then_runs_it(
        kube: Kube, operator: Any, redis_url: str) -> None:
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner(), runner__extra_env={"KT_FAKE_SLEEP": "4"},
             redis__url=redis_url, max_concurrent=1)
    opf.apply_job(kube, ns, opf.job_manifest("first", acceleration={"mode": "cpu"}))
    wait_for(lambda: opf.pods_of(kube, ns, "first"), 60, "the first job's Pod")
    opf.apply_job(kube, ns, opf.job_manifest("second", acceleration={"mode": "cpu"}))
    wait_for(lambda: _reason(kube, ns, "second") == "RateLimited", 60, "second to be held")
    job = opf.get_job(kube, ns, "second")
    assert job is not None and job["status"]["phase"] == "Pending"
    assert "ConcurrencyCapReached" in job["status"]["message"]
    assert opf.pods_of(kube, ns, "second") == []
    opf.wait_event(kube, ns, "second", "RateLimited")
    opf.wait_phase(kube, ns, "first", "Succeeded")
    job = opf.wait_phase(kube, ns, "second", "Succeeded", "Failed", timeout=120)
    assert job["status"]["phase"] == "Succeeded" and job["status"]["attempts"] == 1


def test_same_destination_waits_for_the_output_lock(
        kube: Kube, operator: Any, redis_url: str) -> None:
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner(), runner__extra_env={"KT_FAKE_SLEEP": "4"},
             redis__url=redis_url)
    one = opf.job_manifest("writer-a", acceleration={"mode": "cpu"})
    two = opf.job_manifest("writer-b", acceleration={"mode": "cpu"})
    two["spec"]["outputs"] = one["spec"]["outputs"]  # the same s3:// destination
    opf.apply_job(kube, ns, one)
    wait_for(lambda: opf.pods_of(kube, ns, "writer-a"), 60, "the first writer's Pod")
    opf.apply_job(kube, ns, two)
    wait_for(lambda: _reason(kube, ns, "writer-b") == "OutputLocked", 60, "writer-b to wait")
    job = opf.get_job(kube, ns, "writer-b")
    assert job is not None and "is in use by another job" in job["status"]["message"]
    assert f"({ns}/writer-a)" in job["status"]["message"]  # same namespace: named
    assert opf.pods_of(kube, ns, "writer-b") == []
    opf.wait_phase(kube, ns, "writer-a", "Succeeded")
    job = opf.wait_phase(kube, ns, "writer-b", "Succeeded", "Failed", timeout=120)
    assert job["status"]["phase"] == "Succeeded"


def test_progress_from_redis_reaches_the_status_and_metrics_count_results(
        kube: Kube, operator: Any, redis_acl_server: redisserver.RedisServer,
        s3_server: s3server.S3Server, tmp_path: Path) -> None:
    """The real runner encodes a 10 s clip with a slow preset on a kubelet node, held to
    one CPU by its limit (seconds of encoding on any machine), and reports FFmpeg's
    progress through Redis, logged in as the production ACL's runner user (the operator
    hands it the password); the operator relays it to the status."""
    ns = kube.namespace("op")
    realrunner.prepare(kube, ns, s3_server)
    port = procs.free_port()
    one_cpu = {"requests": {"cpu": "100m", "memory": "128Mi"},
               "limits": {"cpu": "1", "memory": "1Gi"}}
    operator(ns, **realrunner.settings(
        http__port=port, status__progress_interval_seconds=1, runner__resources=one_cpu,
        **test_redis_tenancy.login(redis_acl_server)))
    source = realrunner.upload_source(s3_server, tmp_path, f"{ns}/long.mp4", seconds=10,
                                      size="640x360")
    manifest = realrunner.job("progressing", s3_server, source, acceleration={"mode": "cpu"})
    manifest["spec"]["outputs"][0]["video"]["preset"] = "slow"  # seconds of encoding
    opf.apply_job(kube, ns, manifest)
    seen: list[int] = []

    def progress() -> int | None:
        st = (opf.get_job(kube, ns, "progressing") or {}).get("status") or {}
        percent = (st.get("progress") or {}).get("percent")
        if st.get("phase") == "Running" and percent is not None:
            seen.append(percent)
        if st.get("phase") in ("Succeeded", "Failed"):
            raise AssertionError(f"ended {st.get('phase')} with running progress {seen}")
        return percent if percent is not None and 0 < percent < 100 else None
    wait_for(progress, 180, "a running percentage in status.progress", interval=0.2)
    job = opf.wait_phase(kube, ns, "progressing", "Succeeded", "Failed", timeout=300)
    assert job["status"]["phase"] == "Succeeded", job["status"]
    assert job["status"]["progress"]["percent"] == 100

    base = f"http://127.0.0.1:{port}"
    apiaccess.install_reader_roles(kube)
    token = apiaccess.caller(kube, ns, "watcher", jobs_in=[ns],
                             cluster_roles=[apiaccess.METRICS_READER], expect=[apiaccess.METRICS])
    status, _, view = apiaccess.get(f"{base}/api/v1/jobs/{ns}/progressing", token)
    assert status == 200 and view["phase"] == "Succeeded" and view["name"] == "progressing"
    status, _, metrics = apiaccess.get(f"{base}/metrics", token)
    assert status == 200
    # what the runner reports for a CPU-mode job: the CPU was asked for
    assert 'transcoder_job_results_total{encoder="libx264",fallback_reason="CPURequested",' \
           'result="Succeeded"} 1.0' in metrics
    assert "transcoder_redis_up 1.0" in metrics
