"""Process bookkeeping shared by the service launchers in `dev.services`.

`s3server.S3Server` and `redisserver.RedisServer` call these helpers to pick a
free loopback port, to stop exactly the PID they started (SIGTERM, then SIGKILL
after a grace period) and to register a stop callback that runs at interpreter
exit and on SIGINT/SIGTERM, so no server outlives a crashed or interrupted test run.
`PYTHONPATH` is what a Python process started from this checkout (the operator,
process-mode Pods) puts first on its path, so that it runs this checkout's packages
and not those of another editable install sharing the virtualenv.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHONPATH = os.pathsep.join(str(REPO / p) for p in ("", "api/src", "operator/src",
                                                     "job-runner/src"))
_lock = threading.Lock()
_stops: list[Callable[[], None]] = []
_installed = False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def stop_process(proc: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    """Terminate this one child process (by its PID only) and reap it."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=grace)


def on_exit(stop: Callable[[], None]) -> None:
    """Run `stop()` at interpreter exit and on SIGINT/SIGTERM (then the old handler).

    Registering the same callable twice keeps one entry.
    """
    global _installed
    with _lock:
        if stop not in _stops:
            _stops.append(stop)
        if _installed:
            return
        _installed = True
    atexit.register(_run_all)
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread; atexit still runs
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: object, previous: object = previous) -> None:
            _run_all()
            if callable(previous):
                previous(signum, frame)
            raise SystemExit(128 + signum)

        signal.signal(sig, handler)


def forget(stop: Callable[[], None]) -> None:
    with _lock, contextlib.suppress(ValueError):
        _stops.remove(stop)


def _run_all() -> None:
    while True:
        with _lock:
            if not _stops:
                return
            stop = _stops.pop()
        with contextlib.suppress(Exception):
            stop()
