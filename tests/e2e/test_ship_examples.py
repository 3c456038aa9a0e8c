"""Every example under examples/ reaches Succeeded through the Helm-installed operator.

The chart is installed with `helm install --wait` into a fresh namespace (the
local images on the host network, `helm.local_cluster_values`; the operator
serving only that namespace, on free host ports, with the session's
real Redis as `redis.externalUrl`, the GPU probe DaemonSet on, and no
RuntimeClass, which needs the NVIDIA container runtime). The session's
real S3 server gets the buckets `media-in`/`media-out` and a generated 1080p
source `s3://media-in/sample.mp4`; the Secret `media-s3`, labelled
`kubetranscoder.io/credentials=true`, holds its keys. Each example is applied
as a user would, with the `storage.endpoint` placeholder (`http://127.0.0.1:9000`)
replaced by the server's address, and must reach
Succeeded with every output uploaded and its checksum recorded. The GPU example
runs on the GPU node, where no real GPU exists, so it must fall back to the CPU
and say why. The GPU probes' report is read from the operator's API with the token of a
ServiceAccount bound to the chart's gpu-status-reader ClusterRole (without one: 401).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dev import apiaccess, media
from dev.cluster import helm
from dev.cluster.fixtures import Kube, wait_for
from dev.services import procs, redisserver, s3server
from transcode_api import constants, contract

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
PLACEHOLDER = "http://127.0.0.1:9000"
RELEASE = "kt-examples"
SOURCE_KEY = "sample.mp4"


class Release:
    """The installed chart: its namespace and the operator's HTTP port on this host."""

    def __init__(self, namespace: str, http_port: int) -> None:
        self.namespace = namespace
        self.http_port = http_port


def make_sample(path: Path) -> None:
    try:
        media.make_sample(path, 2)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)

def prepare_s3(server: s3server.S3Server, tmp: Path) -> None:
    s3 = server.client()
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in ("media-in", "media-out"):
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
    sample = tmp / SOURCE_KEY
    make_sample(sample)
    s3.upload_file(str(sample), "media-in", SOURCE_KEY)


