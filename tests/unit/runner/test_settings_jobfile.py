"""Settings names match the Pod contract; job files and env specs load as the model says."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from transcode_api import contract
from transcode_runner.domain import errors
from transcode_runner.io import jobfile, settings


def test_every_pod_variable_of_the_contract_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        contract.ENV_JOB_SPEC: "{}",
        contract.ENV_JOB_NAME: "trailer",
        contract.ENV_JOB_NAMESPACE: "media",
        contract.ENV_JOB_UID: "1234",
        contract.ENV_ATTEMPT: "3",
        contract.ENV_GPU_REQUESTED: "true",
        contract.ENV_REDIS_URL: "redis://redis:6379/0",
        contract.ENV_SCRATCH_DIR: "/scratch",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    cfg = settings.Settings()
    assert (cfg.job_spec, cfg.job_name, cfg.job_namespace, cfg.job_uid, cfg.attempt,
            cfg.gpu_requested, cfg.redis_url, cfg.scratch_dir) == (
        "{}", "trailer", "media", "1234", 3, True, "redis://redis:6379/0", Path("/scratch"))


def test_defaults_are_the_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRANSCODER_CONFIG_FILE", raising=False)
    cfg = settings.Settings()
    assert cfg.upload_part_size == cfg.multipart_threshold == 10 * 1024 * 1024
    assert cfg.upload_concurrency == 10 and cfg.min_free_gpu_memory_mib == 500
    assert cfg.status_interval_seconds == 5 and cfg.redis_progress_ttl_seconds == 3600
    assert cfg.termination_message_path == Path("/dev/termination-log")


def test_yaml_file_first_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "runner.yaml"
    config.write_text("upload_concurrency: 4\nstall_timeout_seconds: 30\n")
    monkeypatch.setenv("TRANSCODER_CONFIG_FILE", str(config))
    monkeypatch.setenv("TRANSCODER_STALL_TIMEOUT_SECONDS", "45")
    cfg = settings.Settings()
    assert (cfg.upload_concurrency, cfg.stall_timeout_seconds) == (4, 45)


def test_every_setting_has_a_docstring() -> None:
    tree = ast.parse(inspect.getsource(settings.Settings))
    body = tree.body[0].body  # type: ignore[attr-defined]
    documented = {
        node.target.id
        for node, following in zip(body, body[1:], strict=False)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
    }
    assert set(settings.Settings.model_fields) <= documented


SPEC_YAML = """
apiVersion: kubetranscoder.io/v1alpha1
kind: TranscodeJob
metadata: {name: demo, namespace: media}
spec:
  source: ./in/trailer.mov
  outputs:
    - name: hd
      destination: out/hd.mp4
      video: {codec: h264, resolution: 720p}
    - name: s3
      destination: s3://media-out/hd.mp4
"""


def test_standalone_file_with_local_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.yaml").write_text(SPEC_YAML)
    job = jobfile.from_file(tmp_path / "job.yaml")
    assert (job.name, job.namespace) == ("demo", "media")
    assert job.spec.source == str(tmp_path / "in" / "trailer.mov")
    assert [o.destination for o in job.spec.outputs] == [str(tmp_path / "out" / "hd.mp4"),
                                                         "s3://media-out/hd.mp4"]


def test_standalone_file_still_applies_the_models_rules(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text(
        "source: /in.mov\noutputs:\n  - name: a\n    destination: /a.mp4\n"
        "    video: {encoder: h264_nvenc, twoPass: true, bitrate: 1000000}\n")
    with pytest.raises(errors.BadInput, match="twoPass") as caught:
        jobfile.from_file(tmp_path / "job.yaml")
    assert caught.value.exit_code == contract.ExitCode.BAD_INPUT


def test_frozen_spec_from_the_environment() -> None:
    job = jobfile.from_env('{"source":"s3://a-b/c.mov","outputs":[{"name":"x",'
                           '"destination":"s3://a-b/x.mp4"}]}', "trailer", "media")
    assert job.spec.outputs[0].name == "x" and job.name == "trailer"
    with pytest.raises(errors.BadInput):
        jobfile.from_env(None, None, None)
    with pytest.raises(errors.BadInput):
        jobfile.from_env('{"source": "ftp://x"}', None, None)
