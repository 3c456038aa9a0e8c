"""One simulated Pod on a node-agent Node: its status flips like a kubelet's, nothing runs.

`dev.cluster.nodeagent` makes one `PodWorker` per Pod bound to its Nodes (the
scale benchmarks' `--simulate SECONDS` mode; every other use of the local cluster
runs real kubelet nodes, `dev.cluster.kubelet`). The status goes Pending
(ContainerCreating) -> Running -> Succeeded after the delay, with a
`containerStatuses` entry whose termination message is the container's
`KT_SIMULATED_TERMINATION_MESSAGE` env value (a TranscodeJob's RunnerResult in
`bench/operator_scale.py`). A status patch that fails is sent again, with a growing
pause, until it lands. A Pod deleted before then ends with exit 137 and is removed
with grace 0, as a kubelet does once its containers are gone.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from kubernetes import client

log = logging.getLogger("nodeagent.pod")
PATCH_ATTEMPTS = 60  # about 5 minutes of retries, at most 5 s apart


def ts() -> str:
    """Now, as a Pod status timestamp (RFC 3339, seconds, UTC)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Context:
    core: client.CoreV1Api
    simulate: float  # seconds each Pod "runs"


def finalize_delete(core: client.CoreV1Api, pod: Any) -> None:
    """Remove a Pod whose containers are gone (grace 0, only this very Pod)."""
    with contextlib.suppress(client.ApiException):
        core.delete_namespaced_pod(
            pod.metadata.name, pod.metadata.namespace,
            body=client.V1DeleteOptions(grace_period_seconds=0,
                                        preconditions=client.V1Preconditions(uid=pod.metadata.uid)))


class PodWorker:
    def __init__(self, ctx: Context, pod: Any) -> None:
        self.ctx = ctx
        self.pod = pod
        self.container = pod.spec.containers[0]
        self.delete_requested = threading.Event()
        self.deleted = False
        self.started_at: str | None = None

    def _patch(self, phase: str, state: dict[str, Any], *, ready: bool = False) -> None:
        t = ts()
        cond = lambda typ, ok: {"type": typ, "status": "True" if ok else "False",  # noqa: E731
                                "lastTransitionTime": t}
        status: dict[str, Any] = {
            "phase": phase, "hostIP": "127.0.0.1", "podIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}], "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": self.started_at or t,
            "conditions": [cond("PodReadyToStartContainers", True), cond("Initialized", True),
                           cond("Ready", ready), cond("ContainersReady", ready),
                           cond("PodScheduled", True)],
            "containerStatuses": [{
                "name": self.container.name, "image": self.container.image, "imageID": "",
                "ready": ready, "started": "running" in state, "restartCount": 0,
                "state": state, "containerID": ""}],
        }
        self.started_at = self.started_at or t
        # As a kubelet's status manager does, a status that did not land is sent again: a
        # dropped one leaves the Pod Running forever (one 10,000-job bench run ended with
        # such a Pod; its cause was not seen).
        for attempt in range(PATCH_ATTEMPTS):
            try:
                self.ctx.core.patch_namespaced_pod_status(
                    self.pod.metadata.name, self.pod.metadata.namespace, {"status": status})
                return
            except client.ApiException as exc:
                if exc.status == 404:
                    return
                failure = f"{exc.status} {exc.reason}"
            except Exception as exc:  # noqa: BLE001 - a timeout or a dropped connection
                failure = f"{type(exc).__name__}: {exc}"
            pause = min(2.0 ** attempt * 0.2, 5.0)
            log.warning("status patch %s for %s failed (%s); again in %.1fs", phase,
                        self.pod.metadata.name, failure, pause)
            if phase in ("Pending", "Running") and self.delete_requested.is_set():
                return  # deleted meanwhile: only the final status still matters
            time.sleep(pause)
        log.error("gave up on status %s for %s", phase, self.pod.metadata.name)

    def request_delete(self, pod: Any) -> None:
        self.delete_requested.set()

    def kill_now(self) -> None:
        self.delete_requested.set()

    def run(self) -> None:
        self._patch("Pending", {"waiting": {"reason": "ContainerCreating"}})
        start = ts()
        self._patch("Running", {"running": {"startedAt": start}}, ready=True)
        self.delete_requested.wait(self.ctx.simulate)
        code = 137 if self.delete_requested.is_set() else 0
        env = {e.name: e.value for e in self.container.env or [] if e.value is not None}
        term = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                "startedAt": start, "finishedAt": ts()}
        if env.get("KT_SIMULATED_TERMINATION_MESSAGE"):
            term["message"] = env["KT_SIMULATED_TERMINATION_MESSAGE"]
        self._patch("Succeeded" if code == 0 else "Failed", {"terminated": term})
        if self.delete_requested.is_set():
            finalize_delete(self.ctx.core, self.pod)
            self.deleted = True
