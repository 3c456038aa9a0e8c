"""The leader elector: holds (or waits for) the operator's Lease and says when to act.

`app.context.start` builds one `LeaderElector` from the `leaderElection` settings and
runs `run()` as a background task; `app.context` starts the workers and the progress
relay from `on_started` and stops them from `on_stopped`. Every
`retryPeriodSeconds` it reads the Lease and does what `domain.leadership.decide`
says; the write carries the read resourceVersion, so a Conflict means another
replica won and this one waits. A leader that cannot renew for
`renewDeadlineSeconds` (API errors, conflicts) calls `on_stopped` once and `run()`
returns: the process then exits (it never becomes leader again without a restart,
like client-go). `release()` gives the Lease up at a clean shutdown so a standby
takes over at once instead of after the lease duration.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from transcode_operator.domain import errors, leadership
from transcode_operator.domain import settings as settings_module

logger = logging.getLogger(__name__)


class LeaseApi(Protocol):
    """The Lease calls of `kubeclient.KubeClient`."""

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def replace_lease(self, namespace: str, name: str,
                            body: dict[str, Any]) -> dict[str, Any]: ...


def identity(cfg: settings_module.LeaderElectionSettings) -> str:
    """This replica's identity: the setting, else $POD_NAME or the host name, plus the pid."""
    if cfg.identity:
        return cfg.identity
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{os.getpid()}"


def lease_namespace(cfg: settings_module.LeaderElectionSettings, served: list[str]) -> str:
    """The Lease's namespace: the setting, $POD_NAMESPACE, the first served one, default."""
    plain = [ns for ns in served if not any(c in ns for c in "*?[")]
    return cfg.namespace or os.environ.get("POD_NAMESPACE") or (plain[0] if plain else "default")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LeaderElector:
    """One replica's side of the election."""

    def __init__(self, api: LeaseApi, cfg: settings_module.LeaderElectionSettings, *,
                 namespace: str, identity: str,
                 on_started: Callable[[], Awaitable[None]],
                 on_stopped: Callable[[], Awaitable[None]],
                 clock: Callable[[], dt.datetime] = _now) -> None:
        self.api, self.cfg = api, cfg
        self.namespace, self.identity = namespace, identity
        self.on_started, self.on_stopped = on_started, on_stopped
        self.clock = clock
        self.leading = False
        self._renewed_at: float | None = None  # loop time of the last successful write
        self._lease: dict[str, Any] | None = None

    async def try_once(self) -> str:
        """Read the Lease and create/renew/take it if `decide` says so.

        Returns "held" (we hold it now), "other" (another replica holds a fresh lease)
        or "conflict" (another replica wrote between our read and our write)."""
        name = self.cfg.lease_name
        lease = await self.api.get_lease(self.namespace, name)
        now = self.clock()
        decision = leadership.decide(lease, self.identity, now)
        if decision == "wait":
            return "other"
        body = leadership.lease_body(lease, name=name, namespace=self.namespace,
                                     identity=self.identity,
                                     duration_seconds=self.cfg.lease_duration_seconds, now=now)
        try:
            if decision == "create":
                self._lease = await self.api.create_lease(self.namespace, body)
            else:
                self._lease = await self.api.replace_lease(self.namespace, name, body)
        except errors.Conflict:
            return "conflict"
        if decision != "renew":
            logger.info("Leader election: %s now holds Lease %s/%s", self.identity,
                        self.namespace, name)
        return "held"

    async def run(self) -> None:
        """Acquire, then renew until another replica holds the Lease or renewing has
        failed for the renew deadline; then call `on_stopped` and return."""
        loop = asyncio.get_running_loop()
        cfg = self.cfg
        logger.info("Leader election: %s waiting for Lease %s/%s", self.identity,
                    self.namespace, cfg.lease_name)
        while True:
            since = loop.time() - self._renewed_at if self._renewed_at is not None else 0.0
            try:  # a hung request must not outlive the renew deadline
                outcome = await asyncio.wait_for(
                    self.try_once(), timeout=max(cfg.renew_deadline_seconds - since, 0.1))
            except (errors.ApiError, TimeoutError) as exc:
                logger.warning("Leader election: Lease %s/%s: %s", self.namespace,
                               cfg.lease_name, exc or "timed out")
                outcome = "error"
            if outcome == "held":
                self._renewed_at = loop.time()
                if not self.leading:
                    self.leading = True
                    await self.on_started()
            elif self.leading and (outcome == "other" or loop.time() - (self._renewed_at or 0)
                                   >= cfg.renew_deadline_seconds):
                logger.error("Leader election: %s lost Lease %s/%s (%s); stopping",
                             self.identity, self.namespace, cfg.lease_name,
                             "another replica holds it" if outcome == "other" else
                             f"not renewed for {cfg.renew_deadline_seconds:.0f}s")
                self.leading = False
                await self.on_stopped()
                return
            await asyncio.sleep(cfg.retry_period_seconds)

    async def release(self) -> None:
        """Give the Lease up (only if we still hold it); errors are logged, not raised."""
        if not self.leading or self._lease is None:
            return
        self.leading = False
        try:
            await self.api.replace_lease(self.namespace, self.cfg.lease_name,
                                         leadership.released(self._lease, self.clock()))
            logger.info("Leader election: %s released Lease %s/%s", self.identity,
                        self.namespace, self.cfg.lease_name)
        except errors.ApiError as exc:
            logger.warning("Leader election: releasing Lease %s/%s failed: %s",
                           self.namespace, self.cfg.lease_name, exc)
