"""Redis that tenants cannot abuse, on the real control plane with the real operator.

The operator logs in to a real redis-server that runs the production ACL users
(`redis_acl_server`: `default` off, `noeviction`) and hands runner Pods the runner
user's password; the fake runner (dev/fakerunner.py) reports progress the runner's
way, its Pod uid in the key. What a user notices: progress that a tenant forges
with the runner password for another Pod uid never shows in the job's status
(while the real Pod's progress does), and after Redis loses everything (FLUSHALL)
a namespace capped at N running jobs with N running still holds the next job in
Pending with reason RateLimited, then runs it when a slot frees; a slot still counted for a job that finished (the
operator died between the job's last status write and the slot's release) is freed
for the next job, not held for the running set's week-long lifetime.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from typing import Any

import redis

from dev import operators as opf
from dev.cluster.fixtures import Kube, wait_for
from dev.services import procs, redisserver
from transcode_api import contract
from transcode_operator.adapters import limits


def login(server: redisserver.RedisServer) -> dict[str, Any]:
    """The operator's Redis settings: the URL without userinfo, its user, the runner's."""
    return {"redis__url": server.url, "redis__username": "operator",
            "redis__password": server.password("operator"),
            "redis__runner_password": server.password("runner")}


def status(kube: Kube, ns: str, name: str) -> dict[str, Any]:
    return dict((opf.get_job(kube, ns, name) or {}).get("status") or {})


def metric(port: int, sample: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[-1])
    return 0.0


def test_progress_forged_for_another_pod_uid_never_reaches_the_status(
        kube: Kube, operator: Any, redis_acl_server: redisserver.RedisServer) -> None:
    ns = kube.namespace("tenancy")
    port = procs.free_port()
    # /metrics without a token: its authorisation is tests/e2e/test_api_access.py's subject.
    operator(ns, runner__command=opf.fake_runner(), http__host="127.0.0.1", http__port=port,
             http__auth__require_for_metrics=False,
             runner__extra_env={"KT_FAKE_PROGRESS": "10", "KT_FAKE_SLEEP": "40"},
             status__progress_interval_seconds=1, **login(redis_acl_server))
    opf.apply_job(kube, ns, opf.job_manifest("victim", acceleration={"mode": "cpu"}))
    seen: list[int] = []

    def percent() -> int | None:
        st = status(kube, ns, "victim")
        value = (st.get("progress") or {}).get("percent")
        if value is not None:
            seen.append(value)
        return value if st.get("phase") == "Running" else None

    wait_for(lambda: percent() == 10, 60, "the runner's own 10% in status.progress")
    [pod] = opf.pods_of(kube, ns, "victim")
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert redis_acl_server.password("operator") not in json.dumps(env)
    # A tenant copies the runner login out of a Pod spec and forges the victim's progress.
    tenant = redis.Redis(host="127.0.0.1", port=redis_acl_server.port,
                         username=env[contract.ENV_REDIS_USERNAME],
                         password=env[contract.ENV_REDIS_PASSWORD])
    rejected = 'transcoder_progress_updates_total{outcome="rejected"}'
    forged = contract.progress_key(ns, "victim", str(uuid.uuid4()))
    tenant.set(forged, json.dumps({"percent": 99, "fps": 1.0, "speed": 1.0}), ex=60)
    tenant.publish(contract.PROGRESS_CHANNEL, forged)
    wait_for(lambda: metric(port, rejected) >= 1, 30, "the relay to reject the forged key")
    assert percent() == 10
    # The same write under the live Pod's uid is taken: only the uid made the difference.
    genuine = contract.progress_key(ns, "victim", pod.metadata.uid)
    tenant.set(genuine, json.dumps({"percent": 55, "fps": 1.0, "speed": 1.0}), ex=60)
    tenant.publish(contract.PROGRESS_CHANNEL, genuine)
    wait_for(lambda: percent() == 55, 30, "the live Pod's 55% in status.progress")
    assert 99 not in seen, seen
    kube.kubectl("delete", "transcodejob", "victim", "-n", ns, "--wait=false")


def test_after_flushall_the_namespace_cap_still_holds_the_next_job(
        kube: Kube, operator: Any, redis_acl_server: redisserver.RedisServer) -> None:
    ns = kube.namespace("tenancy")
    op = operator(ns, runner__command=opf.fake_runner(), runner__extra_env={"KT_FAKE_SLEEP": "15"},
                  limits__namespaces={ns: {"maxRunning": 2}}, **login(redis_acl_server))
    for name in ("run-0", "run-1"):
        opf.apply_job(kube, ns, opf.job_manifest(name, acceleration={"mode": "cpu"}))
    wait_for(lambda: all(status(kube, ns, n).get("phase") == "Running" for n in ("run-0", "run-1")),
             60, "both jobs to run")
    redis_acl_server.client().flushall()  # Redis comes back empty: no running set, no locks
    opf.apply_job(kube, ns, opf.job_manifest("third", acceleration={"mode": "cpu"}))
    wait_for(lambda: status(kube, ns, "third").get("reason") == "RateLimited", 60,
             "the third job to be held by the cap")
    held = status(kube, ns, "third")
    assert held["phase"] == "Pending" and "ConcurrencyCapReached" in held["message"]
    assert opf.pods_of(kube, ns, "third") == []
    assert "counted 2 job(s) with a live runner Pod again" in op.log_tail()
    for name in ("run-0", "run-1", "third"):
        job = opf.wait_phase(kube, ns, name, "Succeeded", "Failed", timeout=120)
        assert job["status"]["phase"] == "Succeeded", job["status"]
    first_end = min(opf.get_job(kube, ns, n)["status"]["completionTime"] for n in ("run-0", "run-1"))
    assert status(kube, ns, "third")["startTime"] >= first_end


def test_a_slot_still_counted_for_a_finished_job_is_freed_for_the_next(
        kube: Kube, operator: Any, redis_acl_server: redisserver.RedisServer) -> None:
    ns = kube.namespace("tenancy")
    op = operator(ns, runner__command=opf.fake_runner(),
                  limits__namespaces={ns: {"maxRunning": 1}}, **login(redis_acl_server))
    opf.apply_job(kube, ns, opf.job_manifest("first", acceleration={"mode": "cpu"}))
    first = opf.wait_phase(kube, ns, "first", "Succeeded", "Failed", timeout=120)
    assert first["status"]["phase"] == "Succeeded", first["status"]
    _, running = limits.NamespaceLimiter.keys(ns)
    wait_for(lambda: redis_acl_server.client().zcard(running) == 0, 30, "first's release")
    # what Redis holds when the operator died after first's final write, before the release
    redis_acl_server.client().zadd(running, {first["metadata"]["uid"]: int(time.time() * 1000)})
    opf.apply_job(kube, ns, opf.job_manifest("next", acceleration={"mode": "cpu"}))
    done = opf.wait_phase(kube, ns, "next", "Succeeded", "Failed", timeout=120)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert "freed 1 running slot(s) of job(s) that ended or are gone" in op.log_tail()
    assert redis_acl_server.client().zrange(running, 0, -1) == []
