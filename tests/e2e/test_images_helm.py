"""The shipped path with the images built here: `helm install` with the local images.

The chart is installed with the operator and runner images from the local
store (`make images`, podman on a debootstrapped `debian:bookworm-slim`), so the
kubelet nodes run the operator Pod and the runner Pod as real containers
(restricted: uid 65532, read-only root, no capabilities; what that looks like
from inside is asserted by test_images_pod.py with the same security context).
A GPU job applied from examples/ must reach Succeeded inside the runner
container with the CPU fallback and its reason recorded, and a portrait phone
clip must come out upright, with its not-upscaled note in status and an Event.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from dev import corpus
from dev import operators as opf
from dev.cluster import helm
from dev.cluster import images as pr
from dev.cluster.fixtures import Kube, wait_for
from dev.services import procs, redisserver, s3server
from tests.e2e.test_ship_examples import PLACEHOLDER, finished, prepare_s3
from transcode_api import constants, contract

REPO = Path(__file__).resolve().parents[2]
RELEASE = "kt-images"


@pytest.fixture(scope="module")
def release_ns(kube: Kube, s3_server: s3server.S3Server, redis_server: redisserver.RedisServer,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pr.ensure_images()
    tmp = tmp_path_factory.mktemp("images-helm")
    prepare_s3(s3_server, tmp)
    opf.install_crd(kube)
    ns = kube.namespace("images")
    kube.kubectl("create", "secret", "generic", "media-s3", "-n", ns,
                 f"--from-literal={constants.DEFAULT_ACCESS_KEY_ID_KEY}={s3_server.access_key}",
                 f"--from-literal={constants.DEFAULT_SECRET_ACCESS_KEY_KEY}={s3_server.secret_key}")
    kube.kubectl("label", "secret", "media-s3", "-n", ns,
                 f"{contract.CREDENTIALS_LABEL}={contract.CREDENTIALS_LABEL_VALUE}")
    cli = helm.Helm(kube.kubeconfig, tmp)
    redis_server.start()
    cli.install(RELEASE, ns, helm.local_cluster_values({
        "crds": {"enabled": False},
        "operator": {"httpPort": procs.free_port(), "healthPort": procs.free_port(),
                     "config": {"kopf": {"namespaces": [ns]}, "gpu": {"runtimeClassName": ""},
                                # the test S3 server is on loopback, which the guard refuses
                                "runner": {"networkAllow": ["127.0.0.1"]},
                                "storagePolicy": {"endpoints": ["127.0.0.1"]}}},
        "redis": {"externalUrl": redis_server.url_for(redisserver.DATABASES - 2)},
    }))
    try:
        yield ns
    finally:
        kube.kubectl("delete", "transcodejobs", "--all", "-n", ns, "--wait=true",
                     "--timeout=120s", check=False, timeout=180)
        cli.uninstall(RELEASE, ns)
        wait_for(lambda: not kube.kubectl("get", "pods", "-n", ns, "-o", "name").stdout.strip(),
                 120, f"every Pod in {ns} to be gone")


def container_id(pod: client.V1Pod) -> str:
    statuses = pod.status.container_statuses or []
    return str(statuses[0].container_id or "") if statuses else ""


def test_job_runs_in_the_runner_container_from_a_helm_install(
        kube: Kube, release_ns: str, s3_server: s3server.S3Server) -> None:
    core = client.CoreV1Api(kube.api_client)
    operator_pods = core.list_namespaced_pod(
        release_ns, label_selector="app.kubernetes.io/component=operator").items
    assert operator_pods, "the chart created no operator Pod"
    assert container_id(operator_pods[0]).startswith("containerd://"), \
        "the operator did not run from its image"
    assert operator_pods[0].spec.containers[0].image.startswith("localhost/kube-transcoder-operator")

    doc = yaml.safe_load((REPO / "examples/gpu-fallback-job.yaml").read_text()
                         .replace(PLACEHOLDER, s3_server.endpoint))
    doc["metadata"]["name"] = "in-container"
    doc["spec"]["outputs"][0]["destination"] = "s3://media-out/images-helm/720p.mp4"
    kube.kubectl("apply", "-n", release_ns, "-f", "-", input=json.dumps(doc))
    runner_ids: set[str] = set()

    def done() -> dict[str, object] | None:
        for pod in core.list_namespaced_pod(
                release_ns, label_selector="kubetranscoder.io/job=in-container").items:
            if container_id(pod):
                runner_ids.add(container_id(pod))
        return finished(kube, release_ns, "in-container")

    status = wait_for(done, 420, "the job to finish", interval=0.5)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=2)
    assert runner_ids and all(i.startswith("containerd://") for i in runner_ids), runner_ids
    meta = status["metadata"]
    assert meta["gpuFallback"] is True and meta["fallbackReason"]
    assert meta["encoderUsed"] == "libx264"
    head = s3_server.client().head_object(Bucket="media-out", Key="images-helm/720p.mp4")
    assert head["ContentLength"] == status["outputs"][0]["bytes"]


def test_portrait_phone_clip_comes_out_upright_and_says_it_was_not_upscaled(
        kube: Kube, release_ns: str, s3_server: s3server.S3Server, tmp_path: Path) -> None:
    """A phone clip (640x360 coded, rotation 90) asked for 720p, in the runner container:
    the file is portrait 360x640 with no rotation left, and both `status.outputs[]` and
    an Event say it was kept at the source size."""
    source = corpus.rotated(tmp_path / "phone.mp4", 90, size="640x360")
    s3 = s3_server.client()
    s3.upload_file(str(source), "media-in", "images-helm/phone.mp4")
    doc = {"apiVersion": "kubetranscoder.io/v1alpha1", "kind": "TranscodeJob",
           "metadata": {"name": "phone"},
           "spec": {"source": "s3://media-in/images-helm/phone.mp4",
                    "storage": {"endpoint": s3_server.endpoint, "pathStyle": True,
                                "credentialsSecretRef": {"name": "media-s3"}},
                    "acceleration": {"mode": "cpu"},
                    "outputs": [{"name": "720p",
                                 "destination": "s3://media-out/images-helm/phone-720p.mp4",
                                 "video": {"codec": "h264", "preset": "ultrafast",
                                           "resolution": "720p"}}]}}
    kube.kubectl("apply", "-n", release_ns, "-f", "-", input=json.dumps(doc))
    status = wait_for(lambda: finished(kube, release_ns, "phone"), 420, "the job to finish",
                      interval=0.5)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=2)
    out = status["outputs"][0]
    assert (out["width"], out["height"]) == (360, 640)
    assert any(m.startswith("NotUpscaled: ") for m in out["messages"]), out
    events = opf.wait_event(kube, release_ns, "phone", "NotUpscaled")
    assert any(r == "NotUpscaled" and "output 720p" in m for r, m in events), events
    fetched = tmp_path / "out.mp4"
    s3.download_file("media-out", "images-helm/phone-720p.mp4", str(fetched))
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams", "-of", "json",
         str(fetched)], capture_output=True, text=True, check=True).stdout)["streams"][0]
    assert (probe["width"], probe["height"]) == (360, 640)
    assert not any("rotation" in sd for sd in probe.get("side_data_list", [])), probe
    assert probe.get("tags", {}).get("rotate") in (None, "0"), probe
