"""`transcode-runner abort-uploads` against the real S3 server (versitygw).

A real runner process, standalone (`--spec`, the ledger is `open-uploads.json` in
the scratch directory, as the Pod's is `status.runner.openUploads`): the uploads the
ledger records for the job's destinations are aborted, another writer's upload of
the same key and a recorded upload of a key that is no destination of the job
survive, and the ledger is left empty.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from dev.services import s3server
from tests.functional.runner.conftest import runner_env, storage
from transcode_api import status
from transcode_runner.io import ledger

MiB = 1024 * 1024


def abort_uploads(spec: dict[str, Any], tmp_path: Path, env: dict[str, str]
                  ) -> subprocess.CompletedProcess[str]:
    job_file = tmp_path / "job.yaml"
    job_file.write_text(yaml.safe_dump(
        {"apiVersion": "kubetranscoder.io/v1alpha1", "kind": "TranscodeJob",
         "metadata": {"name": "functional", "namespace": "tests"}, "spec": spec}))
    return subprocess.run([sys.executable, "-m", "transcode_runner", "abort-uploads", "--spec",
                           str(job_file)], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)


def open_upload_ids(server: s3server.S3Server, bucket: str) -> set[str]:
    listed = server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return {u["UploadId"] for u in listed}


def test_abort_uploads_aborts_the_recorded_upload_and_no_one_elses(
    s3_server: s3server.S3Server, bucket: str, tmp_path: Path,
) -> None:
    client = s3_server.client()
    key, other = "out/killed.mp4", "elsewhere/not-ours.mp4"
    ours = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    client.upload_part(Bucket=bucket, Key=key, UploadId=ours, PartNumber=1, Body=b"x" * 5 * MiB)
    foreign = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    stray = client.create_multipart_upload(Bucket=bucket, Key=other)["UploadId"]
    scratch = tmp_path / "scratch"
    ledger.FileLedger(scratch / ledger.FILE_NAME).save([
        status.OpenUpload(bucket=bucket, key=key, upload_id=ours),
        status.OpenUpload(bucket=bucket, key=other, upload_id=stray)])
    spec = {"source": f"s3://{bucket}/in/source.mp4", "storage": storage(s3_server),
            "outputs": [{"name": "720p", "destination": f"s3://{bucket}/{key}"}]}
    try:
        done = abort_uploads(spec, tmp_path, runner_env(s3_server, tmp_path))
        assert done.returncode == 0, done.stderr[-3000:]
        assert open_upload_ids(s3_server, bucket) == {foreign, stray}
        assert ledger.FileLedger(scratch / ledger.FILE_NAME).load() == []
        again = abort_uploads(spec, tmp_path, runner_env(s3_server, tmp_path))
        assert again.returncode == 0, again.stderr[-3000:]  # nothing left: done at once
        assert "nothing to abort" in again.stderr
    finally:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=foreign)
        client.abort_multipart_upload(Bucket=bucket, Key=other, UploadId=stray)
    assert open_upload_ids(s3_server, bucket) == set()


def test_abort_uploads_that_cannot_reach_s3_fails_transient_and_keeps_the_ledger(
    s3_server: s3server.S3Server, bucket: str, tmp_path: Path,
) -> None:
    key = "out/kept.mp4"
    recorded = status.OpenUpload(bucket=bucket, key=key, upload_id="some-upload-id")
    path = tmp_path / "scratch" / ledger.FILE_NAME
    ledger.FileLedger(path).save([recorded])
    spec = {"source": f"s3://{bucket}/in/source.mp4",
            "storage": storage(s3_server, endpoint="http://127.0.0.1:9"),  # nothing listens
            "outputs": [{"name": "720p", "destination": f"s3://{bucket}/{key}"}]}
    done = abort_uploads(spec, tmp_path, runner_env(s3_server, tmp_path,
                                                    TRANSCODER_S3_MAX_ATTEMPTS="1"))
    assert done.returncode == 75, done.stderr[-3000:]
    assert ledger.FileLedger(path).load() == [recorded]
    assert "AWS_SECRET_ACCESS_KEY" not in done.stderr
    secret = runner_env(s3_server, tmp_path).get("AWS_SECRET_ACCESS_KEY", "")
    assert not secret or secret not in done.stderr
