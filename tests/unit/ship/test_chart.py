"""The Helm chart: lint, render with every gate, and the promises its values make.

Runs the real Helm CLI (dev/cluster/helm) on charts/kube-transcoder: `helm
lint --strict`, `helm template` with the defaults and with every gate flipped,
the values schema refusing what it does not know, and what a user installing the
chart relies on: one Recreate operator with a liveness probe on kopf's endpoint,
settings the operator can load, restricted security contexts and
app.kubernetes.io labels on everything, the runner's status-only RBAC in each
job namespace, the GPU probe on GPU nodes, and monitoring objects built from
deploy/monitoring.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit import rbac_rules
from tests.unit.ship import helmchart
from tests.unit.ship.helmchart import CHART_DIR, NAMESPACE, ROOT, Chart, find, one
from transcode_api import admission
from transcode_operator.adapters import kubeclient
from transcode_operator.app import rbac
from transcode_operator.domain import settings

ALL_ON: dict[str, Any] = {
    "monitoring": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True},
                   "dashboard": {"enabled": True}},
    "runner": {"namespaces": ["media", "studio"]},
}
GATES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "all-on": ALL_ON,
    "no-crds": {"crds": {"enabled": False}},
    "no-finalizer-policy": {"finalizerPolicy": {"enabled": False}},
    "crds-not-kept": {"crds": {"keep": False}},
    "no-rbac": {"rbac": {"create": False}},
    "no-service-accounts": {"serviceAccount": {"create": False, "name": "ops"},
                            "runner": {"serviceAccount": {"create": False, "name": "jobs"}}},
    "external-redis": {"redis": {"externalUrl": "redis://redis.cache:6379/2"}},
    "no-redis": {"redis": {"enabled": False}, "gpuProbe": {"enabled": False}},
    "no-gpu-probe": {"gpuProbe": {"enabled": False}},
    "no-liveness": {"operator": {"livenessProbe": {"enabled": False}}},
    "ha": {"operator": {"replicas": 2}},
    "no-election": {"operator": {"config": {"leaderElection": {"enabled": False}}}},
}
WORKLOADS = ("Deployment", "DaemonSet")
LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
          "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of",
          "helm.sh/chart")


@pytest.fixture(scope="module")
def rendered(chart: Chart) -> dict[str, list[dict[str, Any]]]:
    return {gate: chart.render(values) for gate, values in GATES.items()}


def config_of(objs: list[dict[str, Any]]) -> dict[str, Any]:
    cm = one(objs, "ConfigMap", "-operator")
    data: dict[str, Any] = yaml.safe_load(cm["data"]["config.yaml"])
    return data


def pod_specs(objs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(o["metadata"]["name"], o["spec"]["template"]["spec"]) for o in objs if o["kind"] in WORKLOADS]


# --- lint and render ---------------------------------------------------------------
@pytest.mark.parametrize("gate", ["defaults", "all-on"])
def test_helm_lint_strict(chart: Chart, gate: str) -> None:
    values = chart.home / f"lint-{gate}.yaml"
    values.write_text(yaml.safe_dump(GATES[gate]))
    out = chart.run("lint", "--strict", str(CHART_DIR), "--namespace", NAMESPACE, "--values", str(values))
    assert "0 chart(s) failed" in out.stdout


@pytest.mark.parametrize("gate", sorted(GATES))
def test_every_object_is_labelled_and_namespaced(rendered: dict[str, list[dict[str, Any]]], gate: str) -> None:
    for obj in rendered[gate]:
        labels = obj["metadata"].get("labels", {})
        missing = [k for k in LABELS if k not in labels]
        assert not missing, f"{obj['kind']}/{obj['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/instance"] == helmchart.RELEASE
        cluster_scoped = obj["kind"] in ("CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                                         "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding")
        assert ("namespace" in obj["metadata"]) != cluster_scoped, obj["metadata"]["name"]


@pytest.mark.parametrize("gate", sorted(GATES))
def test_every_pod_is_restricted(rendered: dict[str, list[dict[str, Any]]], gate: str) -> None:
    for name, spec in pod_specs(rendered[gate]):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), name
        assert all("hostPath" not in v for v in spec.get("volumes", [])), name
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            assert not sc.get("privileged"), (name, c["name"])
            mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
            assert "/scratch" in mounts or "/data" in mounts, f"{name}: no writable scratch emptyDir"
            assert c.get("resources", {}).get("limits", {}).get("memory"), f"{name}: no memory limit"


def test_defaults_render_what_a_user_installs(rendered: dict[str, list[dict[str, Any]]]) -> None:
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in rendered["defaults"])
    assert kinds == sorted([
        ("CustomResourceDefinition", "transcodejobs.kubetranscoder.io"),
        ("ServiceAccount", "kt-kube-transcoder-operator"),
        ("ClusterRole", "kt-kube-transcoder-operator"),
        ("ClusterRoleBinding", "kt-kube-transcoder-operator"),
        ("Role", "kt-kube-transcoder-operator"),
        ("RoleBinding", "kt-kube-transcoder-operator"),
        ("ClusterRole", "kt-kube-transcoder-job-reader"),
        ("ClusterRole", "kt-kube-transcoder-gpu-status-reader"),
        ("ClusterRole", "kt-kube-transcoder-metrics-reader"),
        ("ConfigMap", "kt-kube-transcoder-operator"),
        ("Deployment", "kt-kube-transcoder-operator"),
        ("Service", "kt-kube-transcoder-operator"),
        ("ServiceAccount", "kt-kube-transcoder-runner"),
        ("Role", "kt-kube-transcoder-runner"),
        ("RoleBinding", "kt-kube-transcoder-runner"),
        ("Deployment", "kt-kube-transcoder-redis"),
        ("Service", "kt-kube-transcoder-redis"),
        ("Secret", "kt-kube-transcoder-redis-auth"),
        ("DaemonSet", "kt-kube-transcoder-gpu-probe"),
        ("NetworkPolicy", "kt-kube-transcoder-operator"),
        ("NetworkPolicy", "kt-kube-transcoder-redis"),
        ("MutatingAdmissionPolicy", "kt-kube-transcoder-finalizer"),
        ("MutatingAdmissionPolicyBinding", "kt-kube-transcoder-finalizer"),
    ])


def test_the_finalizer_policy_is_the_generated_one_and_can_be_turned_off(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    policy = one(rendered["defaults"], "MutatingAdmissionPolicy", "kt-kube-transcoder-finalizer")
    binding = one(rendered["defaults"], "MutatingAdmissionPolicyBinding",
                  "kt-kube-transcoder-finalizer")
    assert binding["spec"]["policyName"] == "kt-kube-transcoder-finalizer"
    generated = admission.objects()[0]
    assert policy["spec"] == generated["spec"]
    assert "kubetranscoder.io/finalizer" in policy["spec"]["mutations"][0]["jsonPatch"]["expression"]
    off = rendered["no-finalizer-policy"]
    assert not [o for o in off if o["kind"].startswith("MutatingAdmissionPolicy")]


# --- values schema -----------------------------------------------------------------
@pytest.mark.parametrize("path", [
    "colour", "crds.install", "operator.replica", "operator.image.name",
    "operator.config.runner.image", "operator.config.http.port", "operator.config.workerCount",
    "operator.config.retry.maxRetries", "redis.auth.password", "gpuProbe.interval",
    "monitoring.serviceMonitor.namespace", "operator.podSecurityContext.runAsRoot",
    "operator.securityContext.capabilities.keep",
])
def test_schema_rejects_unknown_values(chart: Chart, path: str) -> None:
    out = chart.template(None, "--set", f"{path}=1", check=False)
    assert out.returncode != 0
    assert "additional properties" in out.stderr and path.rsplit(".", 1)[-1] in out.stderr


@pytest.mark.parametrize("setting", [
    "operator.image.pullPolicy=Sometimes", "operator.httpPort=0", "redis.externalUrl=http://x",
    "operator.config.kopf.postingLevel=TRACE", "runner.namespaces[0]=Not_A_Namespace",
    "operator.resources.limits.memory=lots", "operator.image.digest=latest",
    "operator.config.runner.hostNetwork=yes",
])
def test_schema_rejects_bad_values(chart: Chart, setting: str) -> None:
    assert chart.template(None, "--set", setting, check=False).returncode != 0


def _schema_objects(node: dict[str, Any], defs: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    if "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    found = []
    if "properties" in node:
        found.append((path, node))
        for key, child in node["properties"].items():
            found += _schema_objects(child, defs, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        found += _schema_objects(node["items"], defs, f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += _schema_objects(node["additionalProperties"], defs, f"{path}.*")
    return found


def test_schema_closes_every_object() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    objects = _schema_objects(schema, schema["$defs"], "")
    assert len(objects) > 30
    open_ = [p or "(top)" for p, node in objects if node.get("additionalProperties") is not False]
    assert not open_, f"objects without additionalProperties: false: {open_}"


def test_every_value_is_commented() -> None:
    """Each leaf key in values.yaml has a `# --` comment block right above it."""
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()
    missing = []
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)([A-Za-z0-9_.-]+|\"[^\"]+\"):(.*)$", line)
        if not m or line.lstrip().startswith("#"):
            continue
        indent, rest = len(m.group(1)), m.group(3).strip()
        nxt = next((x for x in lines[i + 1:] if x.strip() and not x.lstrip().startswith("#")), "")
        is_parent = rest == "" and len(nxt) - len(nxt.lstrip()) > indent and not nxt.lstrip().startswith("- ")
        if is_parent:
            continue
        j = i - 1
        while j >= 0 and lines[j].lstrip().startswith("#") and not lines[j].lstrip().startswith("# --"):
            j -= 1
        if j < 0 or not lines[j].lstrip().startswith("# --"):
            missing.append(f"line {i + 1}: {line.strip()}")
    # keys inside a value (list items, default maps such as resources) belong to their parent's comment
    missing = [m for m in missing if not _inside_commented_value(lines, int(m.split()[1][:-1]) - 1)]
    assert not missing, "values without a comment:\n" + "\n".join(missing)


def _inside_commented_value(lines: list[str], i: int) -> bool:
    indent = len(lines[i]) - len(lines[i].lstrip())
    for j in range(i - 1, -1, -1):
        line = lines[j]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        ind = len(line) - len(line.lstrip())
        if ind < indent or line.lstrip().startswith("- "):
            if line.lstrip().startswith("- "):
                return True
            k = j - 1
            while k >= 0 and lines[k].lstrip().startswith("#") and not lines[k].lstrip().startswith("# --"):
                k -= 1
            if k >= 0 and lines[k].lstrip().startswith("# --"):
                return True
            indent = ind
            if ind == 0:
                return False
    return False


# --- the CRD -------------------------------------------------------------------------
def test_chart_crd_is_the_generated_crd(rendered: dict[str, list[dict[str, Any]]]) -> None:
    generated = yaml.safe_load((ROOT / "crds/transcodejobs.kubetranscoder.io.yaml").read_text())
    crd = one(rendered["defaults"], "CustomResourceDefinition")
    assert crd["spec"] == generated["spec"]
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert "annotations" not in one(rendered["crds-not-kept"], "CustomResourceDefinition")["metadata"]
    assert not find(rendered["no-crds"], "CustomResourceDefinition")


# --- the operator --------------------------------------------------------------------
def test_operator_deployment(rendered: dict[str, list[dict[str, Any]]]) -> None:
    dep = one(rendered["defaults"], "Deployment", "-operator")
    # Leader election (on by default) makes a rolling update safe: one replica acts.
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    fields = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
              for e in c["env"]}
    assert fields["POD_NAME"] == "metadata.name"  # the replica's Lease identity
    assert fields["POD_NAMESPACE"] == "metadata.namespace"  # the Lease's namespace
    assert c["command"] == ["transcode-operator"], "process-mode clusters need an explicit command"
    env = {e["name"]: e.get("value") for e in c["env"]}
    mount = next(m for m in c["volumeMounts"] if m["name"] == "config")
    assert Path(env[settings.CONFIG_ENV]).parent == Path(mount["mountPath"])
    cfg = config_of(rendered["defaults"])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    live = re.fullmatch(r"http://0\.0\.0\.0:(\d+)(/\S+)", cfg["kopf"]["livenessEndpoint"])
    assert live, cfg["kopf"]["livenessEndpoint"]
    probe = c["livenessProbe"]["httpGet"]
    assert (probe["path"], ports[probe["port"]]) == (live.group(2), int(live.group(1)))
    assert ports["http"] == cfg["http"]["port"]
    assert "livenessProbe" not in one(rendered["no-liveness"], "Deployment", "-operator")[
        "spec"]["template"]["spec"]["containers"][0]
    svc = one(rendered["defaults"], "Service", "-operator")
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()


def test_replicas_need_leader_election(rendered: dict[str, list[dict[str, Any]]],
                                      chart: Chart) -> None:
    ha = one(rendered["ha"], "Deployment", "-operator")["spec"]
    assert ha["replicas"] == 2 and ha["strategy"]["type"] == "RollingUpdate"
    single = one(rendered["no-election"], "Deployment", "-operator")["spec"]
    assert single["strategy"] == {"type": "Recreate"}  # never two acting operators
    assert config_of(rendered["no-election"])["leaderElection"]["enabled"] is False
    out = chart.template({"operator": {"replicas": 2, "config": {
        "leaderElection": {"enabled": False}}}}, check=False)
    assert out.returncode != 0 and "needs operator.config.leaderElection.enabled" in out.stderr


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


def _settings_defaults() -> dict[str, Any]:
    data = settings.Settings.model_construct().model_dump(mode="json", by_alias=True)
    data = {_camel(k): v for k, v in data.items()}
    data["enableGPU"] = data.pop("enableGpu")
    return data


MANAGED = {("runner", "image"), ("runner", "imagePullPolicy"), ("runner", "imagePullSecrets"),
           ("runner", "serviceAccountName"), ("redis", "url"), ("http", "port"),
           ("kopf", "livenessEndpoint"),
           # Redis logins come from the auth Secret as env vars, never from values.
           ("redis", "username"), ("redis", "password"), ("redis", "passwordFile"),
           ("redis", "runnerUsername"), ("redis", "runnerPassword")}


def test_values_config_lists_every_operator_setting_with_its_default() -> None:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())["operator"]["config"]
    expected = _settings_defaults()
    for group, key in MANAGED:
        expected[group].pop(key)
    assert values == expected


def test_rendered_config_is_what_the_operator_loads(rendered: dict[str, list[dict[str, Any]]],
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("TRANSCODER_")]:
        monkeypatch.delenv(key)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_of(rendered["all-on"])))
    monkeypatch.setenv(settings.CONFIG_ENV, str(path))
    loaded = settings.load()
    assert loaded.runner.image == "ghcr.io/kube-transcoder/runner:0.1.0"
    assert loaded.runner.service_account_name == "kt-kube-transcoder-runner"
    assert loaded.redis.url == "redis://kt-kube-transcoder-redis.media.svc:6379/0"
    assert loaded.kopf.liveness_endpoint == "http://0.0.0.0:8081/healthz"
    assert loaded.enable_gpu is True and loaded.runner.command == ["transcode-runner", "run"]
    external = config_of(rendered["external-redis"])
    assert external["redis"]["url"] == "redis://redis.cache:6379/2"
    assert "url" not in config_of(rendered["no-redis"])["redis"]


def test_runner_host_network_reaches_the_operator_config(chart: Chart) -> None:
    assert config_of(chart.render({}))["runner"]["hostNetwork"] is False
    on = {"operator": {"config": {"runner": {"hostNetwork": True}}}}
    assert config_of(chart.render(on))["runner"]["hostNetwork"] is True


def test_chart_values_override_the_runner_image(chart: Chart) -> None:
    objs = chart.render({"runner": {"image": {"registry": "", "repository": "r.example/tr",
                                              "digest": "sha256:" + "a" * 64}},
                         "imagePullSecrets": [{"name": "pull"}]})
    cfg = config_of(objs)
    assert cfg["runner"]["image"] == "r.example/tr@sha256:" + "a" * 64
    assert cfg["runner"]["imagePullSecrets"] == ["pull"]


# --- RBAC ------------------------------------------------------------------------------
def test_runner_rbac_is_status_patch_only_in_each_job_namespace(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for gate, namespaces in (("defaults", [NAMESPACE]), ("all-on", ["media", "studio"])):
        roles = find(rendered[gate], "Role", "-runner")
        assert sorted(r["metadata"]["namespace"] for r in roles) == namespaces
        for role in roles:
            assert role["rules"] == rbac.rules(set(rbac.RUNNER_NEEDS)) == [
                {"apiGroups": ["kubetranscoder.io"], "resources": ["transcodejobs"], "verbs": ["get"]},
                {"apiGroups": ["kubetranscoder.io"], "resources": ["transcodejobs/status"], "verbs": ["patch"]},
            ]
        bindings = find(rendered[gate], "RoleBinding", "-runner")
        sas = find(rendered[gate], "ServiceAccount", "-runner")
        assert sorted(b["metadata"]["namespace"] for b in bindings) == namespaces
        assert sorted(s["metadata"]["namespace"] for s in sas) == namespaces
        for b in bindings:
            assert b["subjects"] == [{"kind": "ServiceAccount", "name": "kt-kube-transcoder-runner",
                                      "namespace": b["metadata"]["namespace"]}]


def test_rbac_and_service_account_gates(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objs = rendered["no-rbac"]
    assert not [o for o in objs if o["kind"] in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")]
    assert find(objs, "ServiceAccount", "-operator") and find(objs, "ServiceAccount", "-runner")
    objs = rendered["no-service-accounts"]
    assert not find(objs, "ServiceAccount")
    dep = one(objs, "Deployment", "-operator")
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == "ops"
    assert one(objs, "ClusterRoleBinding")["subjects"][0]["name"] == "ops"
    assert one(objs, "RoleBinding", "-runner")["subjects"][0]["name"] == "jobs"
    assert one(objs, "RoleBinding", "-operator")["subjects"][0]["name"] == "ops"
    assert config_of(objs)["runner"]["serviceAccountName"] == "jobs"


# --- Redis and the GPU probe -----------------------------------------------------------
def test_redis_gates(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for gate in ("external-redis", "no-redis"):
        assert not [o for o in rendered[gate] if o["metadata"]["name"].endswith("-redis")]
    dep = one(rendered["defaults"], "Deployment", "-redis")
    assert dep["spec"]["template"]["spec"]["containers"][0]["command"] == ["redis-server"]


def test_gpu_probe_daemonset(rendered: dict[str, list[dict[str, Any]]], chart: Chart) -> None:
    ds = one(rendered["defaults"], "DaemonSet", "-gpu-probe")
    pod = ds["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert [*c["command"], *c["args"]] == ["transcode-runner", "probe", "--report"]
    assert c["image"] == "ghcr.io/kube-transcoder/runner:0.1.0"
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility,video"
    assert env["TRANSCODER_REDIS_URL"] == config_of(rendered["defaults"])["redis"]["url"]
    assert {e["name"] for e in c["env"] if "valueFrom" in e} == {"NODE_NAME",
                                                                  "TRANSCODER_REDIS_PASSWORD"}
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["runtimeClassName"] == "nvidia" and pod["automountServiceAccountToken"] is False
    assert not find(rendered["no-gpu-probe"], "DaemonSet")
    out = chart.template({"redis": {"enabled": False}}, check=False)
    assert out.returncode != 0 and "gpuProbe.enabled needs Redis" in out.stderr


# --- monitoring ------------------------------------------------------------------------
def test_monitoring_objects_come_from_deploy_monitoring(rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert not [o for o in rendered["defaults"] if o["kind"] in ("ServiceMonitor", "PrometheusRule")]
    objs = rendered["all-on"]
    sm = one(objs, "ServiceMonitor")
    svc = one(objs, "Service", "-operator")
    assert sm["spec"]["endpoints"][0]["port"] in {p["name"] for p in svc["spec"]["ports"]}
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    rule = yaml.safe_load((ROOT / "deploy/monitoring/prometheus-rules.yaml").read_text())
    assert one(objs, "PrometheusRule")["spec"]["groups"] == rule["spec"]["groups"]
    dash = one(objs, "ConfigMap", "-dashboard")
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dash["data"]["kube-transcoder.json"]) == json.loads(
        (ROOT / "deploy/monitoring/dashboard.json").read_text())


def test_operator_clusterrole_is_the_operators_own_table(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    role_rules = one(rendered["defaults"], "ClusterRole", "-operator")["rules"]
    assert role_rules == rbac.rules(rbac.cluster_needs())
    lease_rules = one(rendered["defaults"], "Role", "-operator")["rules"]
    assert lease_rules == rbac.rules(rbac.namespaced_needs())
    missing = [call for call in kubeclient.CALLS.values()
               if not rbac_rules.allows(role_rules + lease_rules, call)]
    assert not missing, f"the operator calls these but the chart does not grant them: {missing}"
