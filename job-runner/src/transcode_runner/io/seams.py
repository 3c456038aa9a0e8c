"""The runner's seams to the outside world that are not S3 or NVML: processes and time.

`encode`, `probe`, `nvdec`, `ffprobe_json` and `idet` start FFmpeg/ffprobe
only through a `ProcessRunner`; `report` and `encode` read time only through a
`Clock`. The real implementations are here (subprocess with an argument list,
never a shell; the system clocks): `app.pipeline.Context` defaults to them and
`app.cli` builds them for `probe`; unit tests pass fakes with the same methods.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Protocol


class Process(Protocol):
    """The part of `subprocess.Popen` the runner uses."""

    pid: int
    stdout: IO[bytes] | None
    stderr: IO[bytes] | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


@dataclass(frozen=True)
class Completed:
    """Outcome of a short command run to completion."""

    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False


class ProcessRunner(Protocol):
    """Starts external programs from an argument list."""

    def start(self, argv: Sequence[str]) -> Process:
        """Start `argv` with stdout and stderr as pipes and stdin closed."""
        ...

    def run(self, argv: Sequence[str], timeout: float) -> Completed:
        """Run `argv` to completion, killing it after `timeout` seconds."""
        ...


class SubprocessRunner:
    """The real `ProcessRunner`: `subprocess` with argument lists only."""

    def start(self, argv: Sequence[str]) -> Process:
        # A new session: a terminal's Ctrl-C reaches the runner, which stops
        # FFmpeg itself (and aborts uploads) instead of FFmpeg dying first.
        return subprocess.Popen(  # noqa: S603 - argument list built by plan/probe
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def run(self, argv: Sequence[str], timeout: float) -> Completed:
        try:
            done = subprocess.run(  # noqa: S603 - argument list built by plan/probe
                list(argv),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            return Completed(-9, _text(exc.stdout), _text(exc.stderr), timed_out=True)
        except OSError as exc:
            return Completed(127, "", f"cannot run {argv[0]}: {exc.strerror or exc}")
        return Completed(done.returncode, _text(done.stdout), _text(done.stderr))


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")


class Clock(Protocol):
    """Time as the runner sees it."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going back."""
        ...

    def now(self) -> dt.datetime:
        """The current UTC time (for `updatedAt` fields)."""
        ...


class SystemClock:
    """The real `Clock`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)
