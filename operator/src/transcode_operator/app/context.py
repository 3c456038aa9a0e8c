"""The wiring of one operator process: build the collaborators, start and stop them.

`app.handlers.startup` calls `start(settings)` once (inside kopf's event loop)
and keeps the `Context` in kopf's memo; the handlers reach the informer and
the controller's queue through it, and the first event handler starts the
workers (kopf sets up its Event queue only after the startup activities, and
the workers post Events); `app.handlers.cleanup` calls `stop`, which drains
the workers first. `start` builds the control layer's `Deps` (API
client, Event poster, metrics, informer, CloudEvents notifier, and the Redis
helpers when a URL is set: relay, caches, limiter, locks, GPU status), the work queue and its fixed
pool of workers, and the background tasks (relay, lock renewal, Redis health,
GPU status, HTTP API, with its `apiguard.Guard`: rate limits, and with
`http.auth.enabled` a TokenReview/SubjectAccessReview `apiauth.Reviewer` on the
same API client; leader election, on an API client of its own so that renewals never
wait for a connection the workers hold). Only the replica that holds the leader Lease
(`adapters.leader`) runs the workers and the progress relay; the others keep their
informer warm and take over from `lead`. Redis is optional: without a URL the relay,
the Redis caches and GPU status are off (the job status cache still remembers unknown
names in memory) and the limiter and locks answer with their fail-open policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
import signal
from dataclasses import dataclass, field
from typing import Any

from transcode_operator.adapters import (
    apiauth,
    apiguard,
    cache,
    gpustatus,
    httpapi,
    kubeclient,
    leader,
    limits,
    locks,
    metrics,
    notifier,
    poster,
    redis_relay,
    redisconn,
)
from transcode_operator.control import controller as controller_module
from transcode_operator.control import deps as deps_module
from transcode_operator.control import reconciler, workqueue
from transcode_operator.domain import buckets, redisauth, scope
from transcode_operator.domain import settings as settings_module

logger = logging.getLogger(__name__)


@dataclass
class Context:
    """One operator process: the control layer's collaborators, the controller, tasks."""

    deps: deps_module.Deps
    controller: controller_module.Controller[tuple[str, str]]
    scope: scope.Scope = field(default_factory=scope.Scope)
    """The namespaces served: the handlers drop every other namespace's objects."""
    health: redisconn.RedisHealth | None = None
    redis: Any = None
    gpu: gpustatus.GpuStatus | None = None
    http: httpapi.ApiServer | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    elector: leader.LeaderElector | None = None
    leading: bool = False
    """Whether this replica acts (holds the Lease, or leader election is off)."""
    lease_client: kubeclient.KubeClient | None = None
    """The leader election's own API client (None: injected, or election off)."""
    events_context: contextvars.Context | None = None
    """A copy of kopf's event-handling context (taken at the first watch event): the
    workers run in it, since kopf.event needs the Event queue kopf keeps there."""

    def start_workers(self) -> None:
        """Start the workers once this replica leads and kopf can post Events."""
        if self.leading and self.events_context is not None:
            self.controller.start(self.events_context)

    async def lead(self) -> None:
        """Become the acting replica: the progress relay and the workers start."""
        self.leading = True
        if self.deps.relay is not None:
            self.tasks.append(asyncio.create_task(self.deps.relay.run(), name="progress relay"))
        self.start_workers()

    async def abdicate(self) -> None:
        """Leadership lost: stop acting at once and ask kopf to shut the process down."""
        self.leading = False
        await self.controller.stop(timeout=1.0)
        for task in self.tasks:
            if task.get_name() == "progress relay":
                task.cancel()
        os.kill(os.getpid(), signal.SIGTERM)

    async def load_job_view(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The HTTP API's job loader."""
        body = await self.deps.api.get_job(namespace, name)
        return httpapi.job_view(body) if body is not None else None


def _limiter(cfg: settings_module.Settings, client: Any, health: redisconn.RedisHealth,
             registry: metrics.Metrics) -> limits.NamespaceLimiter | None:
    overrides = {
        ns: limits.LimitPolicy(starts_per_minute=int(v.get("startsPerMinute", 0)),
                               max_running=int(v.get("maxRunning", 0)))
        for ns, v in cfg.limits.namespaces.items()}
    policy = limits.LimitPolicy(cfg.limits.starts_per_minute, cfg.max_concurrent)
    if policy.unlimited and all(p.unlimited for p in overrides.values()):
        return None
    return limits.NamespaceLimiter(client, policy=policy, overrides=overrides,
                                   fail_open=cfg.limits.fail_open, health=health, metrics=registry)


def http_guard(cfg: settings_module.HttpSettings, api: object) -> apiguard.Guard:
    """The HTTP API's gate from the `http` settings; auth reviews go through `api`."""
    reviewer = None
    auth, rate = cfg.auth, cfg.rate_limit
    if auth.enabled:
        if not isinstance(api, apiauth.ReviewApi):
            raise TypeError("http.auth.enabled needs an API client that can create "
                            "TokenReviews and SubjectAccessReviews")
        reviewer = apiauth.Reviewer(api, allowed_ttl=auth.allowed_ttl_seconds,
                                    denied_ttl=auth.denied_ttl_seconds,
                                    max_entries=auth.cache_size, audiences=auth.audiences)
    open_routes = [route for route, required in (("metrics", auth.require_for_metrics),
                                                 ("healthz", auth.require_for_healthz))
                   if not required]
    return apiguard.Guard(
        reviewer=reviewer, open_routes=open_routes,
        per_address=buckets.TokenBuckets(rate.per_address_per_second, rate.per_address_burst,
                                         rate.max_clients),
        per_user=buckets.TokenBuckets(rate.per_user_per_second, rate.per_user_burst,
                                      rate.max_clients))


async def start(cfg: settings_module.Settings, api: kubeclient.Api | None = None,
                post: poster.Poster | None = None, *, identity: str = "",
                namespaces: list[str] | None = None,
                lease_api: leader.LeaseApi | None = None) -> Context:
    """Build the process's collaborators and start the background tasks; the workers
    and the relay start when this replica leads (at once without leader election)."""
    registry = metrics.Metrics()
    if api is None:
        api = kubeclient.KubeClient(pool_size=cfg.kopf.api_workers,
                                    request_timeout=cfg.kopf.request_timeout_seconds,
                                    connect_timeout=cfg.kopf.connect_timeout_seconds)
    d = deps_module.Deps(cfg=cfg, api=api, poster=post or poster.KopfPoster(api, identity),
                         metrics=registry, notifier=notifier.Notifier(cfg.notifications))
    queue: workqueue.WorkQueue[tuple[str, str]] = workqueue.WorkQueue(
        backoff_base=cfg.retry.error_backoff_base_seconds,
        backoff_cap=cfg.retry.error_backoff_cap_seconds)
    ctl = controller_module.Controller(queue, functools.partial(reconciler.turn, d), cfg.workers)
    d.enqueue, d.backlog = ctl.enqueue, queue.__len__
    registry.watch_queue(queue.__len__, queue.delayed)
    ctx = Context(deps=d, controller=ctl, scope=scope.Scope.of(namespaces))
    username, password = redisauth.operator_login(cfg.redis)
    client, health = await redisconn.connect(
        cfg.redis.url, registry, socket_timeout=cfg.redis.socket_timeout_seconds,
        username=username, password=password)
    ctx.redis, ctx.health = client, health
    d.limiter = _limiter(cfg, client, health, registry)
    d.job_cache = cache.JobStatusCache(client, miss_ttl=cfg.http.miss_ttl_seconds,
                                       health=health, metrics=registry)
    if cfg.locks.enabled:
        d.locks = locks.OutputLocks(client, ttl=cfg.locks.ttl_seconds,
                                    fail_open=cfg.locks.fail_open, health=health,
                                    metrics=registry)
        if client is not None:
            ctx.tasks.append(asyncio.create_task(d.locks.keep_alive(), name="lock renewal"))
    if client is not None:
        d.relay = redis_relay.ProgressRelay(
            client, d.relayed, health=health, metrics=registry,
            interval=cfg.status.progress_interval_seconds)
        ctx.gpu = gpustatus.GpuStatus(client, health=health, metrics=registry)
        ctx.tasks += [asyncio.create_task(health.watch(client), name="redis health"),
                      asyncio.create_task(ctx.gpu.refresh_forever(), name="gpu status")]
    if cfg.http.enabled:
        app = httpapi.build_app(job_loader=ctx.load_job_view, metrics=registry,
                                job_cache=d.job_cache, gpu_status=ctx.gpu, health=health,
                                guard=http_guard(cfg.http, api))
        ctx.http = await httpapi.start(app, cfg.http.host, cfg.http.port)
    election = cfg.leader_election
    if election.enabled:
        if lease_api is None and isinstance(api, kubeclient.KubeClient):
            # its own connections: a renewal never queues behind the workers' requests
            lease_api = kubeclient.KubeClient(
                pool_size=2, request_timeout=cfg.kopf.request_timeout_seconds,
                connect_timeout=cfg.kopf.connect_timeout_seconds)
            ctx.lease_client = lease_api
        if lease_api is None:
            raise ValueError("leader election needs a Lease API (lease_api=...)")
        ctx.elector = leader.LeaderElector(
            lease_api, election, namespace=leader.lease_namespace(election, namespaces or []),
            identity=identity or leader.identity(election),
            on_started=ctx.lead, on_stopped=ctx.abdicate)
        ctx.tasks.append(asyncio.create_task(ctx.elector.run(), name="leader election"))
    else:
        await ctx.lead()
    return ctx


async def stop(ctx: Context) -> None:
    """Drain the workers, stop background tasks, the HTTP API and the clients."""
    await ctx.controller.stop(timeout=ctx.deps.cfg.shutdown_timeout_seconds)
    if ctx.elector is not None:
        await ctx.elector.release()
    for task in ctx.tasks:
        task.cancel()
    for task in ctx.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    ctx.tasks.clear()
    if ctx.http is not None:
        await ctx.http.stop()
        ctx.http = None
    await redisconn.close(ctx.redis)
    ctx.redis = None
    for api in (ctx.deps.api, ctx.lease_client):
        close = getattr(api, "close", None)
        if close is not None:
            await close()
