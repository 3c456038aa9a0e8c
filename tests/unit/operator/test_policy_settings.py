"""The tenant-policy settings groups: safe defaults, YAML and environment spellings, docs."""

from __future__ import annotations

import ast
from pathlib import Path

import pydantic
import pytest

from transcode_operator.domain import settings
from transcode_operator.domain.settings import placement, tenancy


def test_defaults_allow_aws_the_gpu_toleration_and_nothing_else(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.CONFIG_ENV, raising=False)
    s = settings.load()
    assert s.storage_policy.endpoints == [] and s.storage_policy.allow_aws_s3 is True
    assert s.storage_policy.ambient_credentials_namespaces == []
    assert [t.model_dump() for t in s.placement_policy.tolerations] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "value": "*", "effect": "NoSchedule"}]
    assert s.placement_policy.priority_class_names == [] and s.placement_policy.node_selector == {}
    assert (s.placement_policy.affinity_max_bytes, s.placement_policy.affinity_max_terms) == (
        8192, 16)


def test_yaml_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "operator.yaml"
    cfg.write_text("storagePolicy:\n  endpoints: [127.0.0.1]\n  ambientCredentialsNamespaces: "
                   "[media-*]\nplacementPolicy:\n  priorityClassNames: [media-high]\n"
                   "  nodeSelector: {pool: ['*']}\n  tolerations: [{key: pool, operator: Exists}]\n")
    monkeypatch.setenv(settings.CONFIG_ENV, str(cfg))
    s = settings.load()
    assert s.storage_policy.endpoints == ["127.0.0.1"]
    assert s.storage_policy.ambient_credentials_namespaces == ["media-*"]
    assert s.placement_policy.priority_class_names == ["media-high"]
    assert s.placement_policy.tolerations[0].key == "pool"
    monkeypatch.setenv("TRANSCODER_STORAGE_POLICY__ENDPOINTS", '[".svc.cluster.local"]')
    assert settings.load().storage_policy.endpoints == [".svc.cluster.local"]


def test_unknown_or_bad_policy_keys_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError):
        settings.Settings(placement_policy={"tolerations": [{"key": "a", "operator": "Maybe"}]})
    with pytest.raises(pydantic.ValidationError):
        settings.Settings(storage_policy={"endpoint": ["typo"]})


@pytest.mark.parametrize("module", [placement, tenancy])
def test_every_field_is_documented(module: object) -> None:
    tree = ast.parse(Path(str(getattr(module, "__file__", ""))).read_text())
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for i, node in enumerate(cls.body):
            if isinstance(node, ast.AnnAssign):
                doc = cls.body[i + 1] if i + 1 < len(cls.body) else None
                assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant), (
                    f"{cls.name}.{ast.unparse(node.target)} has no docstring")
