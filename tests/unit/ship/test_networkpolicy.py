"""The chart's NetworkPolicies, checked as rendered objects.

The local test cluster has no Pod network that enforces NetworkPolicy, so these
tests evaluate the rendered policies the way the API documents them (a Pod
selected by a policy admits only what one of its ingress rules lists; a rule
without `from` admits everyone; podSelector alone means the policy's
namespace) against the labels the real Pods carry: the operator, Redis and GPU
probe Pod templates the chart renders, and the runner Pod labels of
transcode_operator.domain.builders. What a user relies on: Redis hears exactly
the operator, the runners of runner.namespaces and the GPU probes, on its port;
the operator's HTTP port hears only the peers the values name; the gates remove
them; `helm lint --strict` passes for every value set used here.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.unit.ship.helmchart import CHART_DIR, NAMESPACE, ROOT, Chart, find, one
from transcode_operator.domain import builders

Obj = dict[str, Any]

PEERS: dict[str, Any] = {
    "runner": {"namespaces": ["media", "studio"]},
    "networkPolicy": {"operator": {
        "apiFrom": [{"namespaceSelector": {"matchLabels": {"team": "portal"}},
                     "podSelector": {"matchLabels": {"app": "portal"}}}],
        "metricsFrom": [{"namespaceSelector": {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["observability"]}]}},
                        {"ipBlock": {"cidr": "192.0.2.0/24"}}],
    }},
}
VALUES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "peers": PEERS,
    "closed": {"networkPolicy": {"operator": {"apiFrom": [], "metricsFrom": []}}},
    "disabled": {"networkPolicy": {"enabled": False}},
    "external-redis": {"redis": {"externalUrl": "redis://redis.cache:6379/2"}},
    "no-redis": {"redis": {"enabled": False}, "gpuProbe": {"enabled": False}},
}


@pytest.fixture(scope="module")
def rendered(chart: Chart) -> dict[str, list[Obj]]:
    return {name: chart.render(values) for name, values in VALUES.items()}


# --- NetworkPolicy semantics (networking.k8s.io/v1, ingress) ----------------------------
def _selects(selector: Obj, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def _peer_admits(peer: Obj, policy_ns: str, src_ns: str, src_labels: dict[str, str], ns_labels: dict[str, str]) -> bool:
    if "ipBlock" in peer:
        return False  # Pod-to-Pod traffic here; no test relies on an ipBlock
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], ns_labels):
            return False
    elif src_ns != policy_ns:
        return False
    return "podSelector" not in peer or _selects(peer["podSelector"], src_labels)


def admits(policies: list[Obj], dst: Obj, port: int, src_ns: str, src_labels: dict[str, str],
           ns_labels: dict[str, str] | None = None) -> bool:
    """Whether a Pod (src_ns, src_labels) may open TCP `port` on the Pod `dst` under `policies`."""
    ns_labels = {"kubernetes.io/metadata.name": src_ns, **(ns_labels or {})}
    dst_labels = dst["spec"]["template"]["metadata"]["labels"]
    dst_ns = dst["metadata"]["namespace"]
    applying = [p for p in policies if p["metadata"]["namespace"] == dst_ns
                and "Ingress" in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], dst_labels)]
    if not applying:
        return True
    for policy in applying:
        for rule in policy["spec"].get("ingress") or []:
            ports = rule.get("ports")
            if ports:
                assert all(isinstance(p["port"], int) for p in ports), ports
                if not any(p["port"] == port and p.get("protocol", "TCP") == "TCP" for p in ports):
                    continue
            peers = rule.get("from")
            if not peers or any(_peer_admits(p, dst_ns, src_ns, src_labels, ns_labels) for p in peers):
                return True
    return False


def pod_labels(objs: list[Obj], kind: str, suffix: str) -> dict[str, str]:
    labels: dict[str, str] = one(objs, kind, suffix)["spec"]["template"]["metadata"]["labels"]
    return labels


def runner_labels(namespace: str, gpu: bool = False) -> dict[str, str]:
    job = builders.JobRef(namespace=namespace, name="clip-1080p", uid="0b7c4c8e-2f7e-4a57-9a1d-2d4f6e5b1c3a")
    return builders.labels(job, 1, gpu)


def policies(objs: list[Obj]) -> list[Obj]:
    return find(objs, "NetworkPolicy")


# --- Redis ----------------------------------------------------------------------------
@pytest.mark.parametrize("values", ["defaults", "peers"])
def test_redis_admits_exactly_the_operator_runners_and_probes(rendered: dict[str, list[Obj]], values: str) -> None:
    objs = rendered[values]
    nps, redis = policies(objs), one(objs, "Deployment", "-redis")
    port = redis["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    assert port == 6379
    job_namespaces = VALUES[values].get("runner", {}).get("namespaces", [NAMESPACE])

    assert admits(nps, redis, port, NAMESPACE, pod_labels(objs, "Deployment", "-operator"))
    assert admits(nps, redis, port, NAMESPACE, pod_labels(objs, "DaemonSet", "-gpu-probe"))
    for ns in job_namespaces:
        assert admits(nps, redis, port, ns, runner_labels(ns)), ns
        assert admits(nps, redis, port, ns, runner_labels(ns, gpu=True)), ns

    # ... and nobody else: other Pods of the release namespace, runners elsewhere,
    # look-alike Pods in the job namespaces, other ports.
    assert not admits(nps, redis, port, NAMESPACE, {"app": "debug"})
    assert not admits(nps, redis, port, NAMESPACE, {})
    assert not admits(nps, redis, port, "elsewhere", runner_labels("elsewhere"))
    assert not admits(nps, redis, port, "elsewhere", pod_labels(objs, "Deployment", "-operator"))
    for ns in job_namespaces:
        assert not admits(nps, redis, port, ns, {"app.kubernetes.io/component": "runner"}), ns
    assert not admits(nps, redis, 6380, NAMESPACE, pod_labels(objs, "Deployment", "-operator"))


def test_redis_policy_follows_the_redis_port_and_gates(chart: Chart, rendered: dict[str, list[Obj]]) -> None:
    objs = chart.render({"redis": {"service": {"port": 6390}}})
    nps, redis = policies(objs), one(objs, "Deployment", "-redis")
    operator = pod_labels(objs, "Deployment", "-operator")
    assert admits(nps, redis, 6390, NAMESPACE, operator) and not admits(nps, redis, 6379, NAMESPACE, operator)
    for values in ("external-redis", "no-redis"):
        assert [p["metadata"]["name"] for p in policies(rendered[values])] == ["kt-kube-transcoder-operator"]
    assert not policies(rendered["disabled"])
    assert not find(rendered["disabled"], "NetworkPolicy")


def test_kustomize_base_lets_the_gpu_overlays_probe_reach_redis() -> None:
    """manifests/ has no gpuProbe in the base; the overlay's DaemonSet must still reach Redis."""
    def load(rel: str) -> list[Obj]:
        return [d for d in yaml.safe_load_all((ROOT / "manifests" / rel).read_text()) if d]
    nps = load("base/networkpolicy-redis.yaml") + load("base/networkpolicy-operator.yaml")
    redis = one(load("base/redis-deployment.yaml"), "Deployment")
    probe = one(load("overlays/gpu/gpu-probe-daemonset.yaml"), "DaemonSet")
    operator = one(load("base/operator-deployment.yaml"), "Deployment")
    ns = redis["metadata"]["namespace"]
    port = redis["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    for pod in (probe, operator):
        assert admits(nps, redis, port, ns, pod["spec"]["template"]["metadata"]["labels"]), pod["kind"]
    assert admits(nps, redis, port, ns, runner_labels(ns))
    assert not admits(nps, redis, port, ns, {"app": "debug"})


# --- the operator ---------------------------------------------------------------------
def _operator_ports(objs: list[Obj]) -> tuple[Obj, int, int]:
    dep = one(objs, "Deployment", "-operator")
    ports = {p["name"]: p["containerPort"] for p in dep["spec"]["template"]["spec"]["containers"][0]["ports"]}
    return dep, ports["http"], ports["health"]


def test_operator_api_by_default_only_from_its_namespace_and_monitoring(rendered: dict[str, list[Obj]]) -> None:
    objs = rendered["defaults"]
    nps, (dep, http, health) = policies(objs), _operator_ports(objs)
    assert admits(nps, dep, http, NAMESPACE, {"app": "anything"})
    assert admits(nps, dep, http, "monitoring", {"app.kubernetes.io/name": "prometheus"})
    assert not admits(nps, dep, http, "default", {"app": "curl"})
    assert not admits(nps, dep, http, "monitoring-dev", {"app.kubernetes.io/name": "prometheus"})
    # The health port is for the kubelet (from the node, always admitted), not for other Pods.
    assert not admits(nps, dep, health, NAMESPACE, {"app": "anything"})
    assert not admits(nps, dep, health, "monitoring", {"app.kubernetes.io/name": "prometheus"})


def test_operator_api_only_from_the_peers_the_values_name(rendered: dict[str, list[Obj]]) -> None:
    objs = rendered["peers"]
    nps, (dep, http, health) = policies(objs), _operator_ports(objs)
    assert admits(nps, dep, http, "web", {"app": "portal"}, {"team": "portal"})
    assert admits(nps, dep, http, "observability", {"app": "prometheus"})
    # Both selectors of one peer must match; the defaults are gone.
    assert not admits(nps, dep, http, "web", {"app": "portal"})
    assert not admits(nps, dep, http, "web", {"app": "other"}, {"team": "portal"})
    assert not admits(nps, dep, http, NAMESPACE, {"app": "anything"})
    assert not admits(nps, dep, http, "monitoring", {"app": "prometheus"})
    assert not admits(nps, dep, health, "observability", {"app": "prometheus"})


def test_empty_peer_lists_close_the_api_instead_of_opening_it(rendered: dict[str, list[Obj]]) -> None:
    """A rule without `from` admits everyone: empty lists must render no rule at all."""
    objs = rendered["closed"]
    nps, (dep, http, _) = policies(objs), _operator_ports(objs)
    policy = one(objs, "NetworkPolicy", "-operator")
    assert policy["spec"]["policyTypes"] == ["Ingress"] and policy["spec"]["ingress"] == []
    assert not admits(nps, dep, http, NAMESPACE, {"app": "anything"})
    assert not admits(nps, dep, http, "monitoring", {"app": "prometheus"})


def test_operator_api_follows_the_http_port(chart: Chart) -> None:
    objs = chart.render({"operator": {"httpPort": 9090}})
    nps, (dep, http, _) = policies(objs), _operator_ports(objs)
    assert http == 9090
    assert admits(nps, dep, 9090, NAMESPACE, {}) and not admits(nps, dep, 8080, NAMESPACE, {})


# --- lint and schema ------------------------------------------------------------------
@pytest.mark.parametrize("values", sorted(VALUES))
def test_helm_lint_strict(chart: Chart, values: str) -> None:
    path = chart.home / f"lint-np-{values}.yaml"
    path.write_text(yaml.safe_dump(VALUES[values]))
    out = chart.run("lint", "--strict", str(CHART_DIR), "--namespace", NAMESPACE, "--values", str(path))
    assert "0 chart(s) failed" in out.stdout


@pytest.mark.parametrize("setting", [
    'networkPolicy.operator.apiFrom=[{"podSelector":{},"from":"everyone"}]',
    'networkPolicy.operator.apiFrom=[{}]',
    'networkPolicy.operator.metricsFrom=[{"namespaceSelector":{"matchExpressions":[{"key":"a","operator":"Is"}]}}]',
    'networkPolicy.operator.metricsFrom=[{"ipBlock":{"cidr":"10.0.0.0/8"},"podSelector":{}}]',
    'networkPolicy.redis={"enabled":false}',
])
def test_schema_rejects_bad_peers(chart: Chart, setting: str) -> None:
    assert chart.template(None, "--set-json", setting, check=False).returncode != 0
