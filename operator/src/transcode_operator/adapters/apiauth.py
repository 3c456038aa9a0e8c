"""Who calls the HTTP API and what they may read: TokenReview and SubjectAccessReview.

`adapters.apiguard` (the API's middleware) asks `Reviewer.authenticate(token)`
for the user behind a bearer token (a TokenReview, authentication.k8s.io/v1) and
`Reviewer.authorize(user, access)` whether that user may do `access` (a
SubjectAccessReview, authorization.k8s.io/v1), as kube-rbac-proxy and
metrics-server do. `Access` is what a route needs: resource attributes (`get
transcodejobs` of one job; `get gpustatus`, a resource only RBAC knows, for the GPU
status: every authenticated user may `get /api/*` through the default
system:discovery role, so a non-resource URL under /api could not keep anyone out)
or a non-resource URL (`get /metrics`). Answers are
remembered in bounded `TtlMap`s (allowed 30 s, denied 10 s by default), keyed by
the token's SHA-256 (never the token) and by the user and the access, so a
polling client costs no API call per request. `ReviewApi` is the seam:
`kubeclient.KubeClient` implements it, unit tests stub it. A review the API
server does not answer raises `ReviewUnavailable`, whose message never holds the token.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from transcode_api import constants
from transcode_operator.adapters import clocks
from transcode_operator.domain import errors, ttlmap

logger = logging.getLogger(__name__)

AUTHN_VERSION = "authentication.k8s.io/v1"
AUTHZ_VERSION = "authorization.k8s.io/v1"
GPU_STATUS_RESOURCE = "gpustatus"
"""The cluster-scoped resource of group kubetranscoder.io whose `get` reads the GPU status."""


@runtime_checkable
class ReviewApi(Protocol):
    """The two API calls a `Reviewer` makes (bodies and answers as dicts)."""

    async def create_token_review(self, body: dict[str, Any]) -> dict[str, Any]: ...
    async def create_subject_access_review(self, body: dict[str, Any]) -> dict[str, Any]: ...


class ReviewUnavailable(Exception):
    """The API server did not answer a review (the caller answers 503, never 200)."""


@dataclass(frozen=True)
class User:
    """The caller, as the TokenReview names it (what a SubjectAccessReview asks about)."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def from_review(cls, user: dict[str, Any]) -> User:
        extra = user.get("extra") or {}
        return cls(name=str(user.get("username") or ""), uid=str(user.get("uid") or ""),
                   groups=tuple(str(g) for g in user.get("groups") or ()),
                   extra=tuple(sorted((str(k), tuple(str(v) for v in vs or ()))
                                      for k, vs in extra.items())))


@dataclass(frozen=True)
class Access:
    """One permission: `verb` on a non-resource `path`, or on a resource (group/resource/ns/name)."""

    verb: str = "get"
    path: str = ""
    group: str = ""
    resource: str = ""
    namespace: str = ""
    name: str = ""

    @classmethod
    def url(cls, path: str, verb: str = "get") -> Access:
        """A non-resource URL, as in a ClusterRole rule with `nonResourceURLs`."""
        return cls(verb=verb, path=path)

    @classmethod
    def job(cls, namespace: str, name: str, verb: str = "get") -> Access:
        """One TranscodeJob, as in a Role rule on `transcodejobs` in its namespace."""
        return cls(verb=verb, group=constants.GROUP, resource=constants.PLURAL,
                   namespace=namespace, name=name)

    @classmethod
    def gpu_status(cls) -> Access:
        """The cluster's GPU status, as in a ClusterRole rule on `gpustatus`."""
        return cls(verb="get", group=constants.GROUP, resource=GPU_STATUS_RESOURCE)

    def attributes(self) -> dict[str, Any]:
        """The SubjectAccessReview spec fields for this access."""
        if self.path:
            return {"nonResourceAttributes": {"path": self.path, "verb": self.verb}}
        attrs = {"group": self.group, "resource": self.resource, "verb": self.verb,
                 "namespace": self.namespace, "name": self.name}
        return {"resourceAttributes": {k: v for k, v in attrs.items() if v}}

    def describe(self) -> str:
        """In words, for a 403: `get transcodejobs.kubetranscoder.io "x" in namespace "a"`."""
        if self.path:
            return f"{self.verb} {self.path}"
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        named = f' "{self.name}"' if self.name else ""
        where = f' in namespace "{self.namespace}"' if self.namespace else " (cluster-wide)"
        return f"{self.verb} {what}{named}{where}"