@pytest.fixture(scope="module")
def release(kube: Kube, s3_server: s3server.S3Server, redis_server: redisserver.RedisServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    tmp = tmp_path_factory.mktemp("examples")
    prepare_s3(s3_server, tmp)
    ns = kube.namespace("examples")
    kube.kubectl("create", "secret", "generic", "media-s3", "-n", ns,
                 f"--from-literal={constants.DEFAULT_ACCESS_KEY_ID_KEY}={s3_server.access_key}",
                 f"--from-literal={constants.DEFAULT_SECRET_ACCESS_KEY_KEY}={s3_server.secret_key}")
    kube.kubectl("label", "secret", "media-s3", "-n", ns,
                 f"{contract.CREDENTIALS_LABEL}={contract.CREDENTIALS_LABEL_VALUE}")
    try:
        cli = helm.Helm(kube.kubeconfig, tmp)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    if kube.kubectl("get", "crd", constants.CRD_NAME, check=False).returncode == 0:
        kube.kubectl("patch", "crd", constants.CRD_NAME, "--type", "merge",
                     "-p", json.dumps(helm.adoption_metadata(RELEASE, ns)))
    http_port, health_port = procs.free_port(), procs.free_port()
    redis_server.start()
    # The test cluster has no NVIDIA container runtime, hence no RuntimeClass "nvidia".
    cli.install(RELEASE, ns, helm.local_cluster_values({
        "operator": {"httpPort": http_port, "healthPort": health_port,
                     # The test S3 is on 127.0.0.1: the runner's SSRF guard must allow it.
                     "config": {"kopf": {"namespaces": [ns]}, "gpu": {"runtimeClassName": ""},
                                "runner": {"networkAllow": ["127.0.0.1"]},
                                "storagePolicy": {"endpoints": ["127.0.0.1"]}}},
        "redis": {"externalUrl": redis_server.url_for(redisserver.DATABASES - 1)},
        "gpuProbe": {"enabled": True, "intervalSeconds": 2, "runtimeClassName": ""},
    }))
    try:
        yield Release(ns, http_port)
    finally:
        # Jobs carry the operator's finalizer: delete them while the operator still runs.
        kube.kubectl("delete", "transcodejobs", "--all", "-n", ns, "--wait=true", "--timeout=120s",
                     check=False, timeout=180)
        cli.uninstall(RELEASE, ns)
        # The operator and probe processes end with their Pods; leave none running.
        wait_for(lambda: not kube.kubectl("get", "pods", "-n", ns, "-o", "name").stdout.strip(), 120,
                 f"every Pod in {ns} to be gone")


def job_status(kube: Kube, ns: str, name: str) -> dict[str, Any]:
    out = kube.kubectl("get", "transcodejob", name, "-n", ns, "-o", "json", check=False)
    if out.returncode != 0:
        return {}
    status: dict[str, Any] = json.loads(out.stdout).get("status") or {}
    return status


def finished(kube: Kube, ns: str, name: str) -> dict[str, Any] | None:
    status = job_status(kube, ns, name)
    return status if status.get("phase") in ("Succeeded", "Failed") else None


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_reaches_succeeded(kube: Kube, release: Release, s3_server: s3server.S3Server,
                                   path: Path) -> None:
    text = path.read_text()
    assert PLACEHOLDER in text
    doc = yaml.safe_load(text.replace(PLACEHOLDER, s3_server.endpoint))
    name, ns = doc["metadata"]["name"], release.namespace
    kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(doc))
    status = wait_for(lambda: finished(kube, ns, name), 420, f"{name} to finish", interval=1)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=2)
    # what `kubectl wait --for=condition=Succeeded` reads
    kube.kubectl("wait", "--for=condition=Succeeded", f"transcodejob/{name}", "-n", ns, "--timeout=10s")

    s3 = s3_server.client()
    outputs = {o["name"]: o for o in status["outputs"]}
    assert sorted(outputs) == sorted(o["name"] for o in doc["spec"]["outputs"])
    for out in doc["spec"]["outputs"]:
        result = outputs[out["name"]]
        assert result["url"] == out["destination"] and result.get("checksum")
        bucket, key = out["destination"].removeprefix("s3://").split("/", 1)
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ContentLength"] == result["bytes"] > 0
    if "packaging" in doc["spec"]:  # the package's manifests are there, named in status
        prefix = doc["spec"]["packaging"]["destination"]
        package = status["packaging"]
        assert package["manifests"] == [prefix + "master.m3u8", prefix + "manifest.mpd"]
        assert [r["name"] for r in package["renditions"] if r["type"] == "video"] == [
            o["name"] for o in doc["spec"]["outputs"]]
        for url in package["manifests"]:
            bucket, key = url.removeprefix("s3://").split("/", 1)
            assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
    if "thumbnails" in doc["spec"]:  # poster, storyboard and preview are there, named in status
        prefix = doc["spec"]["thumbnails"]["destination"]
        pictures = status["thumbnails"]
        assert pictures["sprite"]["storyboard"] == prefix + "storyboard.vtt"
        assert pictures["sprite"]["tiles"] >= 1 and pictures["preview"]["frames"] >= 1
        for url in (pictures["poster"]["url"], pictures["preview"]["url"],
                    pictures["sprite"]["storyboard"]):
            bucket, key = url.removeprefix("s3://").split("/", 1)
            assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0

    meta = status["metadata"]
    if doc["spec"]["acceleration"]["mode"] == "cpu":
        assert meta["gpuEnabled"] is False and meta["encoderUsed"].startswith("lib")
    if path.stem == "gpu-fallback-job":
        # no real GPU behind the GPU node here: the CPU encodes and the reason is recorded
        assert meta["gpuFallback"] is True and meta["fallbackReason"], meta
        assert meta["encoderUsed"] == "libx264"
        row = kube.kubectl("get", "tj", name, "-n", ns).stdout
        assert meta["fallbackReason"] in row and "libx264" in row


def test_gpu_probe_daemonset_reports_the_gpu_node(kube: Kube, release: Release) -> None:
    ds = f"{RELEASE}-kube-transcoder-gpu-probe"
    kube.kubectl("rollout", "status", f"daemonset/{ds}", "-n", release.namespace, "--timeout=120s",
                 timeout=150)
    pods = json.loads(kube.kubectl("get", "pods", "-n", release.namespace, "-l",
                                   "app.kubernetes.io/component=gpu-probe", "-o", "json").stdout)["items"]
    assert {p["spec"]["nodeName"] for p in pods} == {"gpu-node-0"}

    # The chart's operator asks the API server (TokenReview, SubjectAccessReview) about the
    # token; the chart's own reader ClusterRole grants GET /api/v1/system/gpu/status.
    token = apiaccess.caller(kube, release.namespace, "gpu-watcher",
                             cluster_roles=[f"{RELEASE}-kube-transcoder-gpu-status-reader"],
                             expect=[apiaccess.GPU_STATUS])
    url = f"http://127.0.0.1:{release.http_port}/api/v1/system/gpu/status"

    def reported() -> dict[str, Any] | None:
        try:
            status, _, body = apiaccess.get(url, token)
        except OSError:
            return None
        return body if status == 200 and "gpu-node-0" in json.dumps(body) else None

    wait_for(reported, 90, "the operator to serve gpu-node-0's probe report", interval=1)
    assert apiaccess.get(url)[0] == 401  # no token: nothing
