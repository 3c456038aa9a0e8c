"""User controls on the real control plane: deadline, suspend/resume, delete, TTL.

Each test runs a job whose fake runner sleeps long enough to be interrupted
and checks what a user relies on: the runner Pod is stopped, the status says
why, a resumed job starts a new attempt, a deleted job's finalizer waits for
its Pod to be gone, and a finished job with a TTL disappears.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import watch

from dev import fakerunner
from dev import operators as opf
from dev.cluster.fixtures import Kube, wait_for, wait_pod_gone
from transcode_api import contract


def _pod_running(kube: Kube, ns: str, name: str) -> bool:
    pod = opf.core(kube).read_namespaced_pod(name, ns)
    return bool(pod.status.phase == "Running")


def _gone(kube: Kube, ns: str, pod: str) -> bool:
    return pod not in [p.metadata.name for p in opf.core(kube).list_namespaced_pod(ns).items]


def test_active_deadline_fails_the_job_and_stops_its_pod(kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner(), runner__extra_env={"KT_FAKE_SLEEP": "120"},
             runner__termination_grace_period_seconds=2)
    opf.apply_job(kube, ns, opf.job_manifest("slow", activeDeadlineSeconds=4,
                                             acceleration={"mode": "cpu"}))
    job = opf.wait_phase(kube, ns, "slow", "Succeeded", "Failed", timeout=60)
    assert job["status"]["reason"] == "DeadlineExceeded"
    assert "activeDeadlineSeconds=4" in job["status"]["message"]
    wait_pod_gone(opf.core(kube), ns, "slow-1", 30, "the runner Pod to be stopped")
    opf.wait_event(kube, ns, "slow", "DeadlineExceeded")


def test_suspend_stops_the_pod_and_resume_starts_a_new_attempt(kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner(), runner__extra_env={"KT_FAKE_SLEEP": "120,1"},
             runner__termination_grace_period_seconds=2)
    opf.apply_job(kube, ns, opf.job_manifest("pausable", acceleration={"mode": "cpu"}))
    wait_for(lambda: opf.pods_of(kube, ns, "pausable") and _pod_running(kube, ns, "pausable-1"),
             60, "the first runner Pod to run")
    kube.kubectl("patch", "tj", "pausable", "-n", ns, "--type=merge",
                 "-p", json.dumps({"spec": {"suspend": True}}))
    job = opf.wait_phase(kube, ns, "pausable", "Pending")
    assert job["status"]["reason"] == "Suspended"
    assert opf.conditions(job)["Reconciling"]["status"] == "False"
    wait_pod_gone(opf.core(kube), ns, "pausable-1", 30, "the suspended Pod to be stopped")
    opf.wait_event(kube, ns, "pausable", "Suspended")

    kube.kubectl("patch", "tj", "pausable", "-n", ns, "--type=merge",
                 "-p", json.dumps({"spec": {"suspend": False}}))
    job = opf.wait_phase(kube, ns, "pausable", "Succeeded", "Failed")
    assert job["status"]["phase"] == "Succeeded", job["status"]
    assert job["status"]["attempts"] == 2 and job["status"]["podName"] == "pausable-2"
    reasons = [r for r, _ in opf.wait_event(kube, ns, "pausable", "Resumed")]
    assert "Retrying" not in reasons  # a suspension is not a failure


def test_created_suspended_starts_nothing_until_resumed(kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner())
    opf.apply_job(kube, ns, opf.job_manifest("later", suspend=True, acceleration={"mode": "cpu"}))
    job = opf.wait_phase(kube, ns, "later", "Pending")
    assert job["status"]["reason"] == "Suspended"
    assert opf.pods_of(kube, ns, "later") == []
    kube.kubectl("patch", "tj", "later", "-n", ns, "--type=merge",
                 "-p", json.dumps({"spec": {"suspend": False}}))
    job = opf.wait_phase(kube, ns, "later", "Succeeded", "Failed")
    assert job["status"]["phase"] == "Succeeded" and job["status"]["attempts"] == 1


def test_deleting_a_running_job_stops_its_pod_then_removes_the_finalizer(
        kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner(),
             runner__extra_env={"KT_FAKE_SLEEP": "120", "KT_FAKE_TERM_DELAY": "3"},
             runner__termination_grace_period_seconds=10)
    opf.apply_job(kube, ns, opf.job_manifest("doomed", acceleration={"mode": "cpu"}))
    wait_for(lambda: opf.pods_of(kube, ns, "doomed") and _pod_running(kube, ns, "doomed-1"),
             60, "the runner Pod to run")
    # Running is reported when the process starts; SIGTERM is the runner's to handle only
    # once its handler is installed (a loaded machine takes a while to get there).
    node = kube.node(opf.pods_of(kube, ns, "doomed")[0].spec.node_name)
    wait_for(lambda: fakerunner.READY in node.container_log(ns, "doomed-1", contract.CONTAINER_NAME),
             60, "the runner to install its SIGTERM handler (its log on the node)")
    kube.kubectl("delete", "tj", "doomed", "-n", ns, "--wait=false")
    # The runner needs 3 s after SIGTERM (aborting uploads): meanwhile the job is held
    # by our finalizer while its Pod terminates; only then does the job disappear.
    def held_while_pod_terminates() -> bool:
        job = opf.get_job(kube, ns, "doomed")
        pods = opf.pods_of(kube, ns, "doomed")
        return bool(job and job["metadata"].get("deletionTimestamp")
                    and job["metadata"]["finalizers"] == ["kubetranscoder.io/finalizer"]
                    and pods and pods[0].metadata.deletion_timestamp)
    wait_for(held_while_pod_terminates, 10, "the job held while its Pod terminates")
    wait_for(lambda: opf.get_job(kube, ns, "doomed") is None, 60, "the job to be gone")
    # the finalizer let go once the runner had ended; the kubelet then removes the Pod object
    pods = opf.pods_of(kube, ns, "doomed")
    assert not pods or pods[0].status.phase in ("Succeeded", "Failed"), pods[0].status
    wait_for(lambda: _gone(kube, ns, "doomed-1"), 60, "the kubelet to remove the ended Pod")


def test_ttl_after_finished_deletes_the_job(kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner())
    # a watch from before the apply sees every phase: the job may finish and be deleted
    # (2 s later) between two polls on a loaded machine
    stream = watch.Watch().stream(
        opf.custom(kube).list_namespaced_custom_object, opf.GROUP, opf.VERSION, ns, opf.PLURAL,
        field_selector="metadata.name=shortlived", timeout_seconds=180)
    opf.apply_job(kube, ns, opf.job_manifest("shortlived", ttlSecondsAfterFinished=2,
                                             acceleration={"mode": "cpu"}))
    seen: list[str] = []
    for event in stream:
        seen.append(event["type"] if event["type"] == "DELETED"
                    else ((event["object"].get("status") or {}).get("phase") or "-"))
        if event["type"] == "DELETED":
            break
    assert "Succeeded" in seen and seen[-1] == "DELETED", seen
