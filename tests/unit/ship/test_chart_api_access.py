"""The chart's side of the HTTP API's access control: who may read it, and Prometheus's token.

Renders the chart with the real Helm CLI: the reader ClusterRoles are the
generated API_READERS (the job reader for RoleBindings, the GPU status reader
on the RBAC-only resource gpustatus, the metrics reader on the URL /metrics),
gated by rbac.create; the ServiceMonitor
sends the Prometheus ServiceAccount token by default, an `authorization` Secret
when given one, and nothing when both are emptied; the rendered operator config
turns auth on with /metrics protected and /healthz open.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.unit import rbac_rules
from tests.unit.ship.helmchart import Chart, find, one
from transcode_operator.app import rbac

SA_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
MONITORED: dict[str, Any] = {"monitoring": {"serviceMonitor": {"enabled": True}}}


def _endpoint(chart: Chart, **service_monitor: Any) -> dict[str, Any]:
    values = {"monitoring": {"serviceMonitor": {"enabled": True, **service_monitor}}}
    endpoint: dict[str, Any] = one(chart.render(values), "ServiceMonitor")["spec"]["endpoints"][0]
    return endpoint


def test_reader_cluster_roles_grant_exactly_the_api_routes(chart: Chart) -> None:
    objs = chart.render({})
    roles = {o["metadata"]["name"]: o["rules"] for o in find(objs, "ClusterRole", "-reader")}
    assert roles == {
        "kt-kube-transcoder-job-reader": [
            {"apiGroups": ["kubetranscoder.io"], "resources": ["transcodejobs"], "verbs": ["get"]}],
        "kt-kube-transcoder-gpu-status-reader": [
            {"apiGroups": ["kubetranscoder.io"], "resources": ["gpustatus"], "verbs": ["get"]}],
        "kt-kube-transcoder-metrics-reader": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}],
    }
    assert [r["rules"] for r in rbac.api_reader_roles()] == list(roles.values())
    assert not find(objs, "ClusterRoleBinding", "-reader"), "the chart binds no reader itself"
    assert not find(chart.render({"rbac": {"create": False}}), "ClusterRole")


def test_operator_may_create_token_and_access_reviews(chart: Chart) -> None:
    role = one(chart.render({}), "ClusterRole", "-operator")["rules"]
    assert rbac_rules.allows(role, ("authentication.k8s.io", "tokenreviews", "create"))
    assert rbac_rules.allows(role, ("authorization.k8s.io", "subjectaccessreviews", "create"))


def test_service_monitor_sends_prometheus_its_service_account_token(chart: Chart) -> None:
    endpoint = _endpoint(chart)
    assert endpoint["path"] == "/metrics" and endpoint["bearerTokenFile"] == SA_TOKEN
    assert "authorization" not in endpoint


def test_service_monitor_authorization_secret_wins_over_the_token_file(chart: Chart) -> None:
    auth = {"type": "Bearer", "credentials": {"name": "prometheus-token", "key": "token"}}
    endpoint = _endpoint(chart, authorization=auth)
    assert endpoint["authorization"] == auth and "bearerTokenFile" not in endpoint
    endpoint = _endpoint(chart, bearerTokenFile="")
    assert "bearerTokenFile" not in endpoint and "authorization" not in endpoint


@pytest.mark.parametrize("bad", [
    {"authorization": {"type": "Bearer", "credentials": {"name": "s"}}},
    {"authorization": {"token": "abc"}},
])
def test_schema_refuses_a_malformed_authorization(chart: Chart, bad: dict[str, Any]) -> None:
    out = chart.template({"monitoring": {"serviceMonitor": {"enabled": True, **bad}}}, check=False)
    assert out.returncode != 0 and "values don't meet the specifications" in out.stderr


def test_rendered_config_protects_the_api_and_metrics_but_not_healthz(chart: Chart) -> None:
    cm = one(chart.render({}), "ConfigMap", "-operator")
    http = yaml.safe_load(cm["data"]["config.yaml"])["http"]
    assert http["auth"]["enabled"] is True
    assert http["auth"]["requireForMetrics"] is True and http["auth"]["requireForHealthz"] is False
    assert http["rateLimit"]["perAddressPerSecond"] > 0 and http["missTtlSeconds"] > 0
