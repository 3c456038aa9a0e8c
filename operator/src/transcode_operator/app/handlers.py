"""The kopf handlers: they only record watch events and enqueue the job's key.

`__main__` runs kopf with `REGISTRY`, watching every namespace. kopf is this operator's
watch client and nothing more: `job_event` and `pod_event` put each TranscodeJob and runner
Pod event of a served namespace (`domain.scope`; the others are dropped) into the informer
(`control.informer`) and enqueue `(namespace, name)` (`batch_job_event` only enqueues the
job of a Kueue-queued attempt's batch Job) on the one work queue (`control.workqueue`),
which a fixed pool of workers serves (`control.controller`); `login` finds the credentials
(`adapters.kubeauth`); `startup` and `cleanup` start and stop the process's collaborators
(`app.context`); the workers start only on the replica that leads (`adapters.leader`).
There are no change-detecting handlers and no daemons, so kopf keeps no per-job task and
writes nothing to the jobs, and `NoEssence` (kopf's documented diff-base storage setting)
spares it copying every watched body to compare essences nobody reads; the finalizer
(`kubetranscoder.io/finalizer`) is added and removed by the control layer itself
(`domain.finalizing.finalize`).
"""

from __future__ import annotations

import contextvars
import logging
import socket
from typing import Any

import kopf

from transcode_api import constants, contract
from transcode_operator.adapters import kubeauth, leader
from transcode_operator.app import context
from transcode_operator.domain import podstate
from transcode_operator.domain import settings as settings_module

REGISTRY = kopf.OperatorRegistry()
JOBS = (constants.GROUP, constants.VERSION, constants.PLURAL)
POD_LABELS = {contract.JOB_UID_LABEL: kopf.PRESENT}
logger = logging.getLogger(__name__)


class NoEssence(kopf.DiffBaseStorage):
    """The diff-base storage of an operator without change-detecting handlers: kopf
    derives a body's "essence" (a deep copy of it, less metadata and status) on every
    watch event to detect changes, which only on.create/update/resume/delete handlers
    use. This operator has none, so the essence is empty and none is stored (measured
    in bench/operator_scale.py: the copy was a quarter of the operator's CPU)."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def configure(s: kopf.OperatorSettings, cfg: settings_module.Settings,
              identity: str = "") -> None:
    """kopf settings, each chosen on purpose (see the comments)."""
    # kopf's own finalizer marker stays kopf's: kopf strips the finalizer it
    # names from objects it has no deletion handlers for, so it must never be ours.
    assert s.persistence.finalizer != constants.FINALIZER
    s.persistence.diffbase_storage = NoEssence()  # no change-detecting handlers: see the class
    # Only explicit Events (events.Reason); kopf's log lines are not posted.
    s.posting.enabled = True
    s.posting.loggers = False
    s.posting.level = logging.getLevelName(cfg.kopf.posting_level)
    s.posting.reporting_component = "kube-transcoder-operator"
    s.posting.reporting_instance = identity or socket.gethostname()  # the leader's name
    s.posting.event_name_prefix = "kube-transcoder-"
    # Bounded requests; watches end server-side and are restarted when silent.
    s.networking.request_timeout = cfg.kopf.request_timeout_seconds
    s.networking.connect_timeout = cfg.kopf.connect_timeout_seconds
    s.watching.connect_timeout = cfg.kopf.connect_timeout_seconds
    s.watching.server_timeout = int(cfg.kopf.watch_server_timeout_seconds)  # ?timeoutSeconds=
    s.watching.client_timeout = cfg.kopf.watch_server_timeout_seconds + 30
    s.watching.inactivity_timeout = cfg.kopf.watch_inactivity_timeout_seconds
    # kopf's per-object event workers exit after half a second without events (default
    # 5 s): a burst of thousands of new jobs leaves no thousands of idle tasks behind.
    s.queueing.idle_timeout = 0.5
    # Watch only runner Pods (server-side label selector), not every Pod in the cluster,
    # and list in pages, so a restart with thousands of jobs never holds one huge list.
    s.watching.label_selectors["pods"] = contract.JOB_UID_LABEL
    s.watching.label_selectors["jobs.batch"] = contract.JOB_UID_LABEL  # Kueue attempts only
    s.watching.chunk_size = 200


@kopf.on.login(registry=REGISTRY)
def login(**_: Any) -> kopf.ConnectionInfo | None:
    """Credentials as `adapters.kubeauth` finds them (in-cluster, else $KUBECONFIG): the
    same the operator's own client uses, without importing the `kubernetes` package."""
    creds = kubeauth.load()
    return kopf.ConnectionInfo(
        server=creds.server, ca_path=creds.ca_path, ca_data=creds.ca_data,
        insecure=creds.insecure or None, token=creds.token, username=creds.username,
        password=creds.password, certificate_path=creds.cert_path,
        certificate_data=creds.cert_data, private_key_path=creds.key_path,
        private_key_data=creds.key_data, default_namespace=creds.namespace)


