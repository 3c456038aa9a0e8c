"""`dev/cluster/build-all.sh` (what `make cluster-bin` and `make test` run first): a lane
that fails makes the whole build fail, after every lane ended, and shows its own log.

The seam is `go` on the PATH: a stub that refuses every command, with an empty build
cache folder, so every lane has to call it and fails the way a real failed build does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LANES = ("control plane + kubelet node", "kueue", "s3 server", "helm")


def test_failing_lanes_fail_the_build_each_with_its_own_log(tmp_path: Path) -> None:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    go = stubs / "go"
    go.write_text("#!/bin/sh\necho \"go stub refused: $*\" >&2\nexit 3\n")
    go.chmod(0o755)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(tmp_path),
           "KT_CACHE_DIR": str(tmp_path / "cache"), "TMPDIR": str(temp)}

    done = subprocess.run(["bash", str(ROOT / "dev/cluster/build-all.sh")], env=env,
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "ready" not in done.stdout
    for lane in LANES:
        assert f"build-all: {lane} FAILED after" in done.stderr
    # Each lane's tail names what it was building when it failed.
    assert "go stub refused: build" in done.stderr
    for what in ("building etcd", "building kueue", "building versitygw", "building helm"):
        assert what in done.stderr
    assert list(temp.iterdir()) == []  # its log folder is gone
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []  # no binary
