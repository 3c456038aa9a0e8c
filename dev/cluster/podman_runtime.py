"""Container mode for the node agent: runs a Pod's container with podman + runc.

`dev.cluster.podruntime.PodWorker` calls `run_pod(worker, env, mounts)` instead
of its process mode when `use_container(image)` says the Pod's image exists in
the local podman store (built by `make images`) and podman can run containers on
this machine. The container gets what a kubelet gives it:

- command -> `--entrypoint` (JSON form), args -> the arguments after the image;
  neither -> the image's ENTRYPOINT/CMD;
- env (resolved by `podenv`, incl. secret and config-map refs) through a 0600
  `--env-file` that is deleted when the container is gone, never on the command
  line (so secrets do not show in `ps`); values with newlines, which an env file
  cannot hold, through `--env NAME` with the value in the podman client's own
  environment;
- `runAsUser`/`runAsGroup` -> `--user`, `runAsNonRoot` checked against the
  effective user as a kubelet does (`CreateContainerConfigError` otherwise),
  `fsGroup`/`supplementalGroups` -> `--group-add`, `readOnlyRootFilesystem` ->
  `--read-only --read-only-tmpfs=false` (a kubelet adds no tmpfs: /tmp is
  read-only unless a volume is mounted there), `capabilities` -> `--cap-drop` /
  `--cap-add`, `allowPrivilegeEscalation: false` -> `no-new-privileges`,
  `privileged` -> `--privileged`;
- volumes and the termination-message file as bind mounts (`-v src:dst[:ro]`);
  emptyDir folders get mode 0777 as a kubelet makes them, other volumes are
  handed to the container's user (or its fsGroup);
- `--network host`, so the container reaches the loopback test servers (API
  server, S3, Redis), and the Pod name as hostname;
- deletion: SIGTERM, the grace period (shortened if the agent asks to kill now),
  then SIGKILL; exit code from `podman wait`; the container is removed after its
  status has been read. The name is `kt-<pod uid>`.

Podman is always called with CONTAINERS_CONF pointing at the project's
`deploy/containers/containers.conf` (runc, cgroupfs, ulimits) unless the caller
set one. `KT_NODE_CONTAINERS=0` forces process mode.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from dev.cluster import podenv

log = logging.getLogger("nodeagent.podman")
REPO = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = REPO / "deploy" / "containers" / "containers.conf"
LABEL = "io.kube-transcoder.node-agent"
MAX_MESSAGE = 4096

_lock = threading.Lock()
_works: bool | None = None
_live: set[str] = set()


class ContainerConfigError(podenv.ConfigError):
    """The container cannot be started as configured (e.g. runAsNonRoot with a root user)."""


def podman_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    env.update(extra or {})
    return env


def podman(*args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run one podman command with the project's configuration."""
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                          env=podman_env(), stdin=subprocess.DEVNULL, check=check)


