"""Host-side bookkeeping for kubelet nodes: cgroup roots, mounts and shim PIDs.

Called by `dev.cluster.kubelet` when a node starts (its cgroup root, in every
cgroup v1 hierarchy, since the kubelet checks that it exists) and when it is torn
down: the containerd shims of that node only (found by its socket path on their
command line), every mount under the node's temp folder (deepest first), and the
cgroups the kubelet and runc made under that root (v1 and the hybrid v2 tree),
and its links in /var/log/containers. Two paths stay shared by all kubelets on the
machine (fixed in the kubelet): /var/log/containers and the device-plugin socket
/var/lib/kubelet/device-plugins/kubelet.sock (no device plugin is used here).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path


def pids_with_arg(needle: str) -> list[int]:
    """PIDs whose command line contains `needle` (NUL-separated): our node's shims."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                if needle.encode() in (d / "cmdline").read_bytes():
                    found.append(int(d.name))
    return found


def unmount_under(folder: Path) -> list[str]:
    """Unmount everything mounted at or below `folder`, deepest first."""
    left = []
    for _ in range(3):
        points = [ln.split()[4].encode().decode("unicode_escape")
                  for ln in Path("/proc/self/mountinfo").read_text().splitlines()]
        mine = [p for p in points if p == str(folder) or p.startswith(f"{folder}/")]
        if not mine:
            return []
        for p in reversed(mine):
            if subprocess.run(["umount", p], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", p], capture_output=True)
        left = mine
    return [f"mount {p}" for p in left]


def _v1_hierarchies(unified: bool = False) -> list[Path]:
    kinds = (" - cgroup ", " - cgroup2 ") if unified else (" - cgroup ",)
    return [Path(ln.split()[4]) for ln in Path("/proc/self/mountinfo").read_text().splitlines()
            if any(k in ln for k in kinds)]


def make_cgroup(root: str) -> None:
    """The kubelet's cgroupRoot, created in every v1 hierarchy (the kubelet checks it)."""
    for h in _v1_hierarchies():
        d = h / root.lstrip("/")
        d.mkdir(exist_ok=True)
        for f in ("cpuset.cpus", "cpuset.mems"):
            if (h / f).exists() and not (d / f).read_text().strip():
                (d / f).write_text((h / f).read_text())


def remove_cgroup(root: str) -> list[str]:
    left = []
    for h in _v1_hierarchies(unified=True):  # runc also makes it in the hybrid v2 tree
        top = h / root.lstrip("/")
        if not top.is_dir():
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
            except OSError as exc:
                left.append(f"cgroup {dirpath}: {exc.strerror}")
    return left


def remove_log_links(folder: Path, links: Path = Path("/var/log/containers")) -> None:
    """The kubelet links every container log into /var/log/containers (a fixed path):
    remove the links that point into `folder`, and only those."""
    for link in links.glob("*.log") if links.is_dir() else []:
        with contextlib.suppress(OSError):
            if link.is_symlink() and os.readlink(link).startswith(f"{folder}/"):
                link.unlink()
