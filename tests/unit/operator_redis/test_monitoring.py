"""The shipped alert rules and Grafana dashboard: promtool accepts the rules and their
unit tests pass, the PrometheusRule carries the same groups, and every metric the
rules and the dashboard query is one the operator exports."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.operator_redis import promnames
from transcode_operator.adapters import metrics

ROOT = Path(__file__).resolve().parents[3]
MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "rules.yaml"
RULES_TEST = MONITORING / "rules-test.yaml"
PROMETHEUS_RULE = MONITORING / "prometheus-rules.yaml"
DASHBOARD = MONITORING / "dashboard.json"
PROMTOOL = Path("/usr/bin/promtool")

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without", "on",
             "ignoring", "group_left", "group_right"}


def promtool() -> str:
    found = str(PROMTOOL) if PROMTOOL.exists() else shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found: install the Debian package `prometheus` "
                    "(apt-get install -y prometheus); .ci/run installs it.", pytrace=False)
    return found


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (labels, ranges, functions dropped)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = re.findall(r"(?<![\w:$.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()", expr)
    return {name for name in names if name not in _KEYWORDS}


def dashboard_exprs(dashboard: dict) -> list[str]:
    exprs = []
    for panel in dashboard["panels"]:
        exprs += [target["expr"] for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        match = re.match(r"label_values\(\s*([^,]+)\s*,", str(query or ""))
        if match:
            exprs.append(match.group(1))
    return exprs


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=MONITORING,
                          check=False)


def test_promtool_checks_the_rules():
    result = run(promtool(), "check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_rule_unit_tests_pass():
    result = run(promtool(), "test", "rules", RULES_TEST.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_case_in_the_rule_tests():
    alerts = {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"]
              for rule in group["rules"] if "alert" in rule}
    tested = {case["alertname"] for test in yaml.safe_load(RULES_TEST.read_text())["tests"]
              for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert alerts == tested
    assert {"TranscoderGPUFallbackRatioHigh", "TranscoderJobFailureRateHigh",
            "TranscoderJobsStuckPending", "TranscoderJobsStuckRunning"} <= alerts


def test_the_prometheus_rule_is_generated_from_the_rules():
    spec = importlib.util.spec_from_file_location("render", MONITORING / "hack" / "render.py")
    assert spec is not None and spec.loader is not None
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    assert PROMETHEUS_RULE.read_text() == render.render(), (
        "stale: run make crds (python deploy/monitoring/hack/render.py)")
    plain = yaml.safe_load(RULES.read_text())
    resource = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["kind"] == "PrometheusRule"
    assert resource["spec"]["groups"] == plain["groups"]


def test_rules_and_dashboard_use_only_exported_metrics():
    exported = promnames.exported_names(metrics.Metrics().registry)
    rule_exprs = [rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"]
                  for rule in group["rules"]]
    used = {name for expr in rule_exprs + dashboard_exprs(json.loads(DASHBOARD.read_text()))
            for name in metric_names(expr)}
    assert used - exported == set()
    assert {"DCGM_FI_DEV_GPU_UTIL", "transcoder_job_processing_speed_ratio_bucket",
            "transcoder_cache_hits_total", "transcoder_jobs"} <= used


def test_metric_name_extraction():
    expr = ('histogram_quantile(0.5, sum by (le, accelerator) (rate(x_bucket{a="b(c)"}'
            '[$__rate_interval]))) / on(job) y_total and z > 0.25 unless bool w offset 5m')
    assert metric_names(expr) == {"x_bucket", "y_total", "z", "w"}


def test_dashboard_is_importable_grafana_json():
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    titles = " ".join(panel["title"] for panel in panels).lower()
    for wanted in ("gpu utilization per device", "gpu vs cpu", "cache hit rate",
                   "queue depth", "fallback reasons"):
        assert wanted in titles
    for panel in panels:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
            assert panel["targets"]
    assert dashboard["uid"] == "kube-transcoder"
