"""The kopf handlers: thin entry points that only delegate, and kopf's settings.

`__main__` runs kopf with `REGISTRY`. Per TranscodeJob there is one daemon,
`job_daemon`, which runs `jobloop.run` for the job's whole life; Pod and job
watch events only wake that loop (`runner_pods`, `pod_deleted`, `job_event`);
the Pod index `runner_pods` lets it see its Pods without API reads; `stop_runner_pods` is
the finalizer's work on delete. No create/update handlers exist on purpose:
all decisions are level-triggered from status + Pods, so kopf never needs to
write its diff-base or progress annotations except while a job is being
deleted, and the daemon is what makes kopf keep our finalizer on every job.
Domain errors are turned into kopf's errors here and nowhere else.
"""

from __future__ import annotations

import logging
import socket
from typing import Any, cast

import kopf

from transcode_api import constants
from transcode_operator import builders, context, errors, jobloop, podstate
from transcode_operator import settings as settings_module

REGISTRY = kopf.OperatorRegistry()
JOBS = (constants.GROUP, constants.VERSION, constants.PLURAL)
POD_LABELS = {builders.JOB_UID_LABEL: kopf.PRESENT}
logger = logging.getLogger(__name__)


class LeanDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's annotation diff-base, built cheaply.

    kopf builds an object's essence on every watch event by deep-copying the
    whole body (status and managedFields included) and then dropping most of
    it; at a thousand jobs that copy is most of kopf's CPU time. For jobs this
    copies only what the essence keeps (spec, labels, annotations: the same
    result). Runner Pods have no change-detecting or spawning handlers, so
    their essence is never compared and is left empty.
    """

    def build(self, *, body: kopf.Body,
              extra_fields: Any = None) -> kopf.BodyEssence:
        if extra_fields:
            return super().build(body=body, extra_fields=extra_fields)
        if body.get("kind") == "Pod":
            return cast(kopf.BodyEssence, {})
        meta = body.get("metadata") or {}
        slim = {k: v for k, v in body.items() if k not in ("metadata", "status")}
        slim["metadata"] = {k: meta[k] for k in ("labels", "annotations") if k in meta}
        return super().build(body=kopf.Body(cast(kopf.RawBody, slim)), extra_fields=None)


def configure(s: kopf.OperatorSettings, cfg: settings_module.Settings) -> None:
    """kopf settings, each chosen on purpose (see the comments)."""
    # Our own finalizer name and annotation prefix instead of kopf.zalando.org.
    s.persistence.finalizer = constants.FINALIZER
    s.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=constants.GROUP)
    s.persistence.diffbase_storage = LeanDiffBaseStorage(
        prefix=constants.GROUP, key="last-handled-configuration")
    # Only explicit Events (events.Reason); kopf's log lines are not posted.
    s.posting.enabled = True
    s.posting.loggers = False
    s.posting.level = logging.getLevelName(cfg.kopf.posting_level)
    s.posting.reporting_component = "kube-transcoder-operator"
    s.posting.reporting_instance = socket.gethostname()
    s.posting.event_name_prefix = "kube-transcoder-"
    # Bounded requests; watches end server-side and are restarted when silent.
    s.networking.request_timeout = cfg.kopf.request_timeout_seconds
    s.networking.connect_timeout = cfg.kopf.connect_timeout_seconds
    s.watching.connect_timeout = cfg.kopf.connect_timeout_seconds
    s.watching.server_timeout = int(cfg.kopf.watch_server_timeout_seconds)  # sent as ?timeoutSeconds=, an integer
    s.watching.client_timeout = cfg.kopf.watch_server_timeout_seconds + 30
    s.watching.inactivity_timeout = cfg.kopf.watch_inactivity_timeout_seconds
    # Watch only runner Pods (server-side label selector), not every Pod in the cluster,
    # and list in pages, so a restart with thousands of jobs never holds one huge list.
    s.watching.label_selectors["pods"] = builders.JOB_UID_LABEL
    s.watching.chunk_size = 200


@kopf.on.login(registry=REGISTRY)
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """Credentials as the `kubernetes` client finds them (in-cluster, else $KUBECONFIG)."""
    return kopf.login_via_client(**kwargs)


@kopf.on.startup(registry=REGISTRY)
async def startup(*, settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    cfg = memo.get("cfg") or settings_module.load()
    configure(settings, cfg)
    memo.ctx = await context.start(cfg)
    logger.info("kube-transcoder operator started (runner image %s)", cfg.runner.image)


@kopf.on.cleanup(registry=REGISTRY)
async def cleanup(*, memo: Any, **_: Any) -> None:
    if memo.get("ctx") is not None:
        await context.stop(memo.ctx)


@kopf.on.probe(id="jobLoops", registry=REGISTRY)
async def probe_job_loops(*, memo: Any, **_: Any) -> int:
    return len(memo.ctx.wakers) if memo.get("ctx") is not None else 0


@kopf.index("pods", labels=POD_LABELS, registry=REGISTRY)
async def runner_pods(*, body: kopf.Body, memo: Any, **_: Any) -> dict[tuple[str, str], Any]:
    """(namespace, job name) -> PodView of each runner Pod; wakes the job on a change.

    Waking from the indexer saves a second handler per Pod event. It is safe:
    this coroutine never suspends, so kopf stores the new view in the index
    before the woken loop can run.
    """
    view = podstate.view(body)
    if not view.job_name:
        return {}
    key = (view.namespace, view.job_name)
    if memo.get("ctx") is not None:
        memo.ctx.wakers.pod_changed(key, view.uid, view.signature)
    return {key: view}


def _pod_deleted(*, type: str, **_: Any) -> bool:
    return type == "DELETED"


@kopf.on.event("pods", labels=POD_LABELS, when=_pod_deleted, registry=REGISTRY)
async def pod_deleted(*, body: kopf.Body, memo: Any, **_: Any) -> None:
    meta = body.get("metadata") or {}
    owner = podstate.controller_of(meta)
    if owner is not None and memo.get("ctx") is not None:
        memo.ctx.wakers.pod_gone((str(meta.get("namespace", "")), owner[0]),
                                 str(meta.get("uid", "")))


@kopf.on.event(*JOBS, registry=REGISTRY)
async def job_event(*, namespace: str | None, name: str | None, meta: kopf.Meta, memo: Any,
                    **_: Any) -> None:
    if memo.get("ctx") is not None:
        memo.ctx.wakers.wake((namespace or "", name or ""),
                             str(meta.get("resourceVersion", "")) or None)


def _source(index: kopf.Index[Any, Any]) -> jobloop.PodSource:
    return lambda namespace, name: list(index.get((namespace, name), ()))


@kopf.daemon(*JOBS, id="job-loop", cancellation_timeout=1.0, registry=REGISTRY)
async def job_daemon(*, body: kopf.Body, stopped: kopf.DaemonStopped, memo: Any,
                     **kwargs: Any) -> None:
    await jobloop.run(memo.ctx, body, _source(kwargs["runner_pods"]), stopped)


def _deleting(*, meta: kopf.Meta, **_: Any) -> bool:  # a cheap filter, run inline
    return bool(meta.get("deletionTimestamp"))


@kopf.on.delete(*JOBS, id="stop-runner-pods", when=_deleting, backoff=2.0,
                registry=REGISTRY)
async def stop_runner_pods(*, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    try:
        await jobloop.finalize(memo.ctx, body, _source(kwargs["runner_pods"]))
    except errors.OperatorError as exc:
        raise errors.to_kopf(exc) from None
