"""GitOps health: the Argo CD health.lua and the kstatus reading of our conditions.

Runs deploy/gitops/argocd/kubetranscoder.io/TranscodeJob/health.lua with a real
Lua interpreter (lua5.4, installed by .ci/run) against every case in its
health_test.yaml (Argo CD's own test format), through tests/unit/ship/argo_health.lua.
Then reads the same sample objects, and the status the operator's own builder
(`transcode_operator.conditions.apply_state`) writes for every phase, the way
Flux (kstatus) does, so that a failed job is Failed (Stalled=True) and never "in
progress" forever, a running one is InProgress (Reconciling=True) and a finished
one Current. Each sample must also be a valid TranscodeJob for the pydantic model.
"""

from __future__ import annotations

import datetime
import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from transcode_api import constants, model
from transcode_api import status as job_status
from transcode_operator.domain import conditions

ROOT = Path(__file__).resolve().parents[3]
HEALTH_DIR = ROOT / "deploy/gitops/argocd/kubetranscoder.io/TranscodeJob"
HARNESS = Path(__file__).with_name("argo_health.lua")
CASES = yaml.safe_load((HEALTH_DIR / "health_test.yaml").read_text())["tests"]


def lua_literal(value: Any) -> str:
    """A Lua expression for a JSON-like value (what Argo CD hands health.lua as `obj`)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"no Lua literal for {value}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid Lua escapes for this data
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{json.dumps(str(k))}] = {lua_literal(v)}"
                               for k, v in value.items()) + "}"
    # YAML timestamps stay strings in the API server's JSON
    return json.dumps(str(value))


def lua_binary() -> str:
    for name in ("lua5.4", "lua"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("lua5.4 is needed (apt-get install lua5.4; .ci/run installs it)", pytrace=False)


def run_health(obj: dict[str, Any], tmp_path: Path) -> tuple[str, str]:
    obj_file = tmp_path / "obj.lua"
    obj_file.write_text("return " + lua_literal(obj) + "\n")
    out = subprocess.run([lua_binary(), str(HARNESS), str(HEALTH_DIR / "health.lua"), str(obj_file)],
                         capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    status, message = out.stdout.split("\n")[:2]
    return status, message


def load(case: dict[str, Any]) -> dict[str, Any]:
    return yaml.safe_load((HEALTH_DIR / case["inputPath"]).read_text())


@pytest.mark.parametrize("case", CASES, ids=[Path(c["inputPath"]).stem for c in CASES])
def test_health_lua(case: dict[str, Any], tmp_path: Path) -> None:
    status, message = run_health(load(case), tmp_path)
    assert (status, message) == (case["healthStatus"]["status"], case["healthStatus"]["message"])


def test_every_status_argo_knows_is_covered() -> None:
    seen = {c["healthStatus"]["status"] for c in CASES}
    assert seen == {"Healthy", "Progressing", "Degraded", "Suspended"}
    files = {p.name for p in (HEALTH_DIR / "testdata").glob("*.yaml")}
    assert files == {Path(c["inputPath"]).name for c in CASES}, "every testdata file has a case"


@pytest.mark.parametrize("case", CASES, ids=[Path(c["inputPath"]).stem for c in CASES])
def test_samples_are_valid_transcodejobs(case: dict[str, Any]) -> None:
    job = model.parse_job(load(case))
    assert job.kind == "TranscodeJob"


def test_suspend_does_not_hide_a_finished_job(tmp_path: Path) -> None:
    obj = load(next(c for c in CASES if c["inputPath"].endswith("succeeded-gpu.yaml")))
    obj["spec"]["suspend"] = True
    assert run_health(obj, tmp_path)[0] == "Healthy"


# --- kstatus (Flux) ----------------------------------------------------------------
def kstatus(obj: dict[str, Any]) -> str:
    """sigs.k8s.io/cli-utils kstatus `Compute` for a custom resource (its generic rules).

    Deleting -> InProgress; observedGeneration behind -> InProgress; the first
    Reconciling=True -> InProgress or Stalled=True -> Failed; otherwise Current.
    """
    meta, status = obj.get("metadata", {}), obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return "Terminating"
    observed = status.get("observedGeneration")
    if observed is not None and observed != meta.get("generation"):
        return "InProgress"
    for cond in status.get("conditions", []):
        if cond["type"] == "Reconciling" and cond["status"] == "True":
            return "InProgress"
        if cond["type"] == "Stalled" and cond["status"] == "True":
            return "Failed"
    return "Current"


KSTATUS = {
    "succeeded-fallback.yaml": "Current",
    "succeeded-gpu.yaml": "Current",
    "failed.yaml": "Failed",
    "stalled.yaml": "Failed",
    "running.yaml": "InProgress",
    "scheduling.yaml": "InProgress",
    "uploading.yaml": "InProgress",
    "generation-behind.yaml": "InProgress",
    "suspended.yaml": "Current",
}


@pytest.mark.parametrize("name", sorted(KSTATUS))
def test_kstatus_reads_our_conditions(name: str) -> None:
    obj = yaml.safe_load((HEALTH_DIR / "testdata" / name).read_text())
    assert kstatus(obj) == KSTATUS[name]


def test_failed_job_is_stalled_not_reconciling() -> None:
    obj = yaml.safe_load((HEALTH_DIR / "testdata/failed.yaml").read_text())
    conds = {c["type"]: c["status"] for c in obj["status"]["conditions"]}
    assert conds["Stalled"] == "True" and conds["Reconciling"] == "False"
    running = yaml.safe_load((HEALTH_DIR / "testdata/running.yaml").read_text())
    assert {c["type"]: c["status"] for c in running["status"]["conditions"]}["Reconciling"] == "True"


# --- the operator's own status builder, read by kstatus and Argo CD --------------------
P = constants.Phase
OPERATOR_STATES = {
    # name: (JobState, suspend, expected kstatus, expected Argo CD health)
    "pending": (conditions.JobState(P.PENDING, "Created"), False, "InProgress", "Progressing"),
    "scheduling": (conditions.JobState(P.SCHEDULING, "PodCreated"), False, "InProgress", "Progressing"),
    "running": (conditions.JobState(P.RUNNING, "Encoding"), False, "InProgress", "Progressing"),
    "uploading": (conditions.JobState(P.UPLOADING, "Uploading"), False, "InProgress", "Progressing"),
    "suspended": (conditions.JobState(P.PENDING, "Suspended", suspended=True), True, "Current", "Suspended"),
    "succeeded": (conditions.JobState(P.SUCCEEDED, "TranscodeSucceeded", "1 output"), False, "Current", "Healthy"),
    "failed": (conditions.JobState(P.FAILED, "BackoffLimitExceeded", "4 attempts failed"), False, "Failed",
               "Degraded"),
}


@pytest.mark.parametrize("name", sorted(OPERATOR_STATES))
def test_operator_conditions_read_right_by_flux_and_argo(name: str, tmp_path: Path) -> None:
    state, suspend, want_kstatus, want_argo = OPERATOR_STATES[name]
    now = datetime.datetime(2025, 1, 17, 10, 0, tzinfo=datetime.UTC)
    new = conditions.apply_state(job_status.TranscodeJobStatus(), state, 3, now)
    obj = yaml.safe_load((HEALTH_DIR / "testdata/new.yaml").read_text())
    obj["metadata"]["generation"] = 3
    obj["spec"]["suspend"] = suspend
    obj["status"] = new.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert kstatus(obj) == want_kstatus
    assert run_health(obj, tmp_path)[0] == want_argo
    conds = {c["type"]: c["status"] for c in obj["status"]["conditions"]}
    if name == "failed":
        assert (conds["Stalled"], conds["Reconciling"]) == ("True", "False")
    if name == "running":
        assert conds["Reconciling"] == "True"
