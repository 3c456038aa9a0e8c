"""Operator settings: YAML file first, TRANSCODER_* environment over it, seed names."""

from __future__ import annotations

import ast
from pathlib import Path

import pydantic
import pytest

from transcode_operator.domain import settings


def test_defaults_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.CONFIG_ENV, raising=False)
    s = settings.load()
    assert s.runner.command == ["transcode-runner", "run"]
    assert s.gpu.runtime_class_name == "nvidia"
    assert (s.retry.backoff_base_seconds, s.retry.backoff_cap_seconds) == (10, 360)
    assert s.status.progress_interval_seconds == 5
    assert s.redis.url is None and s.enable_gpu is True and s.max_concurrent == 0
    assert s.kopf.liveness_endpoint == "http://0.0.0.0:8081/healthz"


def test_yaml_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "operator.yaml"
    cfg.write_text("enableGPU: false\nmaxConcurrent: 4\nrunner:\n  image: runner:2\n"
                   "  terminationGracePeriodSeconds: 60\nretry:\n  backoffBaseSeconds: 2\n")
    monkeypatch.setenv(settings.CONFIG_ENV, str(cfg))
    s = settings.load()
    assert (s.enable_gpu, s.max_concurrent, s.runner.image) == (False, 4, "runner:2")
    assert s.runner.termination_grace_period_seconds == 60
    assert s.retry.backoff_base_seconds == 2
    monkeypatch.setenv("TRANSCODER_ENABLEGPU", "true")  # the seed's spelling
    monkeypatch.setenv("TRANSCODER_MAXCONCURRENT", "9")
    monkeypatch.setenv("TRANSCODER_RUNNER__IMAGE", "runner:3")
    monkeypatch.setenv("TRANSCODER_RUNNER__COMMAND", '["python3", "-c", "pass"]')
    monkeypatch.setenv("TRANSCODER_REDIS__URL", "redis://localhost:6379/0")
    s = settings.load()
    assert (s.enable_gpu, s.max_concurrent, s.runner.image) == (True, 9, "runner:3")
    assert s.runner.command == ["python3", "-c", "pass"]
    assert s.runner.termination_grace_period_seconds == 60  # still from the file
    assert s.redis.url == "redis://localhost:6379/0"
    monkeypatch.delenv("TRANSCODER_MAXCONCURRENT")
    monkeypatch.setenv("TRANSCODER_MAX_CONCURRENT", "5")  # the grouped-style spelling
    monkeypatch.setenv("MAX_CONCURRENT", "77")  # unprefixed: never read
    assert settings.load().max_concurrent == 5
    assert settings.load(max_concurrent=2, enable_gpu=False).max_concurrent == 2


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSCODER_RETRY__BACKOFFBASESECONDS", "-1")
    with pytest.raises(pydantic.ValidationError):
        settings.load()


def _classes() -> list[ast.ClassDef]:
    """Every class of the settings package (one module per group)."""
    return [n for path in sorted(Path(settings.__file__).parent.glob("*.py"))
            for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)]


def test_every_field_is_documented() -> None:
    classes = _classes()
    assert {"Settings", "RunnerSettings", "LeaderElectionSettings"} <= {c.name for c in classes}
    for cls in classes:
        body = cls.body
        for i, node in enumerate(body):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) \
                    and node.target.id != "model_config":
                doc = body[i + 1] if i + 1 < len(body) else None
                if cls.name == "Settings" and node.target.id in {
                        "runner", "gpu", "retry", "status", "redis", "limits", "locks", "http",
                        "kopf", "leader_election", "failure_policy"}:
                    continue  # groups: documented by their own class docstrings
                assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant), (
                    f"{cls.name}.{node.target.id} has no docstring")
