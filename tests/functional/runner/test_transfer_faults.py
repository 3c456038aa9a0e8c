"""The runner's transfers survive what real networks and S3 servers do.

Real runner processes, real FFmpeg, the real S3 server (versitygw), and the
misbehaving servers of `faultservers` on 127.0.0.1: 503 SlowDown answers, an
https origin that refuses HEAD, trickles, or changes its file mid-download, and
a runner SIGKILLed in the middle of a multipart upload.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dev.services import s3server
from tests.functional.runner import faultservers
from tests.functional.runner.conftest import (
    Media,
    Run,
    SlowProxy,
    fetch,
    finish,
    runner_env,
    start_job,
    storage,
)
from transcode_runner.io import checksums

MiB = 1024 * 1024
BIG = {"container": "mkv", "video": {"encoder": "libx264", "preset": "ultrafast", "crf": 0},
       "audio": {"codec": "none"}}  # the noisy source makes this output > 10 MiB
MULTIPART = {"TRANSCODER_UPLOAD_PART_SIZE": str(5 * MiB),
             "TRANSCODER_MULTIPART_THRESHOLD": str(5 * MiB), "TRANSCODER_UPLOAD_CONCURRENCY": "2"}


def run(spec: dict[str, Any], tmp_path: Path, env: dict[str, str], timeout: float = 240) -> Run:
    return finish(start_job(spec, tmp_path, env), tmp_path, None, timeout=timeout)


def open_uploads(server: s3server.S3Server, bucket: str) -> list[dict[str, Any]]:
    return list(server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def assert_one_verified_object(server: s3server.S3Server, bucket: str, done: Run,
                               folder: Path) -> None:
    """The result's checksum is the one of the object S3 now holds, and it is the only one."""
    assert done.code == 0, done.stderr[-3000:]
    (output,) = done.result["outputs"]
    listed = server.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed if o["Key"] == output["url"].split("/", 3)[3]]
    local = fetch(server, output["url"], folder)
    algorithm = output["checksumAlgorithm"]
    expected = {"crc32": lambda: checksums.b64_to_hex(checksums.crc32_full(local)),
                "crc32-composite": lambda: checksums.b64_to_hex(
                    checksums.crc32_composite(local, 5 * MiB)),
                "md5-etag": lambda: checksums.etag(local, 5 * MiB)}[algorithm]()
    assert output["checksum"] in (expected, expected.split("-")[0])
    assert output["bytes"] == local.stat().st_size > 5 * MiB


@pytest.fixture
def source_in_s3(s3_server: s3server.S3Server, bucket: str, media: Media) -> str:
    s3_server.client().upload_file(str(media.noisy), bucket, "in/noisy.mkv")
    return f"s3://{bucket}/in/noisy.mkv"


def test_slowdown_on_the_first_part_and_the_first_ranged_get_is_retried(
    s3_server: s3server.S3Server, bucket: str, source_in_s3: str, tmp_path: Path,
) -> None:
    proxy = faultservers.FaultProxy(s3_server.port, {"part": faultservers.upload_part,
                                                     "get": faultservers.ranged_get})
    try:
        spec = {"source": source_in_s3, "storage": storage(s3_server, endpoint=proxy.endpoint),
                "outputs": [{"name": "big", "destination": f"s3://{bucket}/out/big.mkv", **BIG}]}
        env = runner_env(s3_server, tmp_path, TRANSCODER_DOWNLOAD_PART_SIZE=str(MiB),
                         **MULTIPART)
        done = run(spec, tmp_path, env)
    finally:
        proxy.close()
    assert proxy.fired == {"part": 1, "get": 1}  # both faults happened, and were retried
    assert_one_verified_object(s3_server, bucket, done, tmp_path)
    assert open_uploads(s3_server, bucket) == []


@pytest.fixture
def origin_factory(tmp_path: Path) -> Iterator[Any]:
    made: list[faultservers.TlsOrigin] = []

    def make(data: bytes, mode: str, **kw: Any) -> faultservers.TlsOrigin:
        made.append(faultservers.TlsOrigin(tmp_path, data, mode, **kw))
        return made[-1]

    yield make
    for origin in made:
        origin.close()


def https_job(origin: faultservers.TlsOrigin, server: s3server.S3Server, bucket: str,
              tmp_path: Path, **env: str) -> tuple[dict[str, Any], dict[str, str]]:
    spec = {"source": origin.url + "?X-Amz-Signature=s3cr3t", "storage": storage(server),
            "acceleration": {"mode": "cpu"},
            "outputs": [{"name": "p", "destination": f"s3://{bucket}/p.mp4",
                         "video": {"preset": "ultrafast", "resolution": "360p"}}]}
    return spec, runner_env(server, tmp_path, SSL_CERT_FILE=str(origin.ca_file),
                            TRANSCODER_DOWNLOAD_PART_SIZE=str(128 * 1024), **env)


