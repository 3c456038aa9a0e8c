"""Checks that the real test services do what the runner and operator rely on.

The runner uploads with parallel multipart (10 MiB parts, checksums verified,
aborted on failure) and downloads with ranged GETs; the operator aborts
unfinished uploads on delete and relays progress through Redis, which may go
away mid-job and come back at the same URL. These tests run those operations
against the servers from `dev.services.fixtures`, so a later failure in
transfer or relay code is not a server gap.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import zlib

import pytest
import redis
from botocore.exceptions import ClientError

from dev.services import redisserver, s3relay, s3server

MIB = 1024 * 1024
PART = 10 * MIB


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _checksum(algorithm: str, data: bytes) -> bytes:
    if algorithm == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    return hashlib.sha256(data).digest()


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA256"])
def test_multipart_upload_round_trip_with_checksums(
    s3_server: s3server.S3Server, bucket: str, algorithm: str
) -> None:
    s3 = s3_server.client()
    parts_data = [os.urandom(PART), os.urandom(PART), os.urandom(3 * MIB)]
    key = "out/720p.mp4"
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ContentType="video/mp4", ChecksumAlgorithm=algorithm
    )["UploadId"]
    parts = []
    for number, data in enumerate(parts_data, start=1):
        answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                Body=data, ChecksumAlgorithm=algorithm)
        assert answer[f"Checksum{algorithm}"] == _b64(_checksum(algorithm, data))
        parts.append({"PartNumber": number, "ETag": answer["ETag"],
                      f"Checksum{algorithm}": answer[f"Checksum{algorithm}"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})

    # A multipart object's checksum is the checksum of the part checksums, "-<parts>".
    composite = _b64(_checksum(algorithm, b"".join(_checksum(algorithm, d) for d in parts_data)))
    assert done[f"Checksum{algorithm}"] == f"{composite}-3"
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ContentLength"] == sum(map(len, parts_data))
    assert head["ContentType"] == "video/mp4"
    assert head[f"Checksum{algorithm}"] == f"{composite}-3"
    attrs = s3.get_object_attributes(Bucket=bucket, Key=key,
                                     ObjectAttributes=["Checksum", "ObjectSize", "ETag"])
    assert attrs["Checksum"][f"Checksum{algorithm}"] == f"{composite}-3"
    assert attrs["ObjectSize"] == head["ContentLength"]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"".join(parts_data)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_full_object_crc32_multipart_checksum_is_that_of_the_whole_file(
    s3_server: s3server.S3Server, bucket: str
) -> None:
    s3 = s3_server.client()
    parts_data = [os.urandom(PART), os.urandom(MIB)]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="whole", ChecksumAlgorithm="CRC32",
                                           ChecksumType="FULL_OBJECT")["UploadId"]
    parts = []
    for number, data in enumerate(parts_data, start=1):
        answer = s3.upload_part(Bucket=bucket, Key="whole", UploadId=upload_id,
                                PartNumber=number, Body=data, ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": number, "ETag": answer["ETag"],
                      "ChecksumCRC32": answer["ChecksumCRC32"]})
    whole = _b64(_checksum("CRC32", b"".join(parts_data)))
    done = s3.complete_multipart_upload(Bucket=bucket, Key="whole", UploadId=upload_id,
                                        MultipartUpload={"Parts": parts},
                                        ChecksumCRC32=whole, ChecksumType="FULL_OBJECT")
    assert (done["ChecksumCRC32"], done["ChecksumType"]) == (whole, "FULL_OBJECT")


def test_put_with_a_wrong_checksum_is_refused(s3_server: s3server.S3Server, bucket: str) -> None:
    s3 = s3_server.client()
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"frames",
                      ChecksumSHA256=_b64(hashlib.sha256(b"other frames").digest()))
    assert refused.value.response["Error"]["Code"] == "BadDigest"
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_ranged_get_returns_exactly_the_asked_bytes(
    s3_server: s3server.S3Server, bucket: str
) -> None:
    s3 = s3_server.client()
    data = os.urandom(PART + 12345)
    s3.put_object(Bucket=bucket, Key="in/trailer.mov", Body=data, ChecksumAlgorithm="CRC32")
    got = s3.get_object(Bucket=bucket, Key="in/trailer.mov", Range=f"bytes={PART}-{PART + 999}")
    assert got["ContentRange"] == f"bytes {PART}-{PART + 999}/{len(data)}"
    assert got["Body"].read() == data[PART:PART + 1000]
    tail = s3.get_object(Bucket=bucket, Key="in/trailer.mov", Range="bytes=-100")
    assert tail["Body"].read() == data[-100:]


def test_abort_leaves_no_upload_and_no_object(s3_server: s3server.S3Server, bucket: str) -> None:
    s3 = s3_server.client()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="half")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="half", UploadId=upload_id, PartNumber=1,
                   Body=os.urandom(PART))
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("half", upload_id)]

    s3.abort_multipart_upload(Bucket=bucket, Key="half", UploadId=upload_id)

    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=bucket, Key="half")
    assert missing.value.response["Error"]["Code"] in ("404", "NoSuchKey")


def test_wrong_secret_is_refused(s3_server: s3server.S3Server, bucket: str) -> None:
    import boto3

    intruder = boto3.client("s3", endpoint_url=s3_server.endpoint, region_name=s3_server.region,
                            aws_access_key_id=s3_server.access_key,
                            aws_secret_access_key="not-" + s3_server.secret_key)
    with pytest.raises(ClientError) as refused:
        intruder.list_objects_v2(Bucket=bucket)
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_s3_server_stop_ends_its_process() -> None:
    server = s3server.S3Server(s3server.build_binary()).start()
    pid = server.pid
    assert pid is not None
    assert server.client().list_buckets()["Buckets"] == []
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_redis_set_get(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as r:
        assert r.set("job:trailer-720p:progress", "42.5")
        assert r.get("job:trailer-720p:progress") == b"42.5"
        assert r.dbsize() == 1


def test_redis_stop_and_start_on_the_same_url(
    redis_server: redisserver.RedisServer, redis_url: str
) -> None:
    r = redis.Redis.from_url(redis_url, socket_timeout=2)
    r.set("k", "v")
    old_pid = redis_server.pid
    assert old_pid is not None

    redis_server.stop()
    with pytest.raises(redis.ConnectionError):
        r.ping()
    with pytest.raises(ProcessLookupError):
        os.kill(old_pid, 0)

    redis_server.start()
    assert redis_server.pid != old_pid
    assert r.ping()  # the same client reconnects to the same URL
    assert r.get("k") is None  # nothing persisted
    r.close()


def test_relay_with_a_rate_is_never_faster_than_it_and_keeps_bytes_intact(
    s3_server: s3server.S3Server, bucket: str
) -> None:
    """`bench/runner_pipeline.py`'s speed-limited S3 (`s3relay.Relay(rate=)`): an upload
    (botocore sends `Expect: 100-continue`, which the relay answers) and a download through
    it each take at least size/rate, and the bytes come back unchanged."""
    data = os.urandom(3 * MIB)
    relay = s3relay.Relay(s3_server.port, s3relay.never, rate=2 * MIB)
    try:
        client = s3_server.client(relay.endpoint)
        started = time.monotonic()
        client.put_object(Bucket=bucket, Key="paced", Body=data)
        put_seconds = time.monotonic() - started
        started = time.monotonic()
        back = client.get_object(Bucket=bucket, Key="paced")["Body"].read()
        get_seconds = time.monotonic() - started
    finally:
        relay.close()
    assert back == data
    assert put_seconds >= 1.4 and get_seconds >= 1.4  # 3 MiB at 2 MiB/s: 1.5 s at the least
