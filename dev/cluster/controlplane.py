"""Starts and stops a real local Kubernetes control plane on 127.0.0.1.

Used by the pytest fixtures in `dev.cluster.fixtures`, by `python -m dev.cluster`
(`make cluster-up` / `make cluster-down`) and by the demo and benchmarks. It runs
the binaries that `dev/cluster/build.sh` builds from pinned Go modules (etcd,
kube-apiserver, kube-scheduler, kube-controller-manager), each on a free port,
with freshly generated certificates and service-account keys, writes an admin
kubeconfig into the cluster's temp folder, waits for `/readyz`, and stops every
process it started, by PID, on `stop()`; callers register `stop` with
`dev.services.procs.on_exit` so that also happens at exit and on SIGINT/SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from dev.cluster import pki
from dev.services import procs

free_port = procs.free_port

HERE = Path(__file__).resolve().parent
CLIENT_RATE = ("--kube-api-qps=200", "--kube-api-burst=400")
"""Both controllers' client-side rate limit, kube-controller-manager's and kube-scheduler's
alike, so that neither side of `bench/operator_scale.py` waits on a lower limit than the
other (the scheduler's default is 50 a second; raising it did not shorten the burst's
Pod starts, which wait for the API server's CPU)."""


def build_binaries() -> Path:
    """Build (or find in the cache) the control-plane binaries; return their folder."""
    out = subprocess.run(
        ["bash", str(HERE / "build.sh")], check=True, stdout=subprocess.PIPE, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def write_kubeconfig(path: Path, server: str, ca: Path, *, cert: Path | None = None,
                     key: Path | None = None, token: str | None = None,
                     namespace: str = "default") -> Path:
    user: dict[str, str] = {}
    if cert and key:
        user = {"client-certificate": str(cert), "client-key": str(key)}
    if token:
        user = {"token": token}
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server,
                                                    "certificate-authority": str(ca)}}],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "user",
                                                    "namespace": namespace}}],
        "current-context": "local",
    }
    path.write_text(json.dumps(cfg, indent=2))
    path.chmod(0o600)
    return path


@dataclass
class ControlPlane:
    """A running etcd + kube-apiserver + kube-scheduler + kube-controller-manager."""

    workdir: Path
    bin_dir: Path
    api_port: int = 0
    kubeconfig: Path = field(init=False)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def ca(self) -> Path:
        return self.workdir / "pki" / "ca.crt"

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen(
            [str(self.bin_dir / name), *args], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )

    def start(self, timeout: float = 120.0) -> ControlPlane:
        paths = pki.generate(self.workdir / "pki")
        etcd_port, peer_port = free_port(), free_port()
        self.api_port = self.api_port or free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        self._spawn("etcd", [
            "--name=local", f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=local=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync", "--log-level=warn", "--quota-backend-bytes=4294967296",
        ])
        self._spawn("kube-apiserver", [
            f"--etcd-servers={etcd_url}", "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
            f"--secure-port={self.api_port}",
            f"--tls-cert-file={paths['apiserver.crt']}",
            f"--tls-private-key-file={paths['apiserver.key']}",
            f"--client-ca-file={paths['ca.crt']}",
            f"--service-account-key-file={paths['sa.pub']}",
            f"--service-account-signing-key-file={paths['sa.key']}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--api-audiences=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=Node,RBAC",
            "--allow-privileged=true", f"--cert-dir={self.workdir / 'pki'}",
            "--max-requests-inflight=1000", "--max-mutating-requests-inflight=500",
            "--v=1",
        ])
        self.kubeconfig = write_kubeconfig(
            self.workdir / "admin.kubeconfig", self.server, paths["ca.crt"],
            cert=paths["admin.crt"], key=paths["admin.key"],
        )
        self._wait_ready(timeout)
        kc = str(self.kubeconfig)
        self._spawn("kube-scheduler", [
            f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}", "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            *CLIENT_RATE, "--v=1",
        ])
        self._spawn("kube-controller-manager", [
            f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}", "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            f"--service-account-private-key-file={paths['sa.key']}",
            f"--root-ca-file={paths['ca.crt']}", "--use-service-account-credentials=true",
            f"--cluster-signing-cert-file={paths['ca.crt']}",
            f"--cluster-signing-key-file={paths['ca.key']}",
            *CLIENT_RATE, "--concurrent-job-syncs=50", "--v=1",
        ])
        return self

    def _wait_ready(self, timeout: float) -> None:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        ctx.load_cert_chain(self.workdir / "pki" / "admin.crt", self.workdir / "pki" / "admin.key")
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.server}/readyz", context=ctx, timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError as exc:  # not up yet
                last = str(exc)
            time.sleep(0.3)
        raise TimeoutError(f"kube-apiserver not ready after {timeout}s: {last}")

    def stop(self) -> None:
        stop_pids({n: p.pid for n, p in self.procs.items()})
        for proc in self.procs.values():
            with contextlib.suppress(Exception):
                proc.wait(timeout=10)
        self.procs.clear()

    def pids(self) -> dict[str, int]:
        return {n: p.pid for n, p in self.procs.items()}


def stop_pids(pids: dict[str, int], grace: float = 10.0) -> None:
    """SIGTERM each PID (and its process group), then SIGKILL what is left after `grace`."""
    for pid in pids.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    alive = dict(pids)
    while alive and time.monotonic() < deadline:
        for name, pid in list(alive.items()):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    alive.pop(name)
                    continue
            except ChildProcessError:
                pass
            if not _alive(pid):
                alive.pop(name)
        time.sleep(0.1)
    for pid in alive.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie that is not our child still answers kill(0)
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return False


def new_workdir(prefix: str = "kt-cluster-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
