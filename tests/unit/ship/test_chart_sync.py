"""The chart carries exactly the generated CRD and the deploy/monitoring files.

charts/kube-transcoder/hack/sync.py (run by `make crds`) writes the chart's CRD
template from crds/ and copies the alert rules and dashboard into files/; this
test fails with the diff when someone changed the model or deploy/monitoring
without running it, or edited the chart's copies by hand.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "charts/kube-transcoder/hack/sync.py"


def load_sync() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kt_chart_sync", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_chart_copies_are_in_sync() -> None:
    problems = load_sync().stale()
    assert not problems, ("run python charts/kube-transcoder/hack/sync.py\n" + "\n".join(problems))


def test_crd_template_keeps_the_crd_and_its_gates() -> None:
    sync = load_sync()
    gen = sync.crd_template(ROOT / "crds/transcodejobs.kubetranscoder.io.yaml")
    assert gen.path == "templates/crds/transcodejobs.yaml"
    assert gen.text.count("{{- if .Values.crds.enabled }}") == 1 and gen.text.endswith("{{- end }}\n")
    assert "helm.sh/resource-policy: keep" in gen.text and ".Values.crds.keep" in gen.text
    body = (ROOT / "crds/transcodejobs.kubetranscoder.io.yaml").read_text()
    assert body[body.index("\nspec:\n"):] in gen.text


def test_template_braces_in_the_crd_are_escaped(tmp_path: Path) -> None:
    sync = load_sync()
    src = (ROOT / "crds/transcodejobs.kubetranscoder.io.yaml").read_text()
    odd = tmp_path / "odd.yaml"
    odd.write_text(src.replace("description: Percent of the source encoded",
                               "description: 'Percent {{ .x }} encoded'", 1))
    text = sync.crd_template(odd).text
    assert '{{ "{{" }} .x {{ "}}" }}' in text
