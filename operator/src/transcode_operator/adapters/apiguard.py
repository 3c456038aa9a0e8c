"""The HTTP API's gate: per-client rate limits, bearer-token authentication, authorisation.

`httpapi.build_app(guard=...)` installs `guard.middleware(access_of)` inside
`httperrors.json_errors`; `app.context.start` builds the `Guard` from the
`http.auth` and `http.rateLimit` settings. Each request meets, in order: the
remote address's token bucket (429 with Retry-After, before any API call); the
routes named in `open_routes` then go straight on; the `Authorization: Bearer`
header (401 with `WWW-Authenticate: Bearer` when it is missing, not Bearer, or
not a token); the TokenReview (401 when the API server rejects the token); the
user's token bucket (429); `access_of(request)`, the route's `apiauth.Access`
(or an answer such as a 400 for a malformed name, or None for no such route);
and the SubjectAccessReview (403 naming the user, verb, resource and namespace).
A review the API server does not answer is a 503, never a 200. Without a
reviewer (auth off) only the rate limits apply. No token is logged or echoed.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from transcode_operator.adapters import apiauth, clocks, httperrors
from transcode_operator.domain import buckets

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
AccessOf = Callable[[web.Request], "apiauth.Access | web.StreamResponse | None"]
"""What the matched route needs: an `Access`, an answer (400) instead, or None (no route)."""
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

REALM = "kube-transcoder"
MAX_TOKEN_LENGTH = 16_384
_B64TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")  # RFC 6750 section 2.1


class Guard:
    """Rate limits always; authentication and authorisation when `reviewer` is set."""

    def __init__(self, *, reviewer: apiauth.Reviewer | None,
                 per_address: buckets.TokenBuckets | None = None,
                 per_user: buckets.TokenBuckets | None = None,
                 open_routes: Iterable[str] = (), clock: clocks.Clock | None = None) -> None:
        self.reviewer = reviewer
        self.per_address = per_address or buckets.TokenBuckets(0, 1)
        self.per_user = per_user or buckets.TokenBuckets(0, 1)
        self.open_routes = frozenset(open_routes)
        self.clock = clock or clocks.SystemClock()

    def middleware(self, access_of: AccessOf) -> Middleware:
        """The aiohttp middleware for an app whose routes' needs `access_of` tells."""

        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self.check(request, handler, access_of)

        return guard

    async def check(self, request: web.Request, handler: Handler,
                    access_of: AccessOf) -> web.StreamResponse:
        now = self.clock.monotonic()
        wait = self.per_address.take(request.remote or "", now)
        if wait:
            return too_many(request, wait, "address", self.per_address)
        reviewer = self.reviewer
        if reviewer is None or request.match_info.route.name in self.open_routes:
            return await handler(request)
        token = bearer_token(request.headers.get("Authorization", ""))
        if token is None:
            return unauthorized(request, "authentication required: send the header "
                                "'Authorization: Bearer <token>' with a Kubernetes token "
                                "(for example from kubectl create token)")
        try:
            user = await reviewer.authenticate(token)
        except apiauth.ReviewUnavailable as exc:
            return unavailable(request, exc)
        if user is None:
            return unauthorized(request, "the bearer token was not accepted by the Kubernetes "
                                "API (TokenReview): it is invalid, expired or for another "
                                "audience", invalid=True)
        wait = self.per_user.take(user.name, now)
        if wait:
            return too_many(request, wait, "user", self.per_user)
        access = access_of(request)
        if isinstance(access, web.StreamResponse):
            return access
        if access is not None:
            try:
                allowed = await reviewer.authorize(user, access)
            except apiauth.ReviewUnavailable as exc:
                return unavailable(request, exc)
            if not allowed:
                return forbidden(request, user, access)
        return await handler(request)


def bearer_token(header: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None when it is not one."""
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return token if _B64TOKEN.match(token) else None


def unauthorized(request: web.Request, message: str, *, invalid: bool = False) -> web.Response:
    challenge = f'Bearer realm="{REALM}"' + (', error="invalid_token"' if invalid else "")
    return httperrors.error(401, message, request.path, headers={"WWW-Authenticate": challenge})


def forbidden(request: web.Request, user: apiauth.User, access: apiauth.Access) -> web.Response:
    logger.info("HTTP API: %s may not %s", user.name, access.describe())
    extra: dict[str, Any] = {"namespace": access.namespace} if access.namespace else {}
    return httperrors.error(
        403, f'user "{user.name}" may not {access.describe()} '
        f"(ask for a Role or ClusterRole granting it; see the README, HTTP API access)",
        request.path, verb=access.verb, resource=access.resource or access.path, **extra)


def too_many(request: web.Request, wait: float, per: str,
             table: buckets.TokenBuckets) -> web.Response:
    seconds = max(1, math.ceil(wait))
    return httperrors.error(
        429, f"too many requests: {table.rate:g} per second (bursts of {table.burst:g}) "
        f"allowed per {per}; retry after {seconds} s", request.path,
        headers={"Retry-After": str(seconds)})


def unavailable(request: web.Request, exc: apiauth.ReviewUnavailable) -> web.Response:
    return httperrors.error(503, f"could not check access: {exc}", request.path,
                            headers={"Retry-After": "1"})
