"""Domain exceptions of the runner and the exit code each one maps to.

Every module raises these (never a bare RuntimeError for an expected failure);
`cli.main` catches them at the edge and turns `exit_code` into the process exit
status that the operator classifies (bad input: fail now; transient: retry;
internal: fail with the message). Messages are one line and carry no secrets.
"""

from __future__ import annotations

from transcode_api import contract


class RunnerError(Exception):
    """Base class: a failure the runner understands, with a one-line reason."""

    exit_code: int = int(contract.ExitCode.INTERNAL)
    reason: str = "Internal"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(one_line(message))
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self)


class BadInput(RunnerError):
    """The source (or the spec) cannot produce an output; retrying will not help."""

    exit_code = int(contract.ExitCode.BAD_INPUT)
    reason = "BadInput"


class Transient(RunnerError):
    """A failure that may pass (network, S3 5xx, stalled encoder): retry the Pod."""

    exit_code = int(contract.ExitCode.TRANSIENT)
    reason = "Transient"


class Cancelled(Transient):
    """SIGTERM (Pod deletion, eviction, deadline): stopped cleanly, retry later."""

    reason = "Cancelled"


class Internal(RunnerError):
    """A bug or an environment problem the runner cannot classify further."""

    exit_code = int(contract.ExitCode.INTERNAL)
    reason = "Internal"


class EncodeFailed(RunnerError):
    """FFmpeg exited non-zero or stalled (`stalled`) for a reason not blamed on the source."""

    exit_code = int(contract.ExitCode.INTERNAL)
    reason = "EncodeFailed"

    def __init__(self, message: str, *, reason: str | None = None, stalled: bool = False) -> None:
        super().__init__(message, reason=reason)
        self.stalled = stalled


class SourceStalled(Transient):
    """The source delivered too few bytes for the stall deadline (a hung or trickling server)."""

    reason = "SourceStalled"


class SourceChanged(Transient):
    """The source changed between two ranged reads: the parts would splice two versions."""

    reason = "SourceChanged"


class IntegrityError(Transient):
    """An uploaded object does not match the local file (checksum or size)."""

    reason = "IntegrityMismatch"


def one_line(text: str, limit: int = 400) -> str:
    """Collapse whitespace to a single line and cap its length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