def image_exists(image: str) -> bool:
    if not image or shutil.which("podman") is None:
        return False
    try:
        return podman("image", "exists", image, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def podman_works(image: str) -> bool:
    """Once per process: can podman run a container here? Logs exactly what failed if not."""
    global _works
    with _lock:
        if _works is None:
            try:
                out = podman("run", "--rm", "--network", "host", "--entrypoint", "/bin/true",
                             "--user", "65532", image, timeout=120)
                _works = out.returncode == 0
                if not _works:
                    log.error("podman cannot run containers here; Pods run as processes. "
                              "`podman run --rm --network host --entrypoint /bin/true %s` "
                              "exited %s:\n%s", image, out.returncode, out.stderr.strip())
            except (OSError, subprocess.TimeoutExpired) as exc:
                log.error("podman cannot run containers here (%s); Pods run as processes", exc)
                _works = False
        return _works


def use_container(image: str | None) -> bool:
    """Container mode for this Pod: the image is in the local store and podman works."""
    if os.environ.get("KT_NODE_CONTAINERS", "1") == "0" or not image:
        return False
    return image_exists(image) and podman_works(image)


IMAGE_TAG = os.environ.get("KT_IMAGE_TAG", "dev")
RUNNER_IMAGE = f"localhost/kube-transcoder-runner:{IMAGE_TAG}"
OPERATOR_IMAGE = f"localhost/kube-transcoder-operator:{IMAGE_TAG}"
BUILD_SCRIPT = REPO / "deploy" / "containers" / "build-images.sh"
_built = False


def ensure_images() -> None:
    """Build both images once per process with `build-images.sh` (layer-cached: seconds
    when nothing changed). `KT_IMAGE_BUILD=missing` builds only when an image is absent;
    `KT_IMAGE_BUILD=0` never builds. Raises with the build's tail if it fails."""
    global _built
    with _lock:
        mode = os.environ.get("KT_IMAGE_BUILD", "1")
        if _built or mode == "0":
            return
        if mode == "missing" and image_exists(RUNNER_IMAGE) and image_exists(OPERATOR_IMAGE):
            _built = True
            return
        out = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True,
                             env=podman_env(), stdin=subprocess.DEVNULL, timeout=3600)
        if out.returncode != 0:
            raise RuntimeError(f"{BUILD_SCRIPT.name} exited {out.returncode}:\n"
                               f"{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
        log.info("images built:\n%s", "\n".join(
            ln for ln in out.stdout.splitlines() if ln.startswith(("build-images", "make-base"))))
        _built = True


def kill_all() -> None:
    """Remove (SIGKILL) every container this process started and has not removed yet."""
    for name in list(_live):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            podman("rm", "-f", "-t", "0", name, timeout=60)
        _live.discard(name)


def _image_user(image: str) -> str:
    out = podman("image", "inspect", "--format", "{{.Config.User}}", image, timeout=30)
    return out.stdout.strip() if out.returncode == 0 else ""


def _merged(pod_sc: Any, c_sc: Any, field: str) -> Any:
    for sc in (c_sc, pod_sc):
        value = getattr(sc, field, None) if sc is not None else None
        if value is not None:
            return value
    return None


class PodmanContainer:
    """One Pod's container: `start()`, `poll()`, `stop(grace)`, `wait()` like a process."""

    def __init__(self, worker: Any, env: dict[str, str], mounts: list[dict[str, Any]]) -> None:
        self.worker = worker
        self.pod = worker.pod
        self.container = worker.container
        self.image: str = self.container.image
        self.name = f"kt-{self.pod.metadata.uid}"
        self.root: Path = worker.root
        self.mounts = mounts
        base = {k: v for k, v in worker._base_env().items() if k not in ("PATH", "HOME")}
        self.env = {**base, **env}
        self.client: subprocess.Popen[bytes] | None = None
        self.env_file = self.root / "container.env"
        self.log_path = self.root / "container.log"
        self.container_id = ""

    # --- what a kubelet derives from the Pod spec ----------------------------
    def _identity(self) -> tuple[int | None, int | None, list[int]]:
        psc, csc = self.pod.spec.security_context, self.container.security_context
        uid = _merged(psc, csc, "run_as_user")
        gid = _merged(psc, csc, "run_as_group")
        groups = [int(g) for g in (getattr(psc, "supplemental_groups", None) or [])]
        fs_group = getattr(psc, "fs_group", None)
        if fs_group is not None:
            groups.append(int(fs_group))
        image_user = _image_user(self.image)
        if uid is None and image_user:
            head = image_user.split(":", 1)[0]
            if head.isdigit():
                uid = int(head)
            elif _merged(psc, csc, "run_as_non_root"):
                raise ContainerConfigError(
                    f"container has runAsNonRoot and image has non-numeric user ({head}), "
                    "cannot verify user is non-root")
        if uid is None and _merged(psc, csc, "run_as_non_root"):
            uid = 0  # no USER in the image: it runs as root
        if _merged(psc, csc, "run_as_non_root") and uid == 0:
            raise ContainerConfigError("container has runAsNonRoot and image will run as root")
        if gid is None and uid is not None and ":" in image_user:
            tail = image_user.split(":", 1)[1]
            gid = int(tail) if tail.isdigit() else None
        return (None if uid is None else int(uid)), (None if gid is None else int(gid)), groups

    def _volume_kind(self, source: Path) -> Any:
        try:
            rel = source.relative_to(self.root / "volumes")
        except ValueError:
            return None
        for vol in self.pod.spec.volumes or []:
            if vol.name == rel.parts[0]:
                return vol
        return None

    def _own_mounts(self, uid: int | None, gid: int | None) -> None:
        """Make the Pod's folders usable by a non-root container user, as a kubelet does."""
        fs_group = getattr(self.pod.spec.security_context, "fs_group", None)
        for m in self.mounts:
            src = Path(m["source"])
            if not src.exists() or src.is_file():
                if src.is_file() and uid not in (None, 0):
                    os.chown(src, uid, gid if gid is not None else -1)
                continue
            vol = self._volume_kind(src)
            paths = [src, *src.rglob("*")]
            if vol is not None and vol.empty_dir is not None:
                for p in paths:
                    p.chmod(0o777 if p.is_dir() else 0o666)
                if fs_group is not None:
                    for p in paths:
                        os.chown(p, -1, int(fs_group))
                continue
            for p in paths:
                if fs_group is not None:
                    os.chown(p, -1, int(fs_group))
                    p.chmod((p.stat().st_mode & 0o7777) | (0o050 if p.is_dir() else 0o040))
                elif uid not in (None, 0):
                    os.chown(p, uid, gid if gid is not None else -1)

    def _write_env_file(self) -> dict[str, str]:
        """Single-line values go to the 0600 env file; multi-line ones via the client env."""
        lines, inherited = [], {}
        for key, value in self.env.items():
            if "\n" in value or "\r" in value or "=" in key or not key.strip():
                inherited[key] = value
            else:
                lines.append(f"{key}={value}")
        fd = os.open(self.env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        return inherited

    def argv(self, uid: int | None, gid: int | None, groups: list[int],
             inherited: dict[str, str]) -> list[str]:
        c, csc = self.container, self.container.security_context
        argv = ["podman", "run", "--name", self.name, "--network", "host",
                "--hostname", self.pod.metadata.name,
                "--label", f"{LABEL}=1", "--label", f"io.kubernetes.pod.uid={self.pod.metadata.uid}",
                "--label", f"io.kubernetes.pod.name={self.pod.metadata.name}",
                "--label", f"io.kubernetes.pod.namespace={self.pod.metadata.namespace}",
                "--env-file", str(self.env_file)]
        for key in inherited:
            argv += ["--env", key]
        if uid is not None:
            argv += ["--user", f"{uid}:{gid}" if gid is not None else str(uid)]
        for g in groups:
            argv += ["--group-add", str(g)]
        if csc is not None and csc.privileged:
            argv.append("--privileged")
        if csc is not None and csc.read_only_root_filesystem:
            argv += ["--read-only", "--read-only-tmpfs=false"]
        caps = csc.capabilities if csc is not None else None
        for cap in (caps.drop or []) if caps is not None else []:
            argv += ["--cap-drop", cap]
        for cap in (caps.add or []) if caps is not None else []:
            argv += ["--cap-add", cap]
        if csc is not None and csc.allow_privilege_escalation is False:
            argv += ["--security-opt", "no-new-privileges"]
        for m in self.mounts:
            spec = f"{m['source']}:{m['target']}"
            argv += ["-v", spec + (":ro" if m.get("readOnly") else "")]
        if c.working_dir:
            argv += ["--workdir", c.working_dir]
        if c.command:
            argv += ["--entrypoint", json.dumps(list(c.command))]
        argv.append(self.image)
        argv += list(c.args or [])
        return argv

    # --- lifecycle ----------------------------------------------------------
    def start(self) -> None:
        """Create and start the container (attached: the client exits when it does)."""
        uid, gid, groups = self._identity()
        self._own_mounts(uid, gid)
        inherited = self._write_env_file()
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):  # a stale one of this uid
            podman("rm", "-f", "-t", "0", self.name, timeout=60)
        logf = open(self.log_path, "wb")
        try:
            self.client = subprocess.Popen(
                self.argv(uid, gid, groups, inherited), stdout=logf, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd="/",
                env=podman_env(inherited))
        finally:
            logf.close()
        _live.add(self.name)

    def poll(self) -> int | None:
        assert self.client is not None
        return self.client.poll()

    def _signal(self, sig: str) -> None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            podman("kill", "--signal", sig, self.name, timeout=30)

    def stop(self, grace: float) -> None:
        """SIGTERM, wait up to the grace period (re-read: `kill_now` shortens it), SIGKILL."""
        assert self.client is not None
        self._signal("TERM")
        t0 = time.monotonic()
        while self.client.poll() is None:
            limit = min(grace, float(self.worker.grace))
            if time.monotonic() - t0 >= limit:
                self._signal("KILL")
                break
            time.sleep(0.1)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.client.wait(timeout=30)

    def wait(self) -> int:
        """Wait for the container to end; return its exit code; remove it."""
        assert self.client is not None
        client_rc = self.client.wait()
        try:
            state = podman("inspect", "--format", "{{.State.Status}} {{.Id}}", self.name,
                           timeout=60).stdout.split()
            if state and state[0] == "running":  # the client was killed, not the container
                self._signal("KILL")
            if state and state[0] in ("running", "exited", "stopped"):
                self.container_id = state[1] if len(state) > 1 else ""
                out = podman("wait", self.name, timeout=60)
                code = int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else client_rc
            else:  # never started (bad command, missing image): podman's own 125/126/127
                code = client_rc
        finally:
            self.remove()
        return code

    def remove(self) -> None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            podman("rm", "-f", "-t", "0", self.name, timeout=60)
        _live.discard(self.name)
        self.env_file.unlink(missing_ok=True)


def run_pod(worker: Any, env: dict[str, str], mounts: list[dict[str, Any]]) -> None:
    """Run `worker`'s Pod as a container and report its status, like `_run_process`."""
    ctr = PodmanContainer(worker, env, mounts)
    try:
        ctr.start()
    except ContainerConfigError as exc:
        worker._patch("Pending", {"waiting": {"reason": "CreateContainerConfigError",
                                              "message": str(exc)}})
        worker.delete_requested.wait()
        return
    start = podenv.ts()
    worker.container_id = f"podman://{ctr.name}"
    worker._patch("Running", {"running": {"startedAt": start}}, ready=True)
    deadline = worker.pod.spec.active_deadline_seconds
    t0 = time.monotonic()
    timed_out = False
    while ctr.poll() is None:
        if worker.delete_requested.wait(0.2):
            ctr.stop(worker.grace)
            break
        if deadline and time.monotonic() - t0 > deadline:
            timed_out = True
            ctr.stop(0)
            break
    code = ctr.wait()
    term = worker.root / "termination-log"
    msg = term.read_bytes()[:MAX_MESSAGE].decode(errors="replace") if term.exists() else ""
    if not msg and code != 0 and worker.container.termination_message_policy == "FallbackToLogsOnError":
        msg = ctr.log_path.read_bytes()[-2048:].decode(errors="replace")
    worker._terminated(code, start, msg, deadline=timed_out)


__all__ = ["OPERATOR_IMAGE", "RUNNER_IMAGE", "ContainerConfigError", "PodmanContainer",
           "ensure_images", "image_exists", "kill_all",
           "podman_works", "run_pod", "use_container"]
