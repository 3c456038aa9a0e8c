"""A real Redis on loopback for tests: Debian's `redis-server`, no persistence.

Used by the `redis_server`/`redis_url` and `redis_acl_server` fixtures in
`dev.services.fixtures` (and by the demo). `RedisServer.start()` runs
/usr/bin/redis-server bound to 127.0.0.1 on a free port with a temp working
folder, no RDB snapshots and no AOF, and `maxmemory-policy noeviction` as the
chart's Redis (a full Redis refuses writes instead of dropping locks and
limits); `stop()` ends exactly the PID it started, and `start()` brings a new
process back on the same port, so tests can take Redis away in the middle of a
job and return it at the same URL (empty, as a restarted cache would be).
`RedisServer(acl=True)` loads the production ACL users (`transcode_api.redisacl`,
`default` off) with fresh passwords, plus an `admin` user that only tests have
(FLUSHALL, reading any key); `password(user)` and `user_url(user)` log in.
Stopping also happens at interpreter exit and on SIGINT/SIGTERM.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from dev.services import procs
from transcode_api import redisacl

REDIS_SERVER = Path("/usr/bin/redis-server")
DATABASES = 1024  # fixtures hand each test its own database number
ADMIN = "admin"
"""The test-only ACL user with every right (never in the chart)."""


def find_binary() -> Path:
    """The Debian redis-server binary, or a RuntimeError that says how to install it."""
    found = REDIS_SERVER if REDIS_SERVER.exists() else None
    if found is None and (which := shutil.which("redis-server")):
        found = Path(which)
    if found is None:
        raise RuntimeError(
            f"{REDIS_SERVER} not found: install the Debian package `redis-server` "
            "(apt-get install -y redis-server); .ci/run installs it on CI machines."
        )
    return found


class RedisServer:
    """One redis-server process on redis://127.0.0.1:<port>, restartable on that port."""

    def __init__(self, binary: Path | str | None = None, *, port: int | None = None,
                 acl: bool = False) -> None:
        self.binary = Path(binary) if binary else None
        self.port = port or 0
        self.workdir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.passwords: dict[str, str] = {}
        if acl:
            self.passwords = {**redisacl.new_passwords(), ADMIN: secrets.token_urlsafe(24)}

    def password(self, user: str) -> str:
        """The password of ACL user `user` (operator, runner, probe, admin)."""
        return self.passwords[user]

    def user_url(self, user: str, db: int = 0) -> str:
        """A URL that logs in as `user` (tests only: production keeps passwords out of URLs)."""
        return f"redis://{user}:{self.passwords[user]}@127.0.0.1:{self.port}/{db}"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def url_for(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None, "server never started"
        return self.workdir / "redis.log"

    def start(self, timeout: float = 20.0) -> RedisServer:
        """Start redis-server (again, on the same port if it ran before)."""
        if self.running:
            return self
        if self.binary is None:
            self.binary = find_binary()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="kt-redis-"))
        if not self.port:
            self.port = procs.free_port()
        args = [
            str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.workdir), "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--databases", str(DATABASES),
            "--logfile", str(self.log_path), "--protected-mode", "yes",
            "--maxmemory-policy", "noeviction",
        ]
        if self.passwords:
            acl_file = self.workdir / redisacl.ACL_FILE_KEY
            admin = f"user {ADMIN} on #{redisacl.password_hash(self.passwords[ADMIN])} ~* &* +@all\n"
            acl_file.write_text(redisacl.render(self.passwords) + admin)
            args += ["--aclfile", str(acl_file)]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT, cwd=self.workdir)
        procs.on_exit(self.stop_and_clean)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n"
                                   f"{self._log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith((b"+PONG", b"-NOAUTH")):  # NOAUTH: ACL, up
                        return
                    last = "no PONG"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.05)
        log = self._log_tail()
        self.stop()
        raise TimeoutError(f"redis-server not ready on port {self.port} after {timeout}s: "
                           f"{last}\n{log}")

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def client(self, db: int = 0, **kwargs: Any) -> Any:
        """A redis-py client for database `db` of this server."""
        import redis

        if self.passwords:  # with ACL users, as the test-only admin
            kwargs = {"username": ADMIN, "password": self.passwords[ADMIN], **kwargs}
        return redis.Redis.from_url(self.url_for(db), **kwargs)

    def stop(self) -> None:
        """Stop the process; the port and temp folder are kept for `start()`."""
        procs.stop_process(self.proc)
        self.proc = None

    def stop_and_clean(self) -> None:
        """Stop the process and remove its temp folder (end of session)."""
        self.stop()
        procs.forget(self.stop_and_clean)
        if self.workdir is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.workdir)
            self.workdir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop_and_clean()
