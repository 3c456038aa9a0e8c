"""Domain errors of the operator, and their translation to kopf at the handler edge.

`kubeclient` raises `ApiError` subclasses (never `kubernetes.client.ApiException`),
the job loop and the finalizer raise `Wait` when they must come back later, and
`InvalidJob` marks an object that can never run. Only `handlers` calls
`to_kopf`, which turns these into `kopf.TemporaryError(delay=…)` or
`kopf.PermanentError`; everything below the handlers stays free of kopf's
error types so it can be tested without it.
"""

from __future__ import annotations

import kopf


class OperatorError(Exception):
    """Base of the operator's own errors."""


class ApiError(OperatorError):
    """A Kubernetes API call failed; `status` is the HTTP status (0: no answer)."""

    def __init__(self, status: int, reason: str, message: str = "") -> None:
        self.status = status
        self.reason = reason
        self.message = message
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")

    @property
    def transient(self) -> bool:
        """Worth retrying: throttled, server-side trouble or no answer at all."""
        return self.status in (0, 408, 425, 429) or self.status >= 500


class NotFound(ApiError):
    """404: the object does not exist (any more)."""


class Conflict(ApiError):
    """409: the object already exists, or a precondition (UID) did not hold."""


class Forbidden(ApiError):
    """403: RBAC does not allow the call."""


class Invalid(ApiError):
    """422 (or 400): the API server refused the object we sent."""


class Wait(OperatorError):
    """Not done yet: come back after `delay` seconds (no failure)."""

    def __init__(self, message: str, delay: float) -> None:
        self.delay = delay
        super().__init__(message)


class InvalidJob(OperatorError):
    """The object can never run as it is (bad spec); the job ends Failed."""


def from_status(status: int, reason: str, message: str = "") -> ApiError:
    """The `ApiError` subclass for an HTTP status."""
    cls: type[ApiError] = {404: NotFound, 409: Conflict, 403: Forbidden, 422: Invalid,
                           400: Invalid}.get(status, ApiError)
    return cls(status, reason, message)


def to_kopf(exc: BaseException, default_delay: float = 5.0) -> Exception:
    """The kopf error a handler should raise for `exc` (the handler edge only)."""
    if isinstance(exc, Wait):
        return kopf.TemporaryError(str(exc), delay=exc.delay)
    if isinstance(exc, InvalidJob):
        return kopf.PermanentError(str(exc))
    if isinstance(exc, ApiError) and not exc.transient and exc.status in (400, 403, 422):
        return kopf.PermanentError(str(exc))
    return kopf.TemporaryError(str(exc), delay=default_delay)
