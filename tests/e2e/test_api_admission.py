"""The generated CRD against the real API server: admission, immutability, explain, status.

Applies crds/transcodejobs.kubetranscoder.io.yaml to the local control plane
(the session `kube` fixture from dev/cluster/fixtures.py), so the API server
itself checks that the schema is structural and every CEL rule compiles within
the cost budget. Then each bad-input case shared with the unit tests
(tests/unit/api/cases.py) goes through real `kubectl apply` and must be refused
with a message naming the field; a valid job is accepted with its defaults; the
spec is immutable except `suspend`; `kubectl explain` teaches the fields; the
status subresource stores a full runner report and the printer columns show it; the
finalizer's MutatingAdmissionPolicy (`transcode_api.admission`) gives a new job the
operator's finalizer in its create request, next to the finalizers the user wrote.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
from typing import Any

import pytest

from dev.cluster.fixtures import wait_for
from tests.unit.api import cases
from transcode_api import admission, constants, contract, crdgen, model, results, spec, status

pytestmark = pytest.mark.cluster

ROOT = pathlib.Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / crdgen.CRD_FILENAME


def _job(name: str, body: dict[str, Any]) -> str:
    return json.dumps({"apiVersion": constants.API_VERSION, "kind": constants.KIND,
                       "metadata": {"name": name}, "spec": body})


@pytest.fixture(scope="module")
def kubectl(kube: Any) -> Any:
    """`kube.kubectl`, once the CRD from crds/ is applied and Established."""
    kube.kubectl("apply", "--server-side", "--force-conflicts",
                 "--field-manager=kube-transcoder-tests", "-f", str(CRD_FILE))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                 f"crd/{constants.CRD_NAME}")
    return kube.kubectl


@pytest.fixture(scope="module")
def ns(kube: Any, kubectl: Any) -> str:
    return str(kube.namespace("api"))


def _apply(kubectl: Any, ns: str, name: str, body: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return kubectl("-n", ns, "apply", "-f", "-", input=_job(name, body), check=False)


def _get(kubectl: Any, ns: str, name: str) -> dict[str, Any]:
    return json.loads(kubectl("-n", ns, "get", "tj", name, "-o", "json").stdout)


def test_crd_is_structural_and_established(kubectl: Any) -> None:
    crd = json.loads(kubectl("get", "crd", constants.CRD_NAME, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions.get("Established") == "True"
    assert "NonStructuralSchema" not in conditions
    assert crd["status"]["acceptedNames"]["shortNames"] == ["tj"]


def test_valid_job_is_accepted_with_defaults(kubectl: Any, ns: str) -> None:
    out = _apply(kubectl, ns, "valid", cases.valid_spec())
    assert out.returncode == 0, out.stderr
    stored = _get(kubectl, ns, "valid")
    assert stored["spec"]["acceleration"]["minFreeGpuMemoryMiB"] == 500
    assert stored["spec"]["outputs"][1]["container"] == "mp4"
    assert stored["spec"]["outputs"][1]["video"]["twoPass"] is False
    assert stored["spec"]["storage"]["credentialsSecretRef"]["accessKeyIdKey"] == "AWS_ACCESS_KEY_ID"
    # the API server's defaults and the model's agree: the operator reads the same spec
    assert model.parse_job(stored).spec == spec.parse_spec(cases.valid_spec())
    listed = kubectl("-n", ns, "get", "tj").stdout.splitlines()[0].split()
    assert listed == ["NAME", "PHASE", "PROGRESS", "ENCODER", "FALLBACK", "SPEED", "AGE"]


@pytest.mark.parametrize("case", cases.ALL_CASES, ids=lambda c: c.id)
def test_bad_input_is_refused_naming_the_field(kubectl: Any, ns: str, case: cases.Case) -> None:
    name = f"bad-{case.id}"[:63]
    out = _apply(kubectl, ns, name, case.spec())
    assert out.returncode != 0, f"accepted: {out.stdout}"
    assert case.field in out.stderr, out.stderr
    assert (case.api_message or case.message) in out.stderr, out.stderr
    if case.secret:  # the API server's answer does not echo credentials from a URL
        assert case.secret not in out.stderr + out.stdout
    gone = kubectl("-n", ns, "get", "tj", name, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_spec_is_immutable_except_suspend(kubectl: Any, ns: str) -> None:
    assert _apply(kubectl, ns, "frozen", cases.valid_spec()).returncode == 0
    for patch in (
        {"spec": {"source": "s3://media-in/other.mov"}},
        {"spec": {"backoffLimit": 5}},
        {"spec": {"resources": {"requests": {"cpu": "2"}}}},
        {"spec": {"affinity": {"nodeAffinity": {}}}},
        {"spec": {"ttlSecondsAfterFinished": None}},
    ):
        out = kubectl("-n", ns, "patch", "tj", "frozen", "--type=merge", "-p", json.dumps(patch),
                      check=False)
        assert out.returncode != 0, patch
        assert "spec: Invalid value" in out.stderr and spec.IMMUTABLE_MESSAGE in out.stderr
    changed = cases.valid_spec() | {"source": "s3://media-in/other.mov"}
    out = _apply(kubectl, ns, "frozen", changed)
    assert out.returncode != 0 and "immutable after creation except suspend" in out.stderr
    kubectl("-n", ns, "patch", "tj", "frozen", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    stored = _get(kubectl, ns, "frozen")
    assert stored["spec"]["suspend"] is True
    assert stored["spec"]["source"] == cases.valid_spec()["source"]


def test_kubectl_explain_teaches_the_fields(kubectl: Any) -> None:
    text = kubectl("explain", "tj.spec.outputs").stdout
    assert "Renditions to produce from the source" in text
    for field in ("destination", "container", "video", "audio", "name"):
        assert f"\n  {field}\t" in text
    video = " ".join(kubectl("explain", "tj.spec.outputs.video.twoPass").stdout.split())
    assert "CPU only: refused with a GPU encoder" in video
    accel = " ".join(kubectl("explain", "tj.spec.acceleration.gpuPendingTimeout").stdout.split())
    assert "Default: 2m" in accel


def test_status_subresource_stores_the_runner_report(kubectl: Any, ns: str) -> None:
    assert _apply(kubectl, ns, "reported", cases.valid_spec()).returncode == 0
    when = "2025-01-17T12:00:00Z"
    result = status.RunnerResult(
        outcome=constants.Outcome.SUCCEEDED, exit_code=contract.ExitCode.SUCCESS,
        outputs=[status.OutputResult(name="720p", url="s3://media-out/trailer/720p.mp4",
                                     size_bytes=1024, checksum="ab" * 32,
                                     checksum_algorithm="sha256", codec="h264",
                                     encoder="libx264",
                                     audio=[results.AudioTrackResult(
                                         codec="aac", channels=2, language="eng", default=True)],
                                     subtitles=[results.SubtitleTrackResult(
                                         codec="mov_text", language="fra", forced=True)],
                                     messages=["SubtitleDropped: subtitle track 2 (pgs, fra) "
                                               "dropped: mp4 cannot carry bitmap subtitles"])],
        metadata=status.JobMetadata(gpu_enabled=False, gpu_fallback=True, encoder_used="libx264",
                                    fallback_reason=constants.FallbackReason.NVENC_INIT_FAILED,
                                    processing_speed=2.7),
    )
    st = status.parse_status({
        "observedGeneration": 1, "phase": "Succeeded", "attempts": 1, "podName": "reported-1",
        "progress": {"percent": 100, "fps": 240.5, "speed": 2.7},
        "conditions": [{"type": "Succeeded", "status": "True", "reason": "TranscodeSucceeded",
                        "lastTransitionTime": when}],
        "outputs": [o.to_dict() for o in result.outputs],
        "metadata": result.metadata.to_dict() if result.metadata else None,
        "runner": {"attempt": 1, "podName": "reported-1", "phase": "Succeeded",
                   "updatedAt": when},
    })
    kubectl("-n", ns, "patch", "tj", "reported", "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": st.to_dict()}))
    stored = _get(kubectl, ns, "reported")
    assert stored["status"] == st.to_dict()  # nothing pruned: schema and model agree
    row = kubectl("-n", ns, "get", "tj", "reported", "--no-headers").stdout.split()
    assert row[:6] == ["reported", "Succeeded", "100", "libx264", "NVENCInitFailed", "2.7"]


def test_the_finalizer_policy_adds_the_operators_finalizer_on_create(kubectl: Any,
                                                                    ns: str) -> None:
    policy = {"apiVersion": "v1", "kind": "List", "items": admission.objects()}
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(policy))
    attempt = iter(range(1000))

    def created_with_finalizer() -> bool:  # the API server loads new policies in the background
        name = f"fin-{next(attempt)}"
        out = _apply(kubectl, ns, name, cases.valid_spec())
        assert out.returncode == 0, out.stderr
        return constants.FINALIZER in (_get(kubectl, ns, name)["metadata"].get("finalizers") or [])

    wait_for(created_with_finalizer, 60, "the finalizer policy to take effect")
    body = json.loads(_job("fin-own", cases.valid_spec()))
    body["metadata"]["finalizers"] = ["example.com/keep"]
    out = kubectl("-n", ns, "create", "-f", "-", input=json.dumps(body), check=False)
    assert out.returncode == 0, out.stderr
    assert _get(kubectl, ns, "fin-own")["metadata"]["finalizers"] == [
        "example.com/keep", constants.FINALIZER]
    for name in kubectl("-n", ns, "get", "tj", "-o", "name").stdout.split():
        if "/fin-" in name:  # no operator runs here: let them go
            kubectl("-n", ns, "patch", name, "--type=merge", "-p",
                    '{"metadata":{"finalizers":null}}')
