"""Static checks of Dockerfile.operator / Dockerfile.runner (no build, no podman).

What can be checked from the text alone: both images are multi-stage on the
`BASE_IMAGE` argument (default `debian:bookworm-slim`), each venv installs exactly
its pyproject extra, the ENTRYPOINT is a console script of [project.scripts], the
final stage runs as a numeric non-root user, carries no compilers or pip, and the
runner has FFmpeg and the NVIDIA variables. The real builds are tested in
tests/e2e/test_images_*.py.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
IMAGES = {"operator": "transcode-operator", "runner": "transcode-runner"}
BUILD_TOOLS = {"gcc", "g++", "cpp", "make", "build-essential", "python3-dev", "python3.11-dev",
               "libc6-dev", "pkg-config", "cmake", "python3-pip", "python3-venv", "git"}


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


@dataclass
class Dockerfile:
    args_before_from: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def parse(path: Path) -> Dockerfile:
    text = re.sub(r"\\\n", " ", "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")))
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        keyword, _, rest = line.strip().partition(" ")
        keyword, rest = keyword.upper(), " ".join(rest.split())
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        elif not stages:
            assert keyword == "ARG", f"{path.name}: only ARG may precede FROM, got {keyword}"
            key, _, default = rest.partition("=")
            args[key] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return Dockerfile(args, stages)


def env_of(stage: Stage) -> dict[str, str]:
    out: dict[str, str] = {}
    for arg in stage.all("ENV"):
        for item in shlex.split(arg):
            key, _, value = item.partition("=")
            out[key] = value
    return out


def apt_packages(stage: Stage) -> set[str]:
    pkgs: set[str] = set()
    for run in stage.all("RUN"):
        for cmd in re.split(r"&&|;", run):
            words = cmd.split()
            if "apt-get" in words and "install" in words:
                pkgs |= {w for w in words[words.index("install") + 1:] if not w.startswith("-")}
    return pkgs


@pytest.fixture(params=sorted(IMAGES), ids=sorted(IMAGES))
def image(request: pytest.FixtureRequest) -> tuple[str, Dockerfile]:
    return request.param, parse(ROOT / f"Dockerfile.{request.param}")


def test_multi_stage_on_the_debian_base_argument(image: tuple[str, Dockerfile]) -> None:
    name, df = image
    assert df.args_before_from.get("BASE_IMAGE") == "debian:bookworm-slim", name
    assert len(df.stages) >= 2, f"{name}: a builder stage and a final stage"
    for stage in df.stages:
        assert stage.base == "${BASE_IMAGE}", f"{name}: every stage starts FROM ${{BASE_IMAGE}}"
    builders = {s.name for s in df.stages[:-1]}
    copies = [c for c in df.final.all("COPY") if c.startswith("--from=")]
    assert copies and all(c.split()[0].removeprefix("--from=") in builders for c in copies)


def test_pip_extras_match_pyproject(image: tuple[str, Dockerfile]) -> None:
    name, df = image
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    used = set()
    for stage in df.stages:
        for run in stage.all("RUN"):
            if "pip install" in run:
                used |= set(re.findall(r"\.\[([A-Za-z0-9_,-]+)\]", run))
    assert used == {name}, f"{name}: installs extras {used}"
    assert used <= extras, f"{name}: extras {used - extras} are not in pyproject"


def test_entrypoint_is_a_console_script(image: tuple[str, Dockerfile]) -> None:
    name, df = image
    entry = df.final.all("ENTRYPOINT")
    assert len(entry) == 1, f"{name}: one ENTRYPOINT in the final stage"
    argv = json.loads(entry[0])  # exec form: no shell between the signal and the process
    assert argv[0] == IMAGES[name]
    assert argv[0] in PYPROJECT["project"]["scripts"]


def test_final_stage_runs_as_numeric_non_root_user(image: tuple[str, Dockerfile]) -> None:
    name, df = image
    users = df.final.all("USER")
    assert users, f"{name}: the final stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, f"{name}: USER {users[-1]} (numeric for runAsNonRoot)"
    assert not gid or (gid.isdigit() and int(gid) != 0)
    assert int(uid) == 65532


def test_final_stage_has_no_build_tools(image: tuple[str, Dockerfile]) -> None:
    name, df = image
    pkgs = apt_packages(df.final)
    assert "python3" in pkgs
    assert not pkgs & BUILD_TOOLS, f"{name}: build tools in the final stage: {pkgs & BUILD_TOOLS}"
    runs = " ".join(df.final.all("RUN"))
    assert "pip install" not in runs
    for stage in df.stages:
        for run in stage.all("RUN"):
            if "apt-get install" in run:
                assert "--no-install-recommends" in run, f"{name}: {run}"
                assert "rm -rf /var/lib/apt/lists/*" in run, f"{name}: apt lists kept: {run}"


def test_runner_has_ffmpeg_and_nvidia_env() -> None:
    df = parse(ROOT / "Dockerfile.runner")
    assert "ffmpeg" in apt_packages(df.final)
    env = env_of(df.final)
    assert set(env["NVIDIA_DRIVER_CAPABILITIES"].split(",")) == {"compute", "utility", "video"}
    # No NVIDIA_VISIBLE_DEVICES: the device plugin sets it for GPU Pods, the operator
    # sets `void` for CPU Pods; an image default of `all` would hand CPU Pods every GPU.
    assert "NVIDIA_VISIBLE_DEVICES" not in env
    assert env["PATH"].startswith("/opt/venv/bin:")


def test_operator_has_no_ffmpeg() -> None:
    df = parse(ROOT / "Dockerfile.operator")
    assert not {"ffmpeg", "libavcodec59"} & apt_packages(df.final)
    assert "NVIDIA_DRIVER_CAPABILITIES" not in env_of(df.final)


def test_dockerignore_keeps_the_context_to_the_sources() -> None:
    lines = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*", "deny by default"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "api/src", "operator/src", "job-runner/src"}
    for pkg in PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]:
        assert any(pkg.startswith(a + "/") for a in allowed), pkg


def test_project_containers_conf() -> None:
    conf = tomllib.loads((ROOT / "deploy/containers/containers.conf").read_text())
    assert conf["engine"]["runtime"] == "runc"
    assert conf["engine"]["cgroup_manager"] == "cgroupfs"
    assert set(conf["containers"]["default_ulimits"]) == {"nofile=1024:20000", "nproc=1024:4096"}
