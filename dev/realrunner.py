"""A namespace of the kubelet cluster ready for jobs the real runner runs, and their proof.

Used by the operator e2e tests whose subject is the runner's behaviour (tests/e2e,
on the `kube` cluster of kubelet nodes, where `dev.operators.KUBELET_RUNNER` makes runner
Pods real containers of the local runner image on the host network).
`prepare(kube, namespace, s3)` does what the README asks of a job namespace: a
labelled credentials Secret with the test S3 server's keys and the runner's
ServiceAccount bound to the generated `kube-transcoder-runner` ClusterRole (so the
runner patches `status.runner` itself); it also makes the buckets.
`settings(**more)` are the operator settings that name that ServiceAccount.
`upload_source` puts an FFmpeg-made clip into S3, `job` builds a TranscodeJob that
reads it through the test S3 server, and `verify_outputs` downloads every output
the status lists and checks its size and checksum against the file itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from dev import corpus
from dev import operators as opf
from dev.cluster.fixtures import Kube
from dev.services import s3server
from transcode_api import constants

RUNNER_RBAC = opf.REPO / "deploy" / "rbac" / "runner.yaml"
SERVICE_ACCOUNT = "transcode-runner"
SECRET = "media-s3"
BUCKETS = ("media-in", "media-out")


def prepare(kube: Kube, namespace: str, s3: s3server.S3Server) -> None:
    """Credentials Secret, runner ServiceAccount and RoleBinding in `namespace`; buckets."""
    client = s3.client()
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for bucket in BUCKETS:
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": SECRET, "labels": opf.CREDENTIALS_LABELS},
              "stringData": {constants.DEFAULT_ACCESS_KEY_ID_KEY: s3.access_key,
                             constants.DEFAULT_SECRET_ACCESS_KEY_KEY: s3.secret_key}}
    objects = [secret]
    for doc in yaml.safe_load_all(RUNNER_RBAC.read_text()):  # as generated, namespace moved
        if doc["kind"] != "ClusterRole":
            doc["metadata"]["namespace"] = namespace
            for subject in doc.get("subjects", []):
                subject["namespace"] = namespace
        objects.append(doc)
    kube.kubectl("apply", "-n", namespace, "-f", "-",
                 input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))


def settings(**more: Any) -> dict[str, Any]:
    """Operator settings for real-runner jobs: the runner ServiceAccount `prepare` made."""
    return {"runner__service_account_name": SERVICE_ACCOUNT, **more}


def upload_source(s3: s3server.S3Server, folder: Path, key: str, *, seconds: float = 1.0,
                  size: str = "320x180") -> str:
    """An H.264 test pattern with a tone, `seconds` long, as s3://media-in/<key>."""
    clip = corpus.progressive(folder / Path(key).name, size=size, seconds=seconds, audio=True)
    s3.client().upload_file(str(clip), "media-in", key)
    return f"s3://media-in/{key}"


def job(name: str, s3: s3server.S3Server, source: str, *, outputs: int = 1,
        **spec: Any) -> dict[str, Any]:
    """A TranscodeJob reading `source` through the test S3 server with the namespace's
    Secret: `outputs` ultrafast h264 renditions at s3://media-out/<name>/<i>.mp4."""
    manifest = opf.job_manifest(name, outputs=outputs, source=source, **spec)
    manifest["spec"]["storage"] = {"endpoint": s3.endpoint, "pathStyle": True,
                                   "credentialsSecretRef": {"name": SECRET}}
    for out in manifest["spec"]["outputs"]:
        out["video"] = {"codec": "h264", "preset": "ultrafast", "resolution": "360p"}
    return manifest


def verify_outputs(s3: s3server.S3Server, status: dict[str, Any], folder: Path) -> None:
    """Every output in `status` exists in S3 with the size and the checksum the status says."""
    client = s3.client()
    for out in status["outputs"]:
        bucket, key = out["url"].removeprefix("s3://").split("/", 1)
        local = folder / f"{out['name']}.download"
        client.download_file(bucket, key, str(local))
        assert out["bytes"] == local.stat().st_size, (out, local.stat().st_size)
        assert out["checksum"] == _checksum(local, out["checksumAlgorithm"]), out


def _checksum(path: Path, algorithm: str) -> str:
    """The runner's own digest of a local file (test outputs are single-part uploads)."""
    from transcode_runner.io import checksums

    if algorithm == "crc32":
        return checksums.b64_to_hex(checksums.crc32_full(path))
    if algorithm == "md5-etag":
        return checksums.etag(path, 10 << 20)
    raise AssertionError(f"checksum algorithm {algorithm!r} is not one of a single-part upload")