@kopf.on.startup(registry=REGISTRY)
async def startup(*, settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    cfg = memo.get("cfg") or settings_module.load()
    identity = leader.identity(cfg.leader_election)
    configure(settings, cfg, identity)
    memo.ctx = await context.start(cfg, identity=identity,
                                   namespaces=list(memo.get("namespaces") or []))
    logger.info("kube-transcoder operator started (runner image %s, %d workers, serving %s)",
                cfg.runner.image, cfg.workers, memo.ctx.scope.describe())


@kopf.on.cleanup(registry=REGISTRY)
async def cleanup(*, memo: Any, **_: Any) -> None:
    if memo.get("ctx") is not None:
        await context.stop(memo.ctx)


@kopf.on.probe(id="queue", registry=REGISTRY)
async def probe_queue(*, memo: Any, **_: Any) -> int:
    """Keys waiting in the work queue (kopf's liveness answer carries it)."""
    return len(memo.ctx.controller.queue) if memo.get("ctx") is not None else 0


@kopf.on.event(*JOBS, registry=REGISTRY)
async def job_event(*, type: str | None, body: kopf.Body, memo: Any, **_: Any) -> None:
    ctx = _served(memo, body)
    if ctx is not None:
        informer = ctx.deps.informer
        key = informer.job_gone(body) if type == "DELETED" else informer.saw_job(body)
        if key is not None:
            _enqueue(ctx, key)


@kopf.on.event("pods", labels=POD_LABELS, registry=REGISTRY)
async def pod_event(*, type: str | None, body: kopf.Body, memo: Any, **_: Any) -> None:
    ctx = _served(memo, body)
    if ctx is not None:
        informer = ctx.deps.informer
        key = informer.pod_gone(body) if type == "DELETED" else informer.saw_pod(body)
        if key is not None:
            _enqueue(ctx, key)


@kopf.on.event("batch", "v1", "jobs", labels=POD_LABELS, registry=REGISTRY)
async def batch_job_event(*, body: kopf.Body, memo: Any, **_: Any) -> None:
    """A queued attempt's batch/v1 Job changed (Kueue admitted, evicted it): wake its job."""
    ctx = _served(memo, body)
    owner = podstate.controller_of(body.get("metadata") or {})
    if ctx is not None and owner is not None:
        _enqueue(ctx, (str(body.get("metadata", {}).get("namespace", "")), owner[0]))


def _served(memo: Any, body: kopf.Body) -> context.Context | None:
    """The process's context when it serves the object's namespace (kopf watches them all)."""
    ctx: context.Context | None = memo.get("ctx")
    namespace = str((body.get("metadata") or {}).get("namespace") or "")
    return ctx if ctx is not None and ctx.scope.serves(namespace) else None


def _enqueue(ctx: context.Context, key: tuple[str, str]) -> None:
    # The workers run in a copy of kopf's event-handling context (taken here, at the
    # first event): kopf.event needs the Event queue kopf sets up after the startup
    # activities. They start here, or later when this replica becomes the leader.
    if ctx.events_context is None:
        ctx.events_context = contextvars.copy_context()
    ctx.start_workers()
    ctx.controller.enqueue(key)
