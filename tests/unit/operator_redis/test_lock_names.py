"""Output locks name objects canonically and refuse without naming another namespace's job."""

from __future__ import annotations

from tests.unit.api import cases
from transcode_api import spec as job_spec
from transcode_operator.adapters import locks


def _spec(*destinations: str, endpoint: str = "http://127.0.0.1:9000") -> job_spec.TranscodeJobSpec:
    data = cases.valid_spec()
    data["storage"]["endpoint"] = endpoint
    data["outputs"] = [{"name": f"o{i}", "destination": d} for i, d in enumerate(destinations)]
    return job_spec.parse_spec(data)


def test_locks_are_on_endpoint_bucket_and_key() -> None:
    a = locks.objects(_spec("s3://media-out/a.mp4"))
    b = locks.objects(_spec("s3://media-out/a.mp4", endpoint="http://127.0.0.1:9000/"))
    other = locks.objects(_spec("s3://media-out/a.mp4", endpoint="http://127.0.0.1:9001"))
    assert a == b == ["127.0.0.1:9000/media-out/a.mp4"] and other != a


def test_refusal_names_a_job_of_the_same_namespace_only() -> None:
    held = {"127.0.0.1:9000/media-out/a.mp4": locks.LockOwner("uid-x", "tenant-b/secret-job")}
    message = locks.refusal("tenant-a", held)
    assert "destination 127.0.0.1:9000/media-out/a.mp4 is in use by another job" in message
    assert "tenant-b" not in message and "secret-job" not in message
    same = locks.refusal("tenant-b", held)
    assert "tenant-b/secret-job" in same
