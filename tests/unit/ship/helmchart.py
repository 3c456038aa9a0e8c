"""The chart under test, rendered by the real Helm CLI, and helpers to pick objects.

`Chart.render(values)` runs `helm template` on charts/kube-transcoder with a
values file and returns the parsed objects; `Chart.run(...)` runs any helm
command (lint, template with --set). `find`/`one` select rendered objects by kind
and name. tests/unit/ship/conftest.py builds the session `chart` fixture.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dev.cluster import helm

ROOT = Path(__file__).resolve().parents[3]
CHART_DIR = ROOT / "charts/kube-transcoder"
RELEASE = "kt"
NAMESPACE = "media"


@dataclass
class Chart:
    """Runs the pinned helm binary against the chart, with Helm's state in a temp folder."""

    helm: Path
    home: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([str(self.helm), *args], capture_output=True, text=True,
                             env=helm.env(self.home), timeout=120, check=False)
        if check and out.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({out.returncode}):\n{out.stderr}")
        return out

    def template(self, values: dict[str, Any] | None = None, *extra: str,
                 check: bool = True) -> subprocess.CompletedProcess[str]:
        values_file = self.home / "values.yaml"
        values_file.write_text(yaml.safe_dump(values or {}))
        return self.run("template", RELEASE, str(CHART_DIR), "--namespace", NAMESPACE,
                        "--values", str(values_file), *extra, check=check)

    def render(self, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        docs = yaml.safe_load_all(self.template(values).stdout)
        return [d for d in docs if d]


def find(objs: list[dict[str, Any]], kind: str, name_suffix: str = "") -> list[dict[str, Any]]:
    """Objects of `kind` whose name ends with `name_suffix`."""
    return [o for o in objs if o["kind"] == kind and o["metadata"]["name"].endswith(name_suffix)]


def one(objs: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    found = find(objs, kind, name_suffix)
    assert len(found) == 1, f"expected one {kind} *{name_suffix}, got {[o['metadata']['name'] for o in found]}"
    return found[0]
