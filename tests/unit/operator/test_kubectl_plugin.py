"""`kubectl transcode`: the job it builds from flags, its progress line and follow loop."""

from __future__ import annotations

import io

import pytest

from transcode_operator.app import kubectl_plugin as plugin


def _job(*argv: str) -> dict:  # type: ignore[type-arg]
    args = plugin._parser().parse_args(["submit", *argv])
    return plugin.build_job(args)


def test_submit_builds_a_valid_job() -> None:
    job = _job("s3://media-in/My Trailer.mov", "--dest", "s3://media-out/t/720p.mp4",
               "--resolution", "720p", "--preset", "fast", "--mode", "cpu", "--secret", "s3",
               "--endpoint", "http://minio:9000", "--path-style")
    assert job["kind"] == "TranscodeJob" and job["metadata"] == {"generateName": "my-trailer-"}
    spec = job["spec"]
    assert spec["source"] == "s3://media-in/My Trailer.mov"
    assert spec["outputs"][0]["name"] == "720p"
    assert spec["outputs"][0]["video"]["preset"] == "fast"
    assert spec["acceleration"]["mode"] == "cpu"
    assert spec["storage"] == {"endpoint": "http://minio:9000", "pathStyle": True,
                               "credentialsSecretRef": {
                                   "name": "s3", "accessKeyIdKey": "AWS_ACCESS_KEY_ID",
                                   "secretAccessKeyKey": "AWS_SECRET_ACCESS_KEY"}}


def test_submit_names_and_multiple_outputs() -> None:
    job = _job("https://cdn.example/a.mp4", "--dest", "s3://o-ut/a.mp4", "--dest",
               "s3://o-ut/b.mp4", "--name", "mine")
    assert job["metadata"] == {"name": "mine"}
    assert [o["name"] for o in job["spec"]["outputs"]] == ["h264-0", "h264-1"]


def test_submit_refuses_what_the_crd_would() -> None:
    with pytest.raises(plugin.api_errors.SpecError, match="destination"):
        _job("s3://media-in/a.mov", "--dest", "gs://elsewhere/a.mp4")
    with pytest.raises(plugin.api_errors.SpecError, match="acceleration.mode"):
        _job("s3://media-in/a.mov", "--dest", "s3://o-ut/a.mp4", "--mode", "gpu",
             "--preset", "cpu")


def test_render_progress_line() -> None:
    line = plugin.render({"phase": "Running", "progress": {"percent": 50, "fps": 120.4,
                                                           "speed": 2.5}}, width=10)
    assert line == "[#####-----]  50%  Running  120 fps  2.50x"
    assert "GPUUnschedulable" in plugin.render({"phase": "Pending", "reason": "GPUUnschedulable"})


def test_follow_until_succeeded() -> None:
    states = iter([{"phase": "Scheduling"}, {"phase": "Running", "progress": {"percent": 30}},
                   {"phase": "Succeeded", "progress": {"percent": 100}, "message": "done",
                    "metadata": {"encoderUsed": "libx264", "gpuEnabled": False,
                                 "gpuFallback": True, "fallbackReason": "GPUUnschedulable"},
                    "outputs": [{"name": "720p", "url": "s3://o/x.mp4", "bytes": 7}]}])
    out = io.StringIO()
    code = plugin.follow(lambda: next(states), out, sleep=lambda _: None, tty=False)
    text = out.getvalue()
    assert code == 0
    assert " 30%  Running" in text and "100%  Succeeded" in text
    assert "GPU fallback: GPUUnschedulable" in text and "s3://o/x.mp4 (7 bytes)" in text


def test_follow_failed_and_gone() -> None:
    out = io.StringIO()
    assert plugin.follow(lambda: {"phase": "Failed", "reason": "SourceNotFound"}, out,
                         sleep=lambda _: None, tty=True) == 1
    assert plugin.follow(lambda: None, io.StringIO(), sleep=lambda _: None) == 2
