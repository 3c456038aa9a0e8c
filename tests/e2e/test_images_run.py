"""The built images, run with real podman + runc (no cluster needed).

Builds both images once per session with deploy/containers/build-images.sh (the
local Debian base is made first, cached; slow only the first time on a machine),
then runs them as the node agent and a real cluster would: the runner's probe
sees no GPU, its FFmpeg has the NVENC encoders, and a read-only, non-root,
capability-less container cannot write its root filesystem.
"""

from __future__ import annotations

import errno
import json
import subprocess

import pytest

from dev.cluster import images as pr

RESTRICTED = ["--read-only", "--read-only-tmpfs=false", "--user", "65532:65532",
              "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]

SELF_PRELUDE = r"""
import errno, json, os, socket, sys
def attempt(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return 0
    except OSError as exc:
        return exc.errno
caps = dict(l.split(":\t") for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
"""
"""Python run inside a container: `attempt(path)` (0 or the errno of a write) and `caps`
(the process's /proc status lines); shared with test_images_pod.py."""

INSPECT_SELF = SELF_PRELUDE + r"""
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "root": attempt("/probe"),
                  "tmp": attempt("/tmp/probe"), "capEff": caps["CapEff"].strip(),
                  "noNewPrivs": caps["NoNewPrivs"].strip(), "prefix": sys.prefix}))
"""


@pytest.fixture(scope="session")
def images() -> None:
    pr.ensure_images()


def run(image: str, *args: str, entrypoint: str | None = None, extra: list[str] | None = None,
        timeout: float = 180) -> subprocess.CompletedProcess[str]:
    argv = ["run", "--rm", "--network", "host", *(extra or [])]
    if entrypoint:
        argv += ["--entrypoint", entrypoint]
    return pr.podman(*argv, image, *args, timeout=timeout)


def test_runner_probe_reports_no_gpu(images: None) -> None:
    out = run(pr.RUNNER_IMAGE, "probe", "--json", extra=RESTRICTED)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["available"] is False and doc["deviceCount"] == 0
    reasons = {d["reason"] for d in doc["decisions"]}
    assert reasons <= {"NoGPU", "NVMLUnavailable"}, doc["decisions"]
    assert {d["encoder"] for d in doc["decisions"]} >= {"h264_nvenc", "hevc_nvenc"}


def test_runner_ffmpeg_has_nvenc_and_cpu_encoders(images: None) -> None:
    out = run(pr.RUNNER_IMAGE, "-hide_banner", "-encoders", entrypoint="ffmpeg", extra=RESTRICTED)
    assert out.returncode == 0, out.stderr
    for enc in ("h264_nvenc", "hevc_nvenc", "libx264", "libx265", "aac"):
        assert f" {enc} " in out.stdout, enc


def test_runner_nvidia_env_and_entrypoint(images: None) -> None:
    cfg = json.loads(pr.podman("image", "inspect", "--format", "{{json .Config}}",
                               pr.RUNNER_IMAGE).stdout)
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility,video"
    assert "NVIDIA_VISIBLE_DEVICES" not in env  # set per Pod: the device plugin or `void`
    assert cfg["Entrypoint"] == ["transcode-runner"]
    assert cfg["User"] == "65532:65532"


@pytest.mark.parametrize("image", [pr.RUNNER_IMAGE, pr.OPERATOR_IMAGE])
def test_read_only_non_root_container_cannot_write_root(images: None, image: str) -> None:
    out = run(image, "-c", INSPECT_SELF, entrypoint="python3", extra=RESTRICTED)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["uid"] == 65532 and seen["gid"] == 65532
    assert seen["root"] in (errno.EROFS, errno.EACCES), seen
    assert seen["tmp"] == errno.EROFS, seen  # /tmp is world-writable: only read-only stops it
    assert int(seen["capEff"], 16) == 0 and seen["noNewPrivs"] == "1"
    assert seen["prefix"] == "/opt/venv"


@pytest.mark.parametrize("image", [pr.RUNNER_IMAGE, pr.OPERATOR_IMAGE])
def test_image_default_user_is_not_root_and_has_no_build_tools(images: None, image: str) -> None:
    script = ("id -u; for t in gcc cc make pip pip3 apt-get; do command -v $t >/dev/null && echo has:$t; done; "
              "ls /var/lib/apt/lists | grep -v -e lock -e partial || true")
    out = run(image, "-c", script, entrypoint="sh")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert lines[0] == "65532"
    assert [ln for ln in lines[1:] if ln != "has:apt-get"] == [], lines  # apt itself is in the base


def test_operator_image_carries_kopf_and_no_ffmpeg(images: None) -> None:
    out = run(pr.OPERATOR_IMAGE, "-c",
              "import importlib.util as u, shutil; "
              "print(bool(u.find_spec('kopf')), bool(u.find_spec('boto3')), shutil.which('ffmpeg'))",
              entrypoint="python3", extra=RESTRICTED)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "None"]
    cfg = json.loads(pr.podman("image", "inspect", "--format", "{{json .Config}}",
                               pr.OPERATOR_IMAGE).stdout)
    assert cfg["Entrypoint"] == ["transcode-operator"]


def test_runner_image_carries_no_kopf(images: None) -> None:
    out = run(pr.RUNNER_IMAGE, "-c",
              "import importlib.util as u; print(bool(u.find_spec('kopf')), bool(u.find_spec('boto3')), "
              "bool(u.find_spec('pynvml')))", entrypoint="python3", extra=RESTRICTED)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True", "True"]


def test_runner_ffmpeg_encodes_on_the_cpu_and_nvenc_fails_cleanly(images: None) -> None:
    cpu = run(pr.RUNNER_IMAGE, "-hide_banner", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
              "-t", "1", "-c:v", "libx264", "-f", "null", "-", entrypoint="ffmpeg", extra=RESTRICTED)
    assert cpu.returncode == 0, cpu.stderr[-2000:]
    gpu = run(pr.RUNNER_IMAGE, "-hide_banner", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
              "-frames:v", "1", "-c:v", "h264_nvenc", "-f", "null", "-", entrypoint="ffmpeg",
              extra=RESTRICTED)
    assert gpu.returncode != 0  # no GPU here: the real failure the CPU fallback handles
    assert "libcuda" in gpu.stderr or "nvenc" in gpu.stderr.lower(), gpu.stderr[-2000:]
