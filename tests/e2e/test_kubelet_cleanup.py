"""A job deleted after its runner was SIGKILLed mid-upload leaves no open multipart upload.

Runs on the session cluster (real kubelet + containerd) with a real operator
process whose runner Pods run the runner image (`localhost/kube-transcoder-runner:
$KT_IMAGE_TAG`, which must have `transcode-runner abort-uploads`) on the host network,
against the session's S3 server through a relay on 127.0.0.1 that holds every
UploadPart request: the runner has created (and recorded in `status.runner.openUploads`)
its multipart upload when its container is SIGKILLed through containerd (as the kernel's
OOM killer or a lost node would end it: no SIGTERM, no abort). With `backoffLimit: 0`
the job fails for good with the upload still open; deleting it starts the cleanup Pod,
which aborts it, and the job goes with an `UploadsAborted` Event.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from typing import Any

from dev import operators as opf
from dev import realrunner
from dev.cluster import kubelet
from dev.cluster.fixtures import Kube, wait_for
from dev.services import s3relay, s3server
from transcode_api import contract


class PartHold(s3relay.Relay):
    """Relays everything, but holds each UploadPart request until `release()`."""

    def __init__(self, port: int) -> None:
        self.released = threading.Event()
        self.held = 0
        super().__init__(port, self._hold)

    def _hold(self, method: str, target: str, headers: dict[str, str]) -> bool:
        if method == "PUT" and "partNumber=" in target and "uploadId=" in target:
            self.held += 1
            self.released.wait(300)
        return False  # then relayed

    def release(self) -> None:
        self.released.set()

    def _serve(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError):  # a held request's runner was SIGKILLed meanwhile
            super()._serve(client)


def _open_uploads(s3: s3server.S3Server, prefix: str) -> list[dict[str, Any]]:
    listed = s3.client().list_multipart_uploads(Bucket="media-out", Prefix=prefix)
    return list(listed.get("Uploads", []))


def _sigkill(kube: Kube, pod: Any) -> None:
    """SIGKILL the runner container's processes through its node's containerd."""
    node = next(n for n in kube.cluster.nodes if n.name == pod.spec.node_name)
    assert isinstance(node, kubelet.KubeletNode)
    container_id = pod.status.container_statuses[0].container_id.split("://", 1)[1]
    done = node.ctr("task", "kill", "--all", "--signal", "SIGKILL", container_id, timeout=30)
    assert done.returncode == 0, done.stderr


def test_a_job_deleted_after_a_sigkilled_upload_gets_its_uploads_aborted(
        kube: Kube, operator: Any, s3_server: s3server.S3Server,
        tmp_path: Path) -> None:
    ns = kube.namespace("cleanup")
    realrunner.prepare(kube, ns, s3_server)
    operator(ns, **realrunner.settings(
        runner__extra_env={"TRANSCODER_MULTIPART_THRESHOLD": "1024"},
        runner__termination_grace_period_seconds=5))
    hold = PartHold(s3_server.port)
    try:
        source = realrunner.upload_source(s3_server, tmp_path, f"{ns}/killed.mp4")
        manifest = realrunner.job("killed", s3_server, source, acceleration={"mode": "cpu"},
                                  backoffLimit=0)
        manifest["spec"]["storage"]["endpoint"] = hold.endpoint
        manifest["spec"]["outputs"][0]["destination"] = f"s3://media-out/{ns}/out.mp4"
        opf.apply_job(kube, ns, manifest)

        def uploading() -> Any:
            job = opf.get_job(kube, ns, "killed") or {}
            recorded = ((job.get("status") or {}).get("runner") or {}).get("openUploads")
            pods = opf.pods_of(kube, ns, "killed")
            return pods[0] if recorded and hold.held and pods else None
        pod = wait_for(uploading, 240, "the runner to record its multipart upload")
        (left,) = _open_uploads(s3_server, f"{ns}/")
        _sigkill(kube, pod)
        job = opf.wait_phase(kube, ns, "killed", "Failed", "Succeeded", timeout=120)
        assert job["status"]["phase"] == "Failed", job["status"]
        assert [u["UploadId"] for u in _open_uploads(s3_server, f"{ns}/")] == \
            [left["UploadId"]]  # the kill left it open, as recorded
        assert [u["uploadId"] for u in job["status"]["runner"]["openUploads"]] == \
            [left["UploadId"]]
        hold.release()
        cleanups: list[str] = []

        def gone() -> bool:
            for p in opf.core(kube).list_namespaced_pod(
                    ns, label_selector=f"{contract.ROLE_LABEL}={contract.ROLE_CLEANUP}").items:
                if p.metadata.name not in cleanups:
                    cleanups.append(p.metadata.name)
            return opf.get_job(kube, ns, "killed") is None
        opf.custom(kube).delete_namespaced_custom_object(opf.GROUP, opf.VERSION, ns, opf.PLURAL,
                                                         "killed")
        wait_for(gone, 180, "the deleted job to be gone")
    finally:
        hold.release()
        hold.close()
    assert _open_uploads(s3_server, f"{ns}/") == []
    assert cleanups == ["killed-cleanup"]
    events = opf.events_of(kube, ns, "killed")
    aborted = [m for r, m in events if r == "UploadsAborted"]
    assert aborted == ["cleanup Pod killed-cleanup aborted the 1 multipart upload(s) a killed "
                       "runner left open"], events
    assert "UploadsNotAborted" not in [r for r, _ in events]
