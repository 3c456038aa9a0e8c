"""functional tier for the runner: the real CLI, real FFmpeg, the real S3 server.

Sources are generated once per session with FFmpeg's lavfi (testsrc2 + sine),
small and short so each test takes seconds. `run_job` runs `python -m
transcode_runner run --spec FILE` in a child process against `s3_server` with
an FFmpeg wrapper that logs every invocation (to count encoder processes), and
returns the exit code, the result JSON it printed and the termination message;
its environment allows 127.0.0.1 through the runner's SSRF guard.
`SlowProxy` is a throttling TCP relay in front of the S3 server, used to catch
the runner in the middle of an upload.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from dev.services import s3server

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True,
                   timeout=120)


@dataclass(frozen=True)
class Media:
    """Generated sources (paths)."""

    hd: Path
    """1920x1080, 25 fps, 2 s, with a 440 Hz tone (AAC)."""
    odd_silent: Path
    """641x361, no audio track, 1 s."""
    noisy: Path
    """640x360 noise, 2 s: large when encoded losslessly."""
    empty: Path
    truncated: Path
    text: Path


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    folder = tmp_path_factory.mktemp("media")
    hd = folder / "hd.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=2",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(hd))
    odd = folder / "odd.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=641x361:rate=25:duration=1",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p", str(odd))
    noisy = folder / "noisy.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=2",
           "-vf", "noise=alls=60:allf=t", "-c:v", "libx264", "-preset", "ultrafast",
           "-qp", "0", str(noisy))
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    truncated = folder / "truncated.mp4"  # moov at the end, cut off: unreadable
    truncated.write_bytes(hd.read_bytes()[: hd.stat().st_size // 2])
    text = folder / "notes.mp4"
    text.write_text("These are meeting notes, not a video.\n" * 50)
    return Media(hd, odd, noisy, empty, truncated, text)


@dataclass
class Run:
    """What one runner process did."""

    code: int
    result: dict[str, Any]
    stderr: str
    termination: dict[str, Any] | None
    ffmpeg_calls: list[list[str]] = field(default_factory=list)

    @property
    def encodes(self) -> list[list[str]]:
        """FFmpeg invocations that encode (the probe's test encodes excluded)."""
        return [argv for argv in self.ffmpeg_calls if "-progress" in argv]

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.result.get("metadata") or {})


@pytest.fixture
def ffmpeg_wrapper(tmp_path: Path) -> tuple[Path, Path]:
    """An `ffmpeg` that logs its argv (one JSON list per line) and runs the real one."""
    log = tmp_path / "ffmpeg-calls.jsonl"
    wrapper = tmp_path / "ffmpeg-logged"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"os.execv({FFMPEG!r}, [{FFMPEG!r}] + sys.argv[1:])\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return wrapper, log


def storage(server: s3server.S3Server, endpoint: str | None = None) -> dict[str, Any]:
    return {"endpoint": endpoint or server.endpoint, "region": server.region, "pathStyle": True}


def runner_env(server: s3server.S3Server, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSCODER_", "AWS_"))}
    env.update(server.env())
    env.update(
        TRANSCODER_SCRATCH_DIR=str(tmp_path / "scratch"),
        TRANSCODER_TERMINATION_MESSAGE_PATH=str(tmp_path / "termination-log"),
        # The S3 server is on 127.0.0.1, which the SSRF guard refuses unless allowed.
        TRANSCODER_NETWORK_ALLOW='["127.0.0.1"]',
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start_job(spec: dict[str, Any], tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    job_file = tmp_path / "job.yaml"
    job_file.write_text(yaml.safe_dump(
        {"apiVersion": "kubetranscoder.io/v1alpha1", "kind": "TranscodeJob",
         "metadata": {"name": "functional", "namespace": "tests"}, "spec": spec}))
    return subprocess.Popen([sys.executable, "-m", "transcode_runner", "run", "--spec",
                             str(job_file)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def finish(proc: subprocess.Popen[str], tmp_path: Path, log: Path | None, timeout: float = 240
           ) -> Run:
    out, err = proc.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, f"no result printed (exit {proc.returncode}):\n{err[-3000:]}"
    term_file = tmp_path / "termination-log"
    calls = ([json.loads(line) for line in log.read_text().splitlines()]
             if log is not None and log.exists() else [])
    return Run(proc.returncode, json.loads(lines[-1]), err,
               json.loads(term_file.read_text()) if term_file.exists() else None, calls)


@pytest.fixture
def run_job(s3_server: s3server.S3Server, tmp_path: Path, ffmpeg_wrapper: tuple[Path, Path]
            ) -> Callable[..., Run]:
    wrapper, log = ffmpeg_wrapper

    def run(spec: dict[str, Any], **env: str) -> Run:
        log.unlink(missing_ok=True)
        (tmp_path / "termination-log").unlink(missing_ok=True)
        spec = {"storage": storage(s3_server), **spec}
        full_env = runner_env(s3_server, tmp_path, TRANSCODER_FFMPEG_PATH=str(wrapper), **env)
        return finish(start_job(spec, tmp_path, full_env), tmp_path, log)

    return run


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format",
                          "-show_streams", str(path)], check=True, capture_output=True,
                         text=True, timeout=60)
    return dict(json.loads(out.stdout))


def fetch(server: s3server.S3Server, url: str, folder: Path) -> Path:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    target = folder / key.replace("/", "_")
    server.client().download_file(bucket, key, str(target))
    return target


class SlowProxy:
    """A TCP relay to `port` that limits each connection's upload to `rate` bytes/s."""

    def __init__(self, port: int, rate: int) -> None:
        self.port, self.rate = port, rate
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listen_port = int(self.listener.getsockname()[1])
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, slow: bool) -> None:
        try:
            while data := source.recv(64 * 1024):
                target.sendall(data)
                if slow:
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self.listener.close()


@pytest.fixture
def slow_proxy(s3_server: s3server.S3Server) -> Iterator[SlowProxy]:
    proxy = SlowProxy(s3_server.port, rate=2 * 1024 * 1024)
    yield proxy
    proxy.close()
