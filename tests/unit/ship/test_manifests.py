"""The kustomize manifests stay in step with the chart they are rendered from.

manifests/hack/render.py renders manifests/ (base, overlays/gpu, overlays/cpu-only)
from charts/kube-transcoder with `helm template`; this test renders again with
the pinned helm and fails with the diff when manifests/ is stale. It also checks
what `kubectl apply -k` users rely on: each kustomization lists files that exist,
the base carries the generated CRD and no Helm-only metadata, and the overlays
differ from the base only where they say.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.unit.ship.helmchart import ROOT, Chart

MANIFESTS = ROOT / "manifests"


def load_render() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kt_manifests_render", MANIFESTS / "hack/render.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rendered(chart: Chart) -> dict[str, str]:
    files: dict[str, str] = load_render().render(str(chart.helm))
    return files


def docs(rel: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((MANIFESTS / rel).read_text()) if d]


def test_manifests_are_rendered_from_the_chart(rendered: dict[str, str]) -> None:
    problems = load_render().stale(rendered)
    assert not problems, "run python manifests/hack/render.py\n" + "\n".join(problems)


@pytest.mark.parametrize("folder", ["base", "overlays/gpu", "overlays/cpu-only"])
def test_kustomizations_name_existing_files(folder: str) -> None:
    kust = docs(f"{folder}/kustomization.yaml")[0]
    for entry in [*kust["resources"], *(p["path"] for p in kust.get("patches", []))]:
        assert (MANIFESTS / folder / entry).exists(), f"{folder}: {entry} missing"


def test_base_is_the_plain_operator_install() -> None:
    kinds: dict[str, list[str]] = {}
    for path in sorted((MANIFESTS / "base").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for d in docs(f"base/{path.name}"):
            kinds.setdefault(d["kind"], []).append(d["metadata"]["name"])
            labels = d["metadata"].get("labels", {})
            assert "helm.sh/chart" not in labels and "app.kubernetes.io/managed-by" not in labels
            if "namespace" in d["metadata"]:
                assert d["metadata"]["namespace"] == "kube-transcoder"
    assert kinds["Namespace"] == ["kube-transcoder"]
    assert sorted(kinds["Deployment"]) == ["kube-transcoder-operator", "kube-transcoder-redis"]
    assert "DaemonSet" not in kinds
    crd = docs("base/crds-transcodejobs.yaml")[0]
    generated = yaml.safe_load((ROOT / "crds/transcodejobs.kubetranscoder.io.yaml").read_text())
    assert crd["spec"] == generated["spec"]
    assert "annotations" not in crd["metadata"], "plain manifests carry no Helm resource policy"


def test_overlays() -> None:
    ds = docs("overlays/gpu/gpu-probe-daemonset.yaml")[0]
    assert ds["kind"] == "DaemonSet" and ds["spec"]["template"]["spec"]["nodeSelector"] == {
        "nvidia.com/gpu.present": "true"}
    base_cfg = yaml.safe_load(docs("base/operator-configmap.yaml")[0]["data"]["config.yaml"])
    cpu_cfg = yaml.safe_load(docs("overlays/cpu-only/operator-configmap.yaml")[0]["data"]["config.yaml"])
    assert base_cfg["enableGPU"] is True and cpu_cfg == {**base_cfg, "enableGPU": False}
