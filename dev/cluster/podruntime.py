"""Runs one Pod on the local node and reports its status like a kubelet.

`dev.cluster.nodeagent` makes one `PodWorker` per Pod bound to its Nodes.
Container mode (`dev.cluster.podman_runtime`) runs a Pod whose image exists
locally as a podman container. Process mode runs the first container's command and args as a local process in
a private mount namespace (`dev/cluster/podexec.py` bind-mounts its volumes,
the termination-message file and the service-account token), with the Pod's
env. Simulate mode only flips the status after a delay. Status goes
Pending (ContainerCreating) -> Running -> Succeeded/Failed with
`containerStatuses` (state, exit code, reason, termination message). A Pod
being deleted gets SIGTERM, the grace period, then SIGKILL, and is then removed
with grace 0, as a kubelet does.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from dev.cluster import podenv, podman_runtime
from dev.services import procs

log = logging.getLogger("nodeagent.pod")
PODEXEC = Path(__file__).resolve().parent / "podexec.py"
_live: set[subprocess.Popen[bytes]] = set()
MAX_MESSAGE = 4096


@dataclass
class Context:
    core: client.CoreV1Api
    workdir: Path
    api_server: str
    ca_pem: bytes
    simulate: float | None
    patcher: Executor


def finalize_delete(core: client.CoreV1Api, pod: Any) -> None:
    """Remove a Pod whose containers are gone (grace 0, only this very Pod)."""
    with contextlib.suppress(client.ApiException):
        core.delete_namespaced_pod(
            pod.metadata.name, pod.metadata.namespace,
            body=client.V1DeleteOptions(grace_period_seconds=0,
                                        preconditions=client.V1Preconditions(uid=pod.metadata.uid)))


def kill_all() -> None:
    podman_runtime.kill_all()
    for proc in list(_live):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def gpu_count(pod: Any) -> int:
    total = 0
    for c in pod.spec.containers:
        limits = (c.resources.limits if c.resources else None) or {}
        total += int(limits.get("nvidia.com/gpu", 0))
    return total


class PodWorker:
    def __init__(self, ctx: Context, pod: Any) -> None:
        self.ctx = ctx
        self.pod = pod
        self.container = pod.spec.containers[0]
        self.root = ctx.workdir / "pods" / f"{pod.metadata.namespace}_{pod.metadata.name}_{pod.metadata.uid[:8]}"
        self.delete_requested = threading.Event()
        self.deleted = False
        self.grace = 30
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at: str | None = None
        self.container_id = ""

    # --- status -------------------------------------------------------------
    def _container_status(self, state: dict[str, Any], ready: bool = False) -> dict[str, Any]:
        return {"name": self.container.name, "image": self.container.image,
                "imageID": "", "ready": ready, "started": "running" in state,
                "restartCount": 0, "state": state,
                "containerID": self.container_id}

    def _patch(self, phase: str, state: dict[str, Any], *, ready: bool = False,
               reason: str | None = None, message: str | None = None) -> None:
        t = podenv.ts()
        cond = lambda typ, ok: {"type": typ, "status": "True" if ok else "False",  # noqa: E731
                                "lastTransitionTime": t}
        status: dict[str, Any] = {
            "phase": phase, "hostIP": "127.0.0.1", "podIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}], "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": self.started_at or t,
            "conditions": [cond("PodReadyToStartContainers", True), cond("Initialized", True),
                           cond("Ready", ready), cond("ContainersReady", ready),
                           cond("PodScheduled", True)],
            "containerStatuses": [self._container_status(state, ready)],
        }
        if reason:
            status["reason"] = reason
        if message:
            status["message"] = message
        self.started_at = self.started_at or t
        try:
            self.ctx.core.patch_namespaced_pod_status(
                self.pod.metadata.name, self.pod.metadata.namespace, {"status": status})
        except client.ApiException as exc:
            if exc.status != 404:
                log.warning("status patch for %s failed: %s", self.pod.metadata.name, exc.reason)

    # --- lifecycle ----------------------------------------------------------
    def request_delete(self, pod: Any) -> None:
        self.grace = int(pod.metadata.deletion_grace_period_seconds or 0)
        self.delete_requested.set()

    def kill_now(self) -> None:
        self.grace = 0
        self.delete_requested.set()
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def run(self) -> None:
        self._patch("Pending", {"waiting": {"reason": "ContainerCreating"}})
        if self.ctx.simulate is not None:
            self._simulate()
        else:
            self._run_process()
        if self.delete_requested.is_set():
            finalize_delete(self.ctx.core, self.pod)
            self.deleted = True
        shutil.rmtree(self.root / "volumes", ignore_errors=True)

    def _simulate(self) -> None:
        start = podenv.ts()
        self._patch("Running", {"running": {"startedAt": start}}, ready=True)
        self.delete_requested.wait(self.ctx.simulate)
        code = 137 if self.delete_requested.is_set() else 0
        env = {e.name: e.value for e in self.container.env or [] if e.value is not None}
        msg = env.get("KT_SIMULATED_TERMINATION_MESSAGE", "")
        self._terminated(code, start, msg, deadline=False)

    def _prepare(self) -> tuple[dict[str, str], list[dict[str, Any]]] | None:
        while not self.delete_requested.is_set():
            try:
                env = podenv.resolve_env(self.ctx.core, self.pod, self.container)
                volumes = podenv.prepare_volumes(self.ctx.core, self.pod, self.root, self.ctx.ca_pem)
                break
            except podenv.ConfigError as exc:
                self._patch("Pending", {"waiting": {"reason": "CreateContainerConfigError",
                                                    "message": str(exc)}})
                self.delete_requested.wait(2)
        else:
            return None
        mounts = []
        for vm in self.container.volume_mounts or []:
            src = volumes[vm.name] / (vm.sub_path or "")
            mounts.append({"source": str(src), "target": vm.mount_path,
                           "readOnly": bool(vm.read_only)})
        term = self.root / "termination-log"
        term.write_bytes(b"")
        term.chmod(0o666)
        mounts.append({"source": str(term),
                       "target": self.container.termination_message_path or "/dev/termination-log"})
        return env, mounts

    def _base_env(self) -> dict[str, str]:
        host, _, port = self.ctx.api_server.removeprefix("https://").rpartition(":")
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOSTNAME": self.pod.metadata.name, "HOME": "/tmp", "LANG": "C.UTF-8",
            "KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port,
            "KUBERNETES_SERVICE_PORT_HTTPS": port,
            "PYTHONPATH": procs.PYTHONPATH,  # this checkout's code, as its image would carry
        }
        gpus = gpu_count(self.pod)
        if gpus:  # what the NVIDIA device plugin injects; there is no GPU behind it here
            env["NVIDIA_VISIBLE_DEVICES"] = ",".join(
                f"GPU-{i:08d}-0000-0000-0000-000000000000" for i in range(gpus))
        return env

    def _run_process(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        prepared = self._prepare()
        if prepared is None:
            return
        env, mounts = prepared
        if podman_runtime.use_container(self.container.image):
            podman_runtime.run_pod(self, env, mounts)  # a real container: podman + runc
            return
        argv = [*(self.container.command or []), *(self.container.args or [])]
        if not argv:
            self._terminated(128, podenv.ts(), "process mode needs an explicit container command",
                             deadline=False)
            return
        spec = {"argv": argv, "env": {**self._base_env(), **env}, "mounts": mounts,
                "workingDir": self.container.working_dir}
        spec_path = self.root / "exec.json"
        spec_path.write_text(json.dumps(spec))
        spec_path.chmod(0o600)
        logf = open(self.root / "container.log", "wb")
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--",
             sys.executable, str(PODEXEC), str(spec_path)],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd="/")
        _live.add(self.proc)
        self.container_id = f"process://{self.proc.pid}"
        start = podenv.ts()
        self._patch("Running", {"running": {"startedAt": start}}, ready=True)
        deadline = self.pod.spec.active_deadline_seconds
        t0 = time.monotonic()
        timed_out = False
        while self.proc.poll() is None:
            if self.delete_requested.wait(0.2):
                self._stop_process()
                break
            if deadline and time.monotonic() - t0 > deadline:
                timed_out = True
                self._stop_process(grace=0)
                break
        code = self.proc.wait()
        _live.discard(self.proc)
        logf.close()
        spec_path.unlink(missing_ok=True)
        code = 128 - code if code < 0 else code
        msg = (self.root / "termination-log").read_bytes()[:MAX_MESSAGE].decode(errors="replace")
        if not msg and code != 0 and self.container.termination_message_policy == "FallbackToLogsOnError":
            msg = (self.root / "container.log").read_bytes()[-2048:].decode(errors="replace")
        self._terminated(code, start, msg, deadline=timed_out)

    def _stop_process(self, grace: int | None = None) -> None:
        assert self.proc is not None
        g = self.grace if grace is None else grace
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=max(g, 0.1))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def _terminated(self, code: int, started: str, message: str, *, deadline: bool) -> None:
        term = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                "startedAt": started, "finishedAt": podenv.ts()}
        if message:
            term["message"] = message
        phase = "Succeeded" if code == 0 and not deadline else "Failed"
        self._patch(phase, {"terminated": term},
                    reason="DeadlineExceeded" if deadline else None,
                    message="Pod was active on the node longer than the specified deadline"
                    if deadline else None)
