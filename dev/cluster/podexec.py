"""Exec shim that gives one Pod process its volumes, inside a private mount namespace.

The node agent (`dev.cluster.nodeagent`, process mode) starts every Pod as
`unshare --mount --propagation private -- python -m dev.cluster.podexec SPEC`.
This shim bind-mounts the Pod's per-Pod folders and files (emptyDir volumes, the
termination-message file, the projected service-account token) onto the paths
the container expects, then `exec`s the container's command with its env and
working directory. The mounts exist only in the Pod's namespace; the host sees
at most an empty mount point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    # Hold every source open first: a mount over a parent folder (an emptyDir at /tmp)
    # must not hide the per-Pod sources of the mounts after it.
    held = {m["source"]: os.open(m["source"], os.O_PATH) for m in spec["mounts"]}
    for mount in spec["mounts"]:
        src, dst = f"/proc/{os.getpid()}/fd/{held[mount['source']]}", mount["target"]
        target = Path(dst)
        if os.path.isdir(src):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.touch()
        flags = ["--bind"]
        subprocess.run(["mount", *flags, src, dst], check=True)
        if mount.get("readOnly"):
            subprocess.run(["mount", "-o", "remount,bind,ro", dst], check=True)
    for fd in held.values():
        os.close(fd)
    if spec.get("workingDir"):
        os.chdir(spec["workingDir"])
    argv = spec["argv"]
    try:
        os.execvpe(argv[0], argv, spec["env"])
    except OSError as exc:
        print(f"podexec: cannot run {argv[0]!r}: {exc}", file=sys.stderr)
        sys.exit(127)


if __name__ == "__main__":
    main()
