"""Domain errors of the operator: API failures by kind, and "come back later".

`adapters.kubeclient` raises `ApiError` subclasses (never
`kubernetes.client.ApiException`); `control.act` raises `Wait` when a key must
be worked on again after a delay, which `control.controller` turns into a
delayed re-add. The kopf handlers never raise these (they only enqueue), so no
translation to kopf's error types exists.
"""

from __future__ import annotations


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



def from_status(status: int, reason: str, message: str = "") -> ApiError:
    """The `ApiError` subclass for an HTTP status."""
    cls: type[ApiError] = {404: NotFound, 409: Conflict, 403: Forbidden, 422: Invalid,
                           400: Invalid}.get(status, ApiError)
    return cls(status, reason, message)

