"""Bad sources fail fast with exit 65; SIGTERM mid-upload leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from dev.services import s3server
from tests.functional.runner.conftest import (
    Media,
    Run,
    SlowProxy,
    finish,
    runner_env,
    start_job,
    storage,
)
from transcode_api import contract


@pytest.mark.parametrize(("source", "reason", "words"), [
    ("empty", "SourceEmpty", "empty"),
    ("truncated", "SourceUnreadable", "moov atom not found"),
    ("text", "SourceUnreadable", "Invalid data found"),
])
def test_bad_source_exits_65_with_a_one_line_reason(
    run_job: Callable[..., Run], bucket: str, media: Media, source: str, reason: str, words: str,
) -> None:
    started = time.monotonic()
    run = run_job({
        "source": str(getattr(media, source)),
        "acceleration": {"mode": "cpu"},
        "outputs": [{"name": "x", "destination": f"s3://{bucket}/x.mp4"}],
    })
    assert run.code == 65
    assert (run.result["outcome"], run.result["exitCode"], run.result["reason"]) == (
        "Failed", 65, reason)
    assert words in run.result["message"] and "\n" not in run.result["message"]
    assert run.termination == run.result
    assert time.monotonic() - started < 60


def test_source_missing_in_s3_is_bad_input(run_job: Callable[..., Run], bucket: str) -> None:
    run = run_job({"source": f"s3://{bucket}/nope.mov", "acceleration": {"mode": "cpu"},
                   "outputs": [{"name": "x", "destination": f"s3://{bucket}/x.mp4"}]})
    assert run.code == 65 and "does not exist" in run.result["message"]


def test_sigterm_mid_upload_aborts_it(
    s3_server: s3server.S3Server, bucket: str, media: Media, tmp_path: Path,
    slow_proxy: SlowProxy,
) -> None:
    spec = {
        "source": str(media.noisy),
        "storage": storage(s3_server, endpoint=slow_proxy.endpoint),
        "outputs": [{"name": "big", "destination": f"s3://{bucket}/big.mkv", "container": "mkv",
                     "video": {"encoder": "libx264", "preset": "ultrafast", "crf": 0},
                     "audio": {"codec": "none"}}],
    }
    env = runner_env(s3_server, tmp_path, TRANSCODER_UPLOAD_PART_SIZE=str(5 * 1024 * 1024),
                     TRANSCODER_UPLOAD_CONCURRENCY="2")
    proc = start_job(spec, tmp_path, env)
    client = s3_server.client()
    deadline = time.monotonic() + 120
    while not client.list_multipart_uploads(Bucket=bucket).get("Uploads"):
        assert proc.poll() is None, "runner ended before its upload started"
        assert time.monotonic() < deadline, "no multipart upload started"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    run = finish(proc, tmp_path, None, timeout=60)
    assert run.code == 75
    assert run.result["reason"] == "Cancelled"
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_progress_in_redis_is_monotonic_and_ends_at_100(
    s3_server: s3server.S3Server, bucket: str, media: Media, tmp_path: Path, redis_url: str,
) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    pubsub.subscribe("kt:progress")
    pubsub.get_message(timeout=5)  # the subscribe confirmation
    spec = {"source": str(media.hd), "storage": storage(s3_server),
            "acceleration": {"mode": "cpu"},
            "outputs": [{"name": "p", "destination": f"s3://{bucket}/p.mp4",
                         "video": {"preset": "ultrafast", "resolution": "720p"}}]}
    # The key is the attempt's: the runner Pod's uid (downward API) is part of it.
    pod_uid = "6f1c2d3e-0000-4000-8000-000000000001"
    key = contract.progress_key("tests", "functional", pod_uid)
    env = runner_env(s3_server, tmp_path, TRANSCODER_REDIS_URL=redis_url,
                     TRANSCODER_REDIS_PROGRESS_INTERVAL_SECONDS="0",
                     **{contract.ENV_POD_UID: pod_uid})
    proc = start_job(spec, tmp_path, env)
    percents: list[int] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message is None:
            if proc.poll() is not None:
                break  # exited, and every message it published has been read
            continue
        if message["type"] == "message":
            assert message["data"] == key.encode()
            value = cast(bytes | None, client.get(key))
            assert value is not None
            percents.append(json.loads(value)["percent"])
    run = finish(proc, tmp_path, None)
    assert run.code == 0, run.stderr[-2000:]
    assert len(percents) >= 2 and percents == sorted(percents) and percents[-1] == 100
    assert 0 < cast(int, client.ttl(key)) <= 3600


def test_probe_json_on_a_machine_without_gpu() -> None:
    out = subprocess.run([sys.executable, "-m", "transcode_runner", "probe", "--json",
                          "--codec", "h264"], capture_output=True, text=True, timeout=60,
                         check=True)
    document = json.loads(out.stdout)
    assert document["available"] is False and document["deviceCount"] == 0
    (decision,) = document["decisions"]
    assert decision["encoder"] == "h264_nvenc" and not decision["usable"]
    assert decision["reason"] in ("NVMLUnavailable", "NoGPU")


def test_probe_report_publishes_the_node_to_redis_until_stopped(redis_url: str) -> None:
    import redis

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSCODER_")}
    env.update(TRANSCODER_REDIS_URL=redis_url, NODE_NAME="gpu-node-7",
               TRANSCODER_PROBE_REPORT_INTERVAL_SECONDS="0.5")
    proc = subprocess.Popen([sys.executable, "-m", "transcode_runner", "probe", "--report",
                             "--codec", "h264"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 60
        while (raw := cast(bytes | None, client.get("kt:gpu:gpu-node-7"))) is None:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.1)
        document = json.loads(raw)
        assert document["node"] == "gpu-node-7" and document["deviceCount"] == 0
        assert document["decisions"][0]["encoder"] == "h264_nvenc"
        assert 0 < cast(int, client.ttl("kt:gpu:gpu-node-7")) <= 30
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
