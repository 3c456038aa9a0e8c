"""The operator's read-only HTTP API: GPU status, job status, health and metrics.

`app.context.start` builds the app with `build_app(...)` and starts it with
`start(app, host, port)` (stopped by `ApiServer.stop()` at cleanup). Routes: `GET
/api/v1/system/gpu/status` (the seed's JSON, from the node probes via
`gpustatus`), `GET /api/v1/jobs/{namespace}/{name}` (through the job status
cache, which also remembers unknown names briefly; the operator injects
`job_loader`, an async function that reads the TranscodeJob and returns
`job_view(body)` or None), `GET /healthz` and `GET /metrics` (Prometheus text).
With a `guard` (`apiguard.Guard`) every request is rate-limited and, with auth
on, authenticated and authorised for what `access_of` says its route needs (the
job: `get transcodejobs` in its namespace; the GPU status: `get gpustatus`; /metrics
and /healthz: `get` on their non-resource URL). Every error is a JSON object with `error`, `status` and `path`
(`httperrors`); unknown jobs are 404, malformed names 400.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from transcode_operator.adapters import apiauth, apiguard, gpustatus, httperrors, redisconn
from transcode_operator.adapters import cache as cache_module
from transcode_operator.adapters import metrics as metrics_module

logger = logging.getLogger(__name__)

JobLoader = Callable[[str, str], Awaitable[Mapping[str, Any] | None]]
"""`loader(namespace, name)`: the job's view (see `job_view`), or None if absent."""

GPU_STATUS_PATH = "/api/v1/system/gpu/status"
JOB_PATH = "/api/v1/jobs/{namespace}/{name}"
HEALTHZ_PATH = "/healthz"
METRICS_PATH = "/metrics"
ROUTES = {"gpu-status": GPU_STATUS_PATH, "job": JOB_PATH, "healthz": HEALTHZ_PATH,
          "metrics": METRICS_PATH}
"""Route name -> path; the names are what `apiguard.Guard(open_routes=...)` takes."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
STATUS_FIELDS = (
    "phase", "progress", "attempts", "podName", "startTime", "completionTime",
    "outputs", "metadata", "packaging", "thumbnails", "conditions", "observedGeneration",
)


def job_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """The API's view of a TranscodeJob object: identity plus its status fields."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    view: dict[str, Any] = {
        "id": f"{meta.get('namespace', '')}/{meta.get('name', '')}",
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "generation": meta.get("generation"),
        "createdAt": meta.get("creationTimestamp"),
    }
    for field in STATUS_FIELDS:
        if field in status:
            view[field] = status[field]
    return view


@dataclass
class Deps:
    """What the handlers need; built by `build_app`."""

    job_loader: JobLoader
    job_cache: cache_module.JobStatusCache | None
    gpu_status: gpustatus.GpuStatus | None
    metrics: metrics_module.Metrics
    health: redisconn.RedisHealth | None


DEPS_KEY: web.AppKey[Deps] = web.AppKey("transcoder_deps", Deps)


def job_key(request: web.Request) -> tuple[str, str] | web.Response:
    """(namespace, name) of a job route, or the 400 answer for a malformed one."""
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    if not _DNS_LABEL.match(namespace):
        return httperrors.error(400, "invalid namespace (RFC 1123 label expected)", request.path,
                     namespace=namespace[:63])
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        return httperrors.error(400, "invalid job name (RFC 1123 subdomain expected)", request.path,
                     name=name[:253])
    return namespace, name


def access_of(request: web.Request) -> apiauth.Access | web.Response | None:
    """What the matched route needs (for `apiguard`): None when no route matched."""
    route = request.match_info.route.name
    if route == "job":
        key = job_key(request)
        return key if isinstance(key, web.Response) else apiauth.Access.job(*key)
    if route == "gpu-status":
        return apiauth.Access.gpu_status()
    if route in ROUTES:
        return apiauth.Access.url(ROUTES[route])
    return None


async def gpu_status_route(request: web.Request) -> web.Response:
    deps = request.app[DEPS_KEY]
    if deps.gpu_status is None:
        return httperrors.error(503, "GPU status needs Redis, which is not configured", request.path)
    try:
        view = await deps.gpu_status.read()
    except gpustatus.GpuStatusUnavailable as exc:
        return httperrors.error(503, f"GPU status unavailable: {exc}", request.path)
    return web.json_response(view)


async def job_status_route(request: web.Request) -> web.Response:
    deps = request.app[DEPS_KEY]
    key = job_key(request)
    if isinstance(key, web.Response):
        return key
    namespace, name = key

    async def load() -> Mapping[str, Any] | None:
        return await deps.job_loader(namespace, name)

    try:
        if deps.job_cache is not None:
            view = await deps.job_cache.get(namespace, name, load)
        else:
            view = await load()
    except Exception:
        logger.exception("Reading TranscodeJob %s/%s failed", namespace, name)
        return httperrors.error(503, "could not read the job from the Kubernetes API", request.path)
    if view is None:
        return httperrors.error(404, f"TranscodeJob {namespace}/{name} not found", request.path,
                     namespace=namespace, name=name)
    return web.json_response(view)


async def healthz_route(request: web.Request) -> web.Response:
    deps = request.app[DEPS_KEY]
    redis_state = deps.health.state if deps.health is not None else "disabled"
    return web.json_response({"status": "ok", "redis": redis_state})


async def metrics_route(request: web.Request) -> web.Response:
    deps = request.app[DEPS_KEY]
    body = generate_latest(deps.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(
    *,
    job_loader: JobLoader,
    metrics: metrics_module.Metrics,
    job_cache: cache_module.JobStatusCache | None = None,
    gpu_status: gpustatus.GpuStatus | None = None,
    health: redisconn.RedisHealth | None = None,
    guard: apiguard.Guard | None = None,
) -> web.Application:
    """The aiohttp application with all routes (GET only; HEAD is answered too)."""
    middlewares: list[Any] = [httperrors.json_errors]
    if guard is not None:
        middlewares.append(guard.middleware(access_of))
    app = web.Application(middlewares=middlewares)
    app[DEPS_KEY] = Deps(job_loader, job_cache, gpu_status, metrics, health)
    handlers = {"gpu-status": gpu_status_route, "job": job_status_route,
                "healthz": healthz_route, "metrics": metrics_route}
    for name, path in ROUTES.items():
        app.router.add_get(path, handlers[name], name=name)
    return app


class ApiServer:
    """A started API server; `port` is the bound port (useful with port 0)."""

    def __init__(self, runner: web.AppRunner, site: web.TCPSite) -> None:
        self._runner = runner
        self._site = site

    @property
    def port(self) -> int:
        server = self._site._server  # aiohttp keeps the asyncio server here
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else 0

    async def stop(self) -> None:
        await self._runner.cleanup()


async def start(app: web.Application, host: str = "0.0.0.0", port: int = 8080) -> ApiServer:
    """Serve `app` on host:port in the running event loop (kopf's) until `stop()`."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = ApiServer(runner, site)
    logger.info("Operator HTTP API listening on %s:%s", host, server.port)
    return server
