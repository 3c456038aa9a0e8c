"""A real S3-compatible server on loopback for tests: versitygw's posix backend.

Used by the `s3_server`/`bucket` fixtures in `dev.services.fixtures` (and by
anything else that wants a local S3, such as the demo). `build_binary()` runs
`dev/cluster/s3/build.sh`, which builds versitygw from the Go module pinned in
that folder into the cache outside the repository. `S3Server.start()` runs it on
127.0.0.1 with a free port, a temp data folder and a freshly generated key pair
(passed by environment, never on the command line), waits until it answers an
authenticated request, and `stop()` ends exactly the PID it started; that also
happens at interpreter exit and on SIGINT/SIGTERM.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from dev import cachedir
from dev.services import procs

BUILD_SH = Path(__file__).resolve().parents[1] / "cluster" / "s3" / "build.sh"


def build_binary() -> Path:
    """Build versitygw (or find it in the cache) and return the binary's path."""
    if shutil.which("go") is None and not _cached_binary_exists():
        raise RuntimeError(
            "Go is needed to build the S3 test server (versitygw) from "
            f"{BUILD_SH.parent}/go.mod, and `go` is not on PATH; install Go "
            "(https://go.dev/dl/) or the Debian package `golang-go` if it is new enough."
        )
    out = subprocess.run(
        ["bash", str(BUILD_SH)], check=False, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"{BUILD_SH} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


def _cached_binary_exists() -> bool:
    return any(cachedir.folder().glob("versitygw-*/bin/versitygw"))


def _xattrs_work(folder: Path) -> bool:
    """versitygw's posix backend keeps object metadata in user xattrs when it can."""
    try:
        os.setxattr(folder, "user.kt-probe", b"1")
        os.removexattr(folder, "user.kt-probe")
        return True
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
            return False
        raise


class S3Server:
    """One versitygw process serving S3 on http://127.0.0.1:<port>."""

    def __init__(self, binary: Path | str | None = None, *, region: str = "us-east-1") -> None:
        self.binary = Path(binary) if binary else None
        self.region = region
        self.access_key = "KT" + secrets.token_hex(9).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.port = 0
        self.workdir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def data_dir(self) -> Path:
        assert self.workdir is not None, "server not started"
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None, "server not started"
        return self.workdir / "versitygw.log"

    def env(self) -> dict[str, str]:
        """AWS_* variables that point an AWS SDK or CLI process at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
        }

    def start(self, timeout: float = 30.0) -> S3Server:
        if self.proc is not None and self.proc.poll() is None:
            return self
        if self.binary is None:
            self.binary = build_binary()
        self.workdir = Path(tempfile.mkdtemp(prefix="kt-s3-"))
        self.data_dir.mkdir()
        self.port = procs.free_port()
        args = [str(self.binary), "--port", f"127.0.0.1:{self.port}", "--region", self.region,
                "--quiet", "posix"]
        if not _xattrs_work(self.data_dir):
            sidecar = self.workdir / "meta"
            sidecar.mkdir()
            args += ["--sidecar", str(sidecar)]
        args.append(str(self.data_dir))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VGW_", "ROOT_"))}
        env.update(ROOT_ACCESS_KEY_ID=self.access_key, ROOT_SECRET_ACCESS_KEY=self.secret_key)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env)
        procs.on_exit(self.stop)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        client = self.client()
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"versitygw exited with {self.proc.returncode}:\n"
                                   f"{self.log_path.read_text(errors='replace')[-4000:]}")
            if procs.port_open(self.port):
                try:
                    client.list_buckets()
                    return
                except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                    last = repr(exc)
            time.sleep(0.1)
        log = self.log_path.read_text(errors="replace")[-4000:]
        self.stop()
        raise TimeoutError(f"versitygw not ready on {self.endpoint} after {timeout}s: {last}\n{log}")

    def client(self, endpoint: str | None = None, **config: Any) -> Any:
        """A boto3 S3 client for this server (path-style addressing, SigV4), or for a
        relay in front of it at `endpoint`."""
        import boto3
        from botocore.config import Config

        cfg = Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                     retries={"max_attempts": 3, "mode": "standard"}, **config)
        return boto3.client(
            "s3", endpoint_url=endpoint or self.endpoint, region_name=self.region,
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            config=cfg,
        )

    def make_bucket(self, prefix: str = "kt") -> str:
        """Create a bucket with a fresh unique name and return the name."""
        name = f"{prefix}-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        procs.stop_process(self.proc)
        procs.forget(self.stop)
        if self.workdir is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.workdir)
            self.workdir = None
        self.proc = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
