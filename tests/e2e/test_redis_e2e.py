"""Redis in the running system: rate limits, output locks, Redis outages, Prometheus.

On the real control plane with the real operator (one per test namespace, via
`dev/operators.py`), the session's real Redis and the fake runner
command (a `python3 -c` program that sleeps and writes a valid result), these
tests check what a user would notice: a burst over the namespace's cap waits
in Pending with reason RateLimited and then completes; two jobs writing the
same object never run at the same time (OutputLocked); stopping Redis mid-job
does not fail the job and the operator reports the outage and the recovery;
a real Prometheus (Debian's package) scrapes the operator and a query returns
the job counters.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from dev import operators as opf
from dev.cluster.fixtures import Kube, wait_for
from dev.services import procs, redisserver


def job(name: str, destination: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{opf.GROUP}/{opf.VERSION}", "kind": "TranscodeJob",
        "metadata": {"name": name},
        "spec": {"source": "s3://media-in/source.mp4",
                 "acceleration": {"mode": "cpu"},
                 "outputs": [{"name": "720p", "destination": destination,
                              "video": {"codec": "h264", "resolution": "720p"}}],
                 "backoffLimit": 1},
    }


def apply(kube: Kube, ns: str, *objs: dict[str, Any]) -> None:
    kube.kubectl("apply", "-n", ns, "-f", "-",
                 input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)}))


def status(kube: Kube, ns: str, name: str) -> dict[str, Any]:
    obj = opf.custom(kube).get_namespaced_custom_object(opf.GROUP, opf.VERSION, ns, opf.PLURAL, name)
    return dict(obj.get("status") or {})


def when(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def metrics(op: opf.OperatorProcess, port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return resp.read().decode()


@pytest.fixture
def ns(kube: Kube) -> str:
    return kube.namespace("redis")


def start(operator: Callable[..., opf.OperatorProcess], ns: str, redis_url: str,
          **extra: Any) -> tuple[opf.OperatorProcess, int]:
    port = procs.free_port()
    # /metrics without a token: its authorisation is tests/e2e/test_api_access.py's subject.
    op = operator(ns, runner__command=opf.fake_runner(), redis__url=redis_url,
                  http__host="127.0.0.1", http__port=port, http__auth__require_for_metrics=False,
                  retry__backoff_base_seconds=1, **extra)
    return op, port


def test_burst_over_the_namespace_cap_waits_then_completes(
        kube: Kube, ns: str, operator: Callable[..., opf.OperatorProcess], redis_url: str) -> None:
    start(operator, ns, redis_url, limits__namespaces={ns: {"maxRunning": 1}},
          runner__extra_env={"KT_FAKE_SLEEP": "3"})
    apply(kube, ns, *(job(f"burst-{i}", f"s3://media-out/burst/{i}.mp4") for i in range(3)))
    seen_limited = set()

    def all_done() -> bool:
        phases = {}
        for i in range(3):
            st = status(kube, ns, f"burst-{i}")
            phases[i] = st.get("phase")
            if st.get("reason") == "RateLimited":
                assert st.get("phase") == "Pending"
                seen_limited.add(i)
            assert st.get("phase") != "Failed", st
        return all(p == "Succeeded" for p in phases.values())

    wait_for(all_done, 120, "all three jobs to succeed", interval=0.2)
    assert seen_limited, "no job ever waited with reason RateLimited"
    runs = sorted((when(status(kube, ns, f"burst-{i}")["startTime"]),
                   when(status(kube, ns, f"burst-{i}")["completionTime"])) for i in range(3))
    for (_, first_end), (second_start, _) in zip(runs, runs[1:], strict=False):
        # with maxRunning 1 the runs do not overlap (1 s clock granularity in status)
        assert second_start >= first_end.replace(microsecond=0) or \
            (first_end - second_start).total_seconds() <= 1


def test_two_jobs_with_one_destination_never_overlap(
        kube: Kube, ns: str, operator: Callable[..., opf.OperatorProcess], redis_url: str) -> None:
    start(operator, ns, redis_url, runner__extra_env={"KT_FAKE_SLEEP": "4"})
    apply(kube, ns, job("first", "s3://media-out/same.mp4"))
    wait_for(lambda: status(kube, ns, "first").get("phase") in ("Running", "Scheduling"),
             60, "the first job to start")
    apply(kube, ns, job("second", "s3://media-out/same.mp4"))
    wait_for(lambda: status(kube, ns, "second").get("reason") == "OutputLocked", 60,
             "the second job to wait for the lock")
    assert status(kube, ns, "second").get("phase") == "Pending"
    wait_for(lambda: status(kube, ns, "second").get("phase") == "Succeeded", 120,
             "the second job to succeed after the first")
    first, second = status(kube, ns, "first"), status(kube, ns, "second")
    assert first["phase"] == "Succeeded"
    assert when(second["startTime"]) >= when(first["completionTime"]).replace(microsecond=0)


def test_redis_stopped_mid_job_then_back(
        kube: Kube, ns: str, operator: Callable[..., opf.OperatorProcess],
        redis_server: redisserver.RedisServer, redis_url: str) -> None:
    op, port = start(operator, ns, redis_url, runner__extra_env={"KT_FAKE_SLEEP": "6"})
    apply(kube, ns, job("outage", "s3://media-out/outage.mp4"))
    wait_for(lambda: status(kube, ns, "outage").get("phase") == "Running", 60, "the job to run")
    redis_server.stop()
    try:
        wait_for(lambda: "transcoder_redis_up 0.0" in metrics(op, port), 60,
                 "the operator to report Redis down")
        final = wait_for(lambda: status(kube, ns, "outage").get("phase") in (
            "Succeeded", "Failed") and status(kube, ns, "outage"), 120, "the job to finish")
        assert final["phase"] == "Succeeded", final
    finally:
        redis_server.start()
    wait_for(lambda: "transcoder_redis_up 1.0" in metrics(op, port), 60,
             "the operator to report Redis back")
    assert "degraded" in op.log_tail().lower() or "redis" in op.log_tail().lower()


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[int], int]]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is needed (apt-get install prometheus; .ci/run installs it)",
                    pytrace=False)
    started: list[subprocess.Popen[bytes]] = []

    def run(target_port: int) -> int:
        port = procs.free_port()
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "kube-transcoder",
                                "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}]}],
        }))
        log = open(tmp_path / "prometheus.log", "wb")
        proc = subprocess.Popen(
            [binary, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        started.append(proc)
        procs.on_exit(lambda: procs.stop_process(proc))
        return port

    yield run
    for proc in started:
        procs.stop_process(proc)


def query(port: int, expr: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return list(json.loads(resp.read())["data"]["result"])
    except OSError:
        return []


def test_prometheus_scrapes_job_counters(
        kube: Kube, ns: str, operator: Callable[..., opf.OperatorProcess], redis_url: str,
        prometheus: Callable[[int], int]) -> None:
    _, port = start(operator, ns, redis_url)
    prom = prometheus(port)
    apply(kube, ns, job("counted", "s3://media-out/counted.mp4"))
    wait_for(lambda: status(kube, ns, "counted").get("phase") == "Succeeded", 90, "the job")
    result = wait_for(lambda: query(prom, 'transcoder_job_results_total{result="Succeeded"}'),
                      60, "Prometheus to return the job counter", interval=1)
    assert float(result[0]["value"][1]) >= 1
    assert result[0]["metric"]["encoder"] == "libx264"
    up = wait_for(lambda: query(prom, "up{job='kube-transcoder'} == 1"), 30, "the target up")
    assert up
