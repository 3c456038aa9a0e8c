"""Project-shape rules checked on every test run.

The layering contract (import-linter, configured in pyproject.toml), the fixed
top-level layout, module docstrings and module size are rules a reviewer would
otherwise have to remember; these tests remember them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAX_LINES = 300
PACKAGES = [REPO / "api/src/transcode_api", REPO / "operator/src/transcode_operator",
            REPO / "job-runner/src/transcode_runner"]


def test_import_layering_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    out = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "broken" in out.stdout and " 0 broken" in out.stdout


def test_operator_folder_never_shadows_stdlib_operator() -> None:
    assert not (REPO / "operator/__init__.py").exists()
    import operator

    assert hasattr(operator, "itemgetter"), "stdlib operator module is shadowed"


def test_fixed_top_level_layout() -> None:
    for name in ["operator", "job-runner", "crds", "charts", "manifests", "tests", "dev",
                 "Dockerfile.operator", "Dockerfile.runner", "pyproject.toml", "README.md"]:
        assert (REPO / name).exists(), f"{name} missing at the top level"


def test_every_module_opens_with_a_docstring_and_stays_small() -> None:
    problems = []
    for pkg in PACKAGES:
        for path in sorted(pkg.rglob("*.py")):
            tree = ast.parse(path.read_text())
            if not ast.get_docstring(tree):
                problems.append(f"{path.relative_to(REPO)}: no module docstring")
            lines = len(path.read_text().splitlines())
            rel = str(path.relative_to(REPO))
            if lines > MAX_LINES:
                problems.append(f"{rel}: {lines} lines (keep modules under {MAX_LINES})")
    assert not problems, "\n".join(problems)