def token_key(token: str) -> str:
    """What the cache keeps instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


class Reviewer:
    """TokenReview and SubjectAccessReview through `api`, with a bounded, short-lived cache."""

    def __init__(self, api: ReviewApi, *, allowed_ttl: float = 30.0, denied_ttl: float = 10.0,
                 max_entries: int = 10_000, audiences: list[str] | tuple[str, ...] = (),
                 clock: clocks.Clock | None = None) -> None:
        self.api = api
        self.allowed_ttl = allowed_ttl
        self.denied_ttl = denied_ttl
        self.audiences = tuple(audiences)
        self.clock = clock or clocks.SystemClock()
        # (user,) or (None,) for a rejected token: a miss is None.
        self._users: ttlmap.TtlMap[str, tuple[User | None]] = ttlmap.TtlMap(max_entries)
        self._decisions: ttlmap.TtlMap[tuple[User, Access], bool] = ttlmap.TtlMap(max_entries)

    async def authenticate(self, token: str) -> User | None:
        """The token's user, or None when the API server does not accept the token."""
        key, now = token_key(token), self.clock.monotonic()
        if (cached := self._users.get(key, now)) is not None:
            return cached[0]
        spec: dict[str, Any] = {"token": token}
        if self.audiences:
            spec["audiences"] = list(self.audiences)
        body = {"apiVersion": AUTHN_VERSION, "kind": "TokenReview", "spec": spec}
        answer = await self._ask("TokenReview", self.api.create_token_review, body, token)
        status = answer.get("status") or {}
        user: User | None = None
        if status.get("authenticated") is True and (status.get("user") or {}).get("username"):
            user = User.from_review(status["user"])
            if self.audiences and not set(self.audiences) & set(status.get("audiences") or ()):
                user = None  # issued for someone else
        self._users.put(key, (user,), self.allowed_ttl if user else self.denied_ttl, now)
        return user

    async def authorize(self, user: User, access: Access) -> bool:
        """Whether the API server's authorisers allow `user` to do `access`."""
        key, now = (user, access), self.clock.monotonic()
        if (cached := self._decisions.get(key, now)) is not None:
            return cached
        spec: dict[str, Any] = {"user": user.name, "groups": list(user.groups),
                                **access.attributes()}
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra}
        body = {"apiVersion": AUTHZ_VERSION, "kind": "SubjectAccessReview", "spec": spec}
        answer = await self._ask("SubjectAccessReview", self.api.create_subject_access_review,
                                 body, None)
        status = answer.get("status") or {}
        allowed = status.get("allowed") is True and status.get("denied") is not True
        self._decisions.put(key, allowed, self.allowed_ttl if allowed else self.denied_ttl, now)
        return allowed

    async def _ask(self, kind: str, call: Any, body: dict[str, Any],
                   token: str | None) -> dict[str, Any]:
        try:
            answer = await call(body)
        except (TimeoutError, errors.ApiError, OSError) as exc:
            message = str(exc)
            if token:
                message = message.replace(token, "<token>")
            logger.warning("%s failed: %s", kind, message)
            status = exc.status if isinstance(exc, errors.ApiError) else 0
            raise ReviewUnavailable(f"the Kubernetes API did not answer the {kind} "
                                    f"(HTTP {status or 'no answer'})") from None
        if not isinstance(answer, dict):
            raise ReviewUnavailable(f"the Kubernetes API answered the {kind} with no object")
        return answer
