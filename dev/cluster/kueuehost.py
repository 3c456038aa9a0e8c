"""Runs the real Kueue controller manager against a local control plane.

Used by the Kueue e2e fixtures and `bench/kueue.py`. `build()` runs
`dev/cluster/kueue/build.sh` (Kueue from its pinned Go module, cached by
version with the same module's CRDs). `Kueue.start()` makes a CA and a
127.0.0.1 serving pair, installs the CRDs with their conversion webhook pointed
at that address by `url:` (no Service), registers Kueue's own mutating and
validating webhooks the same way (only those for its own kinds and batch/v1
Jobs, the one integration this config turns on), writes Kueue's config file
(leader election, internal cert management and the visibility server off;
every port on 127.0.0.1), starts the binary (as root, in a mount namespace of its
own where the serving pair is bind-mounted on the fixed path Kueue reads its
metrics certificate from; only that empty mount point is created outside the
temp folder) and waits until `/readyz` answers
and the Job webhook suspends a dry-run queued Job. `stop()` removes the webhook
configurations and stops the process by PID.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dev.cluster import controlplane, pki
from dev.services import procs

HERE = Path(__file__).resolve().parent
NAMESPACE = "kueue-system"
# The webhook paths the manager serves with only the batch/job integration on.
_OWN_PATHS = ("-kueue-x-k8s-io-", "-batch-v1-job")
METRICS_CERTS = Path("/etc/kueue/metrics/certs")
"""Where Kueue reads its metrics certificate when it does not manage certificates."""


def build() -> Path:
    """Build (or find in the cache) Kueue; return the folder holding bin/kueue and crds/."""
    out = subprocess.run(["bash", str(HERE / "kueue" / "build.sh")], check=True,
                         stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def _client_config(url: str, ca: bytes) -> dict[str, str]:
    return {"url": url, "caBundle": base64.b64encode(ca).decode()}


def crd_documents(root: Path, base: str, ca: bytes) -> list[dict[str, object]]:
    """The module's CRDs, each multi-version one converted by the webhook at `base`."""
    docs = []
    for path in sorted((root / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        if len(crd["spec"]["versions"]) > 1:
            crd["spec"]["conversion"] = {"strategy": "Webhook", "webhook": {
                "clientConfig": _client_config(f"{base}/convert", ca),
                "conversionReviewVersions": ["v1"]}}
        docs.append(crd)
    return docs


def webhook_documents(root: Path, base: str, ca: bytes) -> list[dict[str, object]]:
    """Kueue's webhook configurations for its own kinds and Jobs, called by `url:`."""
    docs = []
    for doc in yaml.safe_load_all((root / "webhooks.yaml").read_text()):
        kept = []
        for hook in doc.get("webhooks", []):
            path = hook["clientConfig"]["service"]["path"]
            if any(p in path for p in _OWN_PATHS):
                hook["clientConfig"] = _client_config(base + path, ca)
                kept.append(hook)
        doc["webhooks"] = kept
        doc["metadata"]["name"] = "kueue-" + doc["metadata"]["name"]
        docs.append(doc)
    return docs


def config_document(workdir: Path, ports: dict[str, int]) -> dict[str, object]:
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2", "kind": "Configuration",
        "namespace": NAMESPACE,
        "health": {"healthProbeBindAddress": f"127.0.0.1:{ports['health']}"},
        "metrics": {"bindAddress": f"127.0.0.1:{ports['metrics']}"},
        "webhook": {"host": "127.0.0.1", "port": ports["webhook"],
                    "certDir": str(workdir / "certs")},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "featureGates": {"VisibilityOnDemand": False},
        "clientConnection": {"qps": 100, "burst": 200},
        "integrations": {"frameworks": ["batch/job"]},
    }


@dataclass
class Kueue:
    """One Kueue controller manager serving its webhooks on 127.0.0.1."""

    workdir: Path
    kubeconfig: Path
    kubectl: Path
    root: Path = field(default_factory=build)
    proc: subprocess.Popen[bytes] | None = None
    ports: dict[str, int] = field(default_factory=dict)

    def _kubectl(self, *args: str, stdin: str | None = None) -> str:
        out = subprocess.run([str(self.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
                             input=stdin, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def apply(self, docs: list[dict[str, object]]) -> None:
        self._kubectl("apply", "--server-side", "--force-conflicts", "-f", "-",
                      stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))

    def start(self, timeout: float = 120.0) -> Kueue:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ca = pki.serving_pair(self.workdir / "certs", "kueue-webhook").read_bytes()
        self.ports = {n: procs.free_port() for n in ("webhook", "health", "metrics")}
        base = f"https://127.0.0.1:{self.ports['webhook']}"
        self.apply(crd_documents(self.root, base, ca))
        self._wait_established(timeout)
        self.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}])
        config = self.workdir / "kueue-config.yaml"
        config.write_text(yaml.safe_dump(config_document(self.workdir, self.ports)))
        log = open(self.workdir / "kueue.log", "wb")
        # Without internal cert management Kueue reads its metrics certificate from a fixed
        # path: the serving pair is bind-mounted there in a mount namespace of its own.
        METRICS_CERTS.mkdir(parents=True, exist_ok=True)  # an empty mount point
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
             'mount --bind "$1" "$2" && exec "$3" --config="$4" --kubeconfig="$5" '
             '--zap-log-level=info', "sh", str(self.workdir / "certs"), str(METRICS_CERTS),
             str(self.root / "bin" / "kueue"), str(config), str(self.kubeconfig)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "KUBECONFIG": str(self.kubeconfig)})
        self._wait(f"http://127.0.0.1:{self.ports['health']}/readyz", timeout)
        self.apply(webhook_documents(self.root, base, ca))
        self._wait_webhook(timeout)
        return self

    def _wait_established(self, timeout: float) -> None:
        deadline, names = time.monotonic() + timeout, set()
        while time.monotonic() < deadline:
            crds = json.loads(self._kubectl("get", "crd", "-o", "json"))["items"]
            names = {c["metadata"]["name"] for c in crds if c["metadata"]["name"].endswith(
                ".kueue.x-k8s.io") and not any(
                    x["type"] == "Established" and x["status"] == "True"
                    for x in (c.get("status") or {}).get("conditions") or [])}
            if not names:
                return
            time.sleep(0.3)
        raise TimeoutError(f"Kueue CRDs not established after {timeout}s: {sorted(names)}")

    def _check_alive(self) -> None:
        if self.proc and self.proc.poll() is not None:
            tail = (self.workdir / "kueue.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"kueue exited with {self.proc.returncode}:\n{tail}")

    def _wait(self, url: str, timeout: float) -> None:
        deadline, last = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError as exc:
                last = str(exc)
            time.sleep(0.3)
        raise TimeoutError(f"kueue not ready after {timeout}s: {last}")

    def _wait_webhook(self, timeout: float) -> None:
        """A dry-run queued Job goes through Kueue's Job webhook (it suspends it)."""
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "kueue-probe", "namespace": "default",
                            "labels": {"kueue.x-k8s.io/queue-name": "probe"}},
               "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                   {"name": "c", "image": "probe"}]}}}}
        deadline, last = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                out = json.loads(self._kubectl("create", "--dry-run=server", "-o", "json",
                                               "-f", "-", stdin=json.dumps(job)))
                if out["spec"].get("suspend") is True:
                    return
                last = "the Job webhook did not suspend a queued Job"
            except RuntimeError as exc:
                last = str(exc)
            time.sleep(0.5)
        raise TimeoutError(f"kueue webhooks not serving after {timeout}s: {last}")

    def stop(self) -> None:
        """Unregister the webhooks (nothing may call a stopped server), then stop Kueue."""
        if self.proc:
            for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
                subprocess.run([str(self.kubectl), f"--kubeconfig={self.kubeconfig}", "delete",
                                kind, f"kueue-{kind.replace('webhookconfiguration', '')}"
                                "-webhook-configuration", "--ignore-not-found"],
                               capture_output=True, timeout=60)
            controlplane.stop_pids({"kueue": self.proc.pid})
            self.proc = None
