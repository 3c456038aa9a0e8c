"""The whole system on one machine: local cluster, S3, Redis and the operator.

Used by `make demo` (dev/demo.py), by the full-path e2e tests and by the
benchmarks. `Stack` starts the local control plane and its two real kubelet
nodes (`dev.cluster`), the
S3 server and Redis (`dev.services`), applies the
generated CRD, the runner's RBAC and a `nvidia` RuntimeClass, and runs the
operator (`transcode-operator`) as a local process with a YAML settings file.
Everything it starts is stopped by `close()` (also at exit and on Ctrl-C).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from dev.cluster import cluster, images, kubelet
from dev.services import procs, redisserver, s3server
from transcode_api import contract

REPO = Path(__file__).resolve().parents[1]
RUNNER_RBAC = REPO / "deploy/rbac/runner.yaml"
RUNNER_SA = "transcode-runner"


class Stack:
    def __init__(self, workdir: Path | None = None) -> None:
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="kt-stack-"))
        self.cluster: cluster.LocalCluster | None = None
        self.s3: s3server.S3Server | None = None
        self.redis: redisserver.RedisServer | None = None
        self.operator: subprocess.Popen[bytes] | None = None
        self.api: client.ApiClient | None = None
        self.settings: dict[str, Any] = {}
        procs.on_exit(self.close)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- parts ----------------------------------------------------------------
    def start_cluster(self, **kwargs: Any) -> None:
        kwargs.setdefault("kubelet_nodes", kubelet.default_nodes())
        images.ensure_images()  # the nodes import them: build unless current
        self.cluster = cluster.LocalCluster(**kwargs).start(timeout=300)
        cfg = client.Configuration()
        config.load_kube_config(str(self.cluster.kubeconfig), client_configuration=cfg)
        cfg.connection_pool_maxsize = 16
        self.api = client.ApiClient(cfg)

    def start_services(self) -> None:
        self.s3 = s3server.S3Server().start()
        self.redis = redisserver.RedisServer().start()

    def kubectl(self, *args: str, input: str | None = None,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self.cluster is not None
        out = subprocess.run(self.cluster.kubectl_cmd(*args), input=input, text=True,
                             capture_output=True, timeout=300)
        if check and out.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {out.stderr.strip()}")
        return out

    def install_crd_and_rbac(self) -> None:
        self.kubectl("apply", "--server-side", "--field-manager=kube-transcoder-tests",
                     "-f", str(REPO / "crds"))
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                     "crd/transcodejobs.kubetranscoder.io")
        self.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
            "metadata": {"name": "nvidia"}, "handler": "nvidia"}))
        role = next(d for d in yaml.safe_load_all(RUNNER_RBAC.read_text())
                    if d and d["kind"] == "ClusterRole")
        self.kubectl("apply", "-f", "-", input=json.dumps(role))

    def operator_settings(self, **overrides: Any) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "runner": {"image": images.RUNNER_IMAGE,
                       "serviceAccountName": RUNNER_SA,
                       # kubelet nodes have no pod network: S3, Redis, the API on 127.0.0.1
                       "hostNetwork": bool(self.cluster and self.cluster.nodes),
                       "imagePullPolicy": "IfNotPresent",
                       "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                       # The local S3 is on 127.0.0.1, which the runner's SSRF guard refuses.
                       "networkAllow": ["127.0.0.1"]},
            # Jobs name the local S3 (127.0.0.1) as storage.endpoint: allow it explicitly.
            "storagePolicy": {"endpoints": ["127.0.0.1"]},
            "http": {"host": "127.0.0.1", "port": procs.free_port()},
            "kopf": {"livenessEndpoint": f"http://127.0.0.1:{procs.free_port()}/healthz"},
        }
        if self.redis:
            settings["redis"] = {"url": self.redis.url}
        for key, val in overrides.items():
            if isinstance(val, dict):
                settings.setdefault(key, {}).update(val)
            else:
                settings[key] = val
        return settings

    def start_operator(self, **overrides: Any) -> None:
        assert self.cluster is not None
        self.settings = self.operator_settings(**overrides)
        cfg = self.workdir / "operator.yaml"
        cfg.write_text(yaml.safe_dump(self.settings))
        env = {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig),
               "TRANSCODER_CONFIG": str(cfg)}
        log = open(self.workdir / "operator.log", "ab")
        exe = Path(sys.executable).parent / "transcode-operator"
        self.operator = subprocess.Popen([str(exe)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def stop_operator(self, kill: bool = False) -> None:
        if self.operator is None:
            return
        if kill:
            self.operator.kill()
            self.operator.wait(10)
        else:
            procs.stop_process(self.operator)
        self.operator = None

    def install_operator(self, **overrides: Any) -> None:
        self.install_crd_and_rbac()
        self.start_operator(**overrides)

    def mode_description(self) -> str:
        image = self.operator_settings()["runner"]["image"]
        if self.cluster and self.cluster.nodes:
            return f"runner Pods run as containers of {image} on real kubelet nodes"
        return "runner Pods are simulated by the node agent (nothing runs)"

    def operator_log_tail(self, n: int = 4000) -> str:
        path = self.workdir / "operator.log"
        return path.read_text(errors="replace")[-n:] if path.exists() else ""

    # --- objects --------------------------------------------------------------
    def namespace(self, prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.kubectl("create", "namespace", name)
        # the runner's identity: get TranscodeJobs, patch their status, nothing else
        self.kubectl("create", "serviceaccount", RUNNER_SA, "-n", name)
        self.kubectl("create", "rolebinding", RUNNER_SA, "-n", name,
                     "--clusterrole=kube-transcoder-runner", f"--serviceaccount={name}:{RUNNER_SA}")
        return name

    def create_bucket(self, name: str) -> None:
        assert self.s3 is not None
        s3c = self.s3.client()
        try:
            s3c.create_bucket(Bucket=name)
        except s3c.exceptions.BucketAlreadyOwnedByYou:
            pass

    def upload(self, path: Path, bucket: str, key: str) -> None:
        assert self.s3 is not None
        self.create_bucket(bucket)
        self.s3.client().upload_file(str(path), bucket, key)

    def credentials_secret(self, ns: str, name: str) -> None:
        assert self.s3 is not None
        self.kubectl("create", "secret", "generic", name, "-n", ns,
                     f"--from-literal=AWS_ACCESS_KEY_ID={self.s3.access_key}",
                     f"--from-literal=AWS_SECRET_ACCESS_KEY={self.s3.secret_key}")
        self.kubectl("label", "secret", name, "-n", ns,  # the opt-in jobs need
                     f"{contract.CREDENTIALS_LABEL}={contract.CREDENTIALS_LABEL_VALUE}")

    def get_job(self, ns: str, name: str) -> dict[str, Any]:
        assert self.api is not None
        return dict(client.CustomObjectsApi(self.api).get_namespaced_custom_object(
            "kubetranscoder.io", "v1alpha1", ns, "transcodejobs", name))

    # --- teardown -------------------------------------------------------------
    def close(self) -> None:
        self.stop_operator()
        for part in (self.s3, self.redis):
            if part is not None:
                part.stop()
        self.s3 = self.redis = None
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None
        procs.forget(self.close)
