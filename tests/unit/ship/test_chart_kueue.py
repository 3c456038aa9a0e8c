"""The chart's optional Kueue objects (kueue.enabled) and the RBAC a queued job needs."""

from __future__ import annotations

from typing import Any

import yaml

from tests.unit.ship.helmchart import Chart, find, one


def test_kueue_off_renders_no_kueue_objects(chart: Chart) -> None:
    objs = chart.render()
    assert not [o for o in objs if o["apiVersion"].startswith("kueue.x-k8s.io/")]


def test_kueue_on_renders_a_gpu_and_a_cpu_queue_in_one_cohort(chart: Chart) -> None:
    objs = chart.render({"kueue": {"enabled": True, "namespaces": ["team-a", "team-b"]}})
    gpu_flavor = one(objs, "ResourceFlavor", "transcode-gpu")
    assert gpu_flavor["spec"]["nodeLabels"] == {"nvidia.com/gpu.product": "NVIDIA-L4"}
    gpu = one(objs, "ClusterQueue", "transcode-gpu")["spec"]
    cpu = one(objs, "ClusterQueue", "transcode-cpu")["spec"]
    assert gpu["cohortName"] == cpu["cohortName"] == "transcoding"
    group = gpu["resourceGroups"][0]
    # every resource a runner Pod requests (ephemeral-storage: its scratch) or Kueue never admits
    assert group["coveredResources"] == ["cpu", "ephemeral-storage", "memory", "nvidia.com/gpu"]
    quota = {r["name"]: r["nominalQuota"] for r in group["flavors"][0]["resources"]}
    assert quota["nvidia.com/gpu"] == "4"
    assert "nvidia.com/gpu" not in cpu["resourceGroups"][0]["coveredResources"]
    queues = {(q["metadata"]["namespace"], q["spec"]["clusterQueue"])
              for q in find(objs, "LocalQueue")}
    assert queues == {(ns, cq) for ns in ("team-a", "team-b")
                      for cq in ("transcode-gpu", "transcode-cpu")}
    config = yaml.safe_load(one(objs, "ConfigMap", "operator")["data"]["config.yaml"])
    assert config["queues"]["cpu"] == "transcode-cpu"


def test_the_operator_may_read_workloads_and_manage_batch_jobs(chart: Chart) -> None:
    role = one(chart.render(), "ClusterRole", "operator")
    rules: list[dict[str, Any]] = role["rules"]
    def verbs(group: str, resource: str) -> set[str]:
        return {v for r in rules if group in r["apiGroups"] and resource in r["resources"]
                for v in r["verbs"]}
    assert {"list"} <= verbs("kueue.x-k8s.io", "workloads")
    assert {"create", "get", "delete"} <= verbs("batch", "jobs")


def test_kueue_values_are_checked_by_the_schema(chart: Chart) -> None:
    out = chart.template({"kueue": {"enabled": True, "gpu": {"nmae": "x"}}}, check=False)
    assert out.returncode != 0 and "nmae" in out.stderr
