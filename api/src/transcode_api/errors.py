"""Domain errors of the API package, with messages that name the offending field.

`SpecError` is what `transcode_api.spec.parse_spec` and `check_update` raise and
what the operator turns into a Failed condition (or `kopf.PermanentError` at
its handler edge); `StatusError` is raised when a runner report (termination
message, status.runner) cannot be read. Both translate pydantic's errors into
`spec.outputs[0].video.twoPass: <message>` lines, the same paths the API server
prints for the CRD's CEL rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Self

import pydantic

from transcode_api import base


def _format_loc(root: str, loc: Sequence[int | str], field: str | None) -> str:
    path = root
    for part in [*loc, *([field] if field else [])]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(root)"


class APIError(ValueError):
    """Base of this package's errors: a list of (field path, message) problems."""

    what = "object"

    def __init__(self, problems: Iterable[tuple[str, str]]) -> None:
        self.problems: list[tuple[str, str]] = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = "; ".join(f"{path}: {msg}" for path, msg in self.problems)
        return f"invalid {self.what}: {lines}"

    @property
    def fields(self) -> list[str]:
        """The field paths named by the problems, in order."""
        return [path for path, _ in self.problems]

    @classmethod
    def from_validation_error(cls, exc: pydantic.ValidationError, root: str) -> Self:
        """Translate pydantic errors, appending each paired rule's field to its location."""
        problems = []
        for err in exc.errors(include_url=False):
            ctx = err.get("ctx") or {}
            field = ctx.get("field") if err["type"] == base.RULE_ERROR_TYPE else None
            problems.append((_format_loc(root, err["loc"], field), err["msg"]))
        return cls(problems)


class SpecError(APIError):
    """A TranscodeJob spec that the model (or the CRD's CEL rules) refuses."""

    what = "TranscodeJob spec"


class StatusError(APIError):
    """A status or runner report that does not match the model."""

    what = "TranscodeJob status"
