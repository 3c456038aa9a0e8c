"""The HTTP API's error answers: one JSON shape for every 4xx and 5xx.

`httpapi` (the routes) and `apiguard` (authentication, authorisation, rate limits)
answer errors with `error(status, message, path, **extra)`: a JSON object with
`error`, `status` and `path` (plus the extra fields, such as `namespace`).
`json_errors` is the outermost middleware of the app: it turns aiohttp's own
plain-text 404/405 (and any other HTTP exception) into that shape, keeping the
`Allow` header of a 405.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web


def error(status: int, message: str, path: str, *, headers: dict[str, str] | None = None,
          **extra: Any) -> web.Response:
    """A JSON error response."""
    return web.json_response({"error": message, "status": status, "path": path, **extra},
                             status=status, headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
    """Turn aiohttp's plain-text 404/405 (and any other HTTP error) into JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = {404: "no such route", 405: "method not allowed"}.get(exc.status, exc.reason)
        response = error(exc.status, message, request.path)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
