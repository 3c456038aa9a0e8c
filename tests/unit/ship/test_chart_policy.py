"""The chart's tenant-policy values: safe by default, and what an administrator sets reaches the operator.

Rendered with the real Helm CLI: the default config allows AWS S3 only, ambient
credentials nowhere and only the GPU toleration; values an administrator sets load
as the operator's settings; the schema refuses what the operator would refuse.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.ship.helmchart import Chart, one
from transcode_operator.domain import settings


def _loaded(chart: Chart, values: dict[str, object] | None, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> settings.Settings:
    cm = one(chart.render(values), "ConfigMap", "-operator")
    path = tmp_path / "config.yaml"
    path.write_text(cm["data"]["config.yaml"])
    monkeypatch.setenv(settings.CONFIG_ENV, str(path))
    return settings.load()


def test_default_policy_is_aws_only_no_ambient_gpu_toleration_only(
        chart: Chart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = _loaded(chart, None, tmp_path, monkeypatch)
    assert s.storage_policy.endpoints == [] and s.storage_policy.allow_aws_s3
    assert s.storage_policy.ambient_credentials_namespaces == []
    assert [(t.key, t.operator, t.effect) for t in s.placement_policy.tolerations] == [
        ("nvidia.com/gpu", "Exists", "NoSchedule")]
    assert s.placement_policy.priority_class_names == [] and s.placement_policy.node_selector == {}


def test_an_administrators_policy_reaches_the_operator(
        chart: Chart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    values = {"operator": {"config": {
        "storagePolicy": {"endpoints": ["minio.media.svc", ".s3.example.com"],
                          "ambientCredentialsNamespaces": ["media-*"]},
        "placementPolicy": {"priorityClassNames": ["media-high"],
                            "nodeSelector": {"topology.kubernetes.io/zone": ["eu-*"]}}}}}
    s = _loaded(chart, values, tmp_path, monkeypatch)
    assert s.storage_policy.endpoints == ["minio.media.svc", ".s3.example.com"]
    assert s.storage_policy.ambient_credentials_namespaces == ["media-*"]
    assert s.placement_policy.priority_class_names == ["media-high"]
    assert s.placement_policy.node_selector == {"topology.kubernetes.io/zone": ["eu-*"]}
    assert len(s.placement_policy.tolerations) == 1  # the default list is kept


def test_notifications_allow_no_sink_by_default_and_an_administrators_list_loads(
        chart: Chart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = _loaded(chart, None, tmp_path, monkeypatch)
    assert s.notifications.sinks == [] and s.notifications.network_allow == []
    assert s.notifications.retry_for_seconds == 86400
    values = {"operator": {"config": {"notifications": {
        "sinks": ["broker-ingress.knative-eventing.svc.cluster.local"],
        "networkAllow": ["10.96.0.0/12"], "retryForSeconds": 3600}}}}
    s = _loaded(chart, values, tmp_path, monkeypatch)
    assert s.notifications.sinks == ["broker-ingress.knative-eventing.svc.cluster.local"]
    assert s.notifications.network_allow == ["10.96.0.0/12"]
    assert s.notifications.retry_for_seconds == 3600


@pytest.mark.parametrize("setting", [
    "operator.config.placementPolicy.tolerations[0].key=x,"
    "operator.config.placementPolicy.tolerations[0].operator=Maybe",
    "operator.config.placementPolicy.affinityMaxBytes=-1",
    "operator.config.storagePolicy.endpoint[0]=typo",
    "operator.config.notifications.sink[0]=typo",
    "operator.config.notifications.timeoutSeconds=0",
])
def test_schema_refuses_bad_policy_values(chart: Chart, setting: str) -> None:
    assert chart.template(None, "--set", setting, check=False).returncode != 0