def test_https_source_that_refuses_head_is_read_with_pinned_ranges(
    s3_server: s3server.S3Server, bucket: str, media: Media, tmp_path: Path,
    origin_factory: Any,
) -> None:
    data = media.hd.read_bytes()
    origin = origin_factory(data, "nohead")
    done = run(*_args(origin, s3_server, bucket, tmp_path))
    assert done.code == 0, done.stderr[-3000:]
    assert done.result["outputs"][0]["url"] == f"s3://{bucket}/p.mp4"
    gets = [headers for method, headers in origin.requests if method == "GET"]
    assert "HEAD" not in [m for m, _ in origin.requests]
    assert gets[0]["range"] == "bytes=0-0" and len(gets) > 3  # probe, then several parts
    assert {h.get("if-range") for h in gets[1:]} == {'"version-1"'}


def _args(origin: Any, server: s3server.S3Server, bucket: str, tmp_path: Path, **env: str
          ) -> tuple[dict[str, Any], Path, dict[str, str]]:
    spec, full_env = https_job(origin, server, bucket, tmp_path, **env)
    return spec, tmp_path, full_env


def test_a_trickling_https_source_fails_as_stalled_within_seconds(
    s3_server: s3server.S3Server, bucket: str, media: Media, tmp_path: Path,
    origin_factory: Any,
) -> None:
    origin = origin_factory(media.hd.read_bytes(), "trickle")
    started = time.monotonic()
    done = run(*_args(origin, s3_server, bucket, tmp_path, TRANSCODER_TRANSFER_STALL_SECONDS="2"),
               timeout=60)
    elapsed = time.monotonic() - started
    assert (done.code, done.result["reason"]) == (75, "SourceStalled"), done.stderr[-2000:]
    assert "s3cr3t" not in done.result["message"] and "s3cr3t" not in done.stderr
    assert elapsed < 20  # the deadline (2 s) plus the runner's start-up, not 50 s per byte
    assert s3_server.client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_a_source_that_changes_between_parts_is_never_spliced(
    s3_server: s3server.S3Server, bucket: str, media: Media, tmp_path: Path,
    origin_factory: Any,
) -> None:
    data = media.hd.read_bytes()
    origin = origin_factory(data, "changing", changed=media.noisy.read_bytes(), switch_after=2)
    done = run(*_args(origin, s3_server, bucket, tmp_path,
                      TRANSCODER_DOWNLOAD_CONCURRENCY="1"))
    assert (done.code, done.result["reason"]) == (75, "SourceChanged"), done.stderr[-2000:]
    assert any(h.get("if-range") == '"version-1"' for m, h in origin.requests[2:])
    assert s3_server.client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_a_sigkilled_upload_is_aborted_by_the_next_attempt_and_no_one_elses(
    s3_server: s3server.S3Server, bucket: str, media: Media, tmp_path: Path,
    slow_proxy: SlowProxy,
) -> None:
    key = "out/killed.mkv"
    spec = {"source": str(media.noisy), "acceleration": {"mode": "cpu"},
            "outputs": [{"name": "big", "destination": f"s3://{bucket}/{key}", **BIG}]}
    client = s3_server.client()
    slow = {**spec, "storage": storage(s3_server, endpoint=slow_proxy.endpoint)}
    proc = start_job(slow, tmp_path, runner_env(s3_server, tmp_path, **MULTIPART))
    deadline = time.monotonic() + 180
    while True:  # a part arrived: the runner has recorded its UploadId before sending it
        uploads = open_uploads(s3_server, bucket)
        if uploads and client.list_parts(Bucket=bucket, Key=key,
                                         UploadId=uploads[0]["UploadId"]).get("Parts"):
            break
        assert proc.poll() is None, "runner ended before a part was uploaded"
        assert time.monotonic() < deadline, "no part uploaded"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    (left,) = open_uploads(s3_server, bucket)  # what a killed attempt leaves behind
    foreign = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    try:
        done = run({**spec, "storage": storage(s3_server)}, tmp_path,
                   runner_env(s3_server, tmp_path, **MULTIPART))
        assert_one_verified_object(s3_server, bucket, done, tmp_path)
        remaining = [u["UploadId"] for u in open_uploads(s3_server, bucket)]
        assert left["UploadId"] not in remaining
        assert remaining == [foreign]  # another writer's upload of the same key is not ours
    finally:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=foreign)
    assert open_uploads(s3_server, bucket) == []
