"""CloudEvents of a job: binary-mode headers, the JSON data a receiver reads, the stable id, the signature.

Pure functions of `domain.cloudevents`; the signature is checked against an HMAC
computed here from the documented input (`<ce-id>.<body>`), not against the
module's own helper alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from tests.unit.operator import helpers as h
from transcode_api import notify
from transcode_api import status as job_status
from transcode_operator.domain import cloudevents

T = notify.EventType
KEY = b"0123456789abcdef-test-key"


def _succeeded() -> job_status.TranscodeJobStatus:
    return job_status.parse_status({
        "phase": "Succeeded", "reason": "TranscodeSucceeded", "message": "done", "attempts": 2,
        "startTime": h.stamp(h.ago(90)), "completionTime": h.stamp(h.ago(5)),
        "outputs": [{"name": "720p", "url": "s3://media-out/trailer/720p.mp4", "bytes": 1234,
                     "width": 1280, "height": 720}],
        "metadata": {"gpuFallback": True, "fallbackReason": "NVENCInitFailed",
                     "fallbackMessage": "OpenEncodeSessionEx failed", "encoderUsed": "libx264",
                     "encoderTried": ["h264_nvenc", "libx264"]}})


def test_binary_mode_headers_name_the_job_and_the_event() -> None:
    event = cloudevents.build(h.JOB, _succeeded(), T.SUCCEEDED, h.ago(5))
    headers = dict(event.headers)
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-id"] == "uid-1234-succeeded"
    assert headers["ce-type"] == "io.kubetranscoder.job.succeeded"
    assert headers["ce-source"] == "/apis/kubetranscoder.io/v1alpha1/namespaces/media/transcodejobs"
    assert headers["ce-subject"] == "trailer"
    assert headers["ce-time"] == "2025-01-01T11:59:55Z"
    assert headers["content-type"] == "application/json"


def test_the_id_is_the_same_for_every_retry_and_differs_per_type() -> None:
    status = _succeeded()
    first = cloudevents.build(h.JOB, status, T.SUCCEEDED, h.ago(5))
    again = cloudevents.build(h.JOB, status, T.SUCCEEDED, h.ago(5))
    assert (first.id, first.body) == (again.id, again.body)  # a retry sends the same bytes
    ids = {cloudevents.build(h.JOB, status, t, h.NOW).id for t in T}
    assert len(ids) == len(T)


def test_succeeded_data_carries_outputs_and_metadata() -> None:
    data = json.loads(cloudevents.build(h.JOB, _succeeded(), T.SUCCEEDED, h.NOW).body)
    assert data["job"] == {"namespace": "media", "name": "trailer", "uid": "uid-1234"}
    assert data["phase"] == "Succeeded" and data["attempts"] == 2
    assert data["outputs"][0]["url"] == "s3://media-out/trailer/720p.mp4"
    assert data["outputs"][0]["bytes"] == 1234
    assert data["metadata"]["encoderUsed"] == "libx264"
    assert data["completionTime"] == "2025-01-01T11:59:55Z"


def test_fell_back_data_says_why_and_failed_data_says_the_reason() -> None:
    fell = json.loads(cloudevents.build(h.JOB, _succeeded(), T.FELL_BACK, h.NOW).body)
    assert fell["fallbackReason"] == "NVENCInitFailed"
    assert fell["encoderTried"] == ["h264_nvenc", "libx264"]
    failed = job_status.parse_status({"phase": "Failed", "reason": "SourceNotFound",
                                      "message": "source s3://media-in/x does not exist",
                                      "attempts": 1})
    data = json.loads(cloudevents.build(h.JOB, failed, T.FAILED, h.NOW).body)
    assert (data["reason"], data["message"]) == ("SourceNotFound",
                                                 "source s3://media-in/x does not exist")
    assert "outputs" not in data


def test_signature_is_hmac_sha256_over_id_dot_body() -> None:
    event = cloudevents.build(h.JOB, _succeeded(), T.SUCCEEDED, h.NOW)
    headers = cloudevents.signed_headers(event, KEY)
    expected = hmac.new(KEY, f"{event.id}.".encode() + event.body, hashlib.sha256).hexdigest()
    assert headers["X-KubeTranscoder-Signature"] == f"sha256={expected}"
    assert cloudevents.verify(KEY, event.id, event.body, headers[notify.SIGNATURE_HEADER])
    assert not cloudevents.verify(b"another-key-of-16-bytes", event.id, event.body,
                                  headers[notify.SIGNATURE_HEADER])
    assert not cloudevents.verify(KEY, "uid-1234-failed", event.body,
                                  headers[notify.SIGNATURE_HEADER])  # a replay under another id
    assert notify.SIGNATURE_HEADER not in cloudevents.signed_headers(event, None)
