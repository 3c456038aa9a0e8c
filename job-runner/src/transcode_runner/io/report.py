"""Tell the job what happened: `status.runner` patches, the termination message, Redis.

`pipeline` owns one `Reporter` per attempt and calls `progress` on every FFmpeg
snapshot, `phase` when the attempt moves on (Uploading), and `final` once with
the `status.RunnerResult`. `status.runner` gets at most one progress patch per
`interval` seconds (by the injected clock) and then the final phase; the result
itself goes only, as JSON of at most 4 KiB, to the termination-message file,
which the operator reads from the ended Pod (`transcode_api.contract`). Progress also goes to Redis
(key `kt:progress:{namespace}:{name}:{podUid}` with a TTL, then the key's name
PUBLISHed on `kt:progress`) when a client and the Pod's uid are given: the
operator takes progress only from its current attempt's Pod, and the runner's
Redis user may do nothing else. `record_uploads` patches `status.runner.openUploads`
at once (the multipart-upload ledger) and every patch carries it; the next
attempt reads it back with `KubeStatusSink.open_uploads`. Every sink is optional and no sink failure stops the
runner: failures are logged and the next report tries again.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Protocol

from transcode_api import constants, contract, status
from transcode_runner.domain import progress
from transcode_runner.io import seams

log = logging.getLogger(__name__)

FIELD_MANAGER = "transcode-runner"


class StatusSink(Protocol):
    """Something that merge-patches the TranscodeJob's status subresource."""

    def patch(self, body: dict[str, Any]) -> None: ...


class KubeStatusSink:
    """The real `StatusSink`: the Kubernetes API through the official client.

    Uses `KUBECONFIG` when set, else the in-cluster service account.
    """

    def __init__(self, namespace: str, name: str, uid: str | None = None) -> None:
        from kubernetes import client, config

        if os.environ.get("KUBECONFIG"):
            config.load_kube_config()
        else:
            config.load_incluster_config()
        self._api = client.CustomObjectsApi()
        self.namespace, self.name, self.uid = namespace, name, uid

    def patch(self, body: dict[str, Any]) -> None:
        if self.uid is None:
            self._call(body, "application/merge-patch+json")
            return
        # A JSON patch whose first operation tests the uid: a TranscodeJob deleted
        # and recreated under the same name never receives this stale attempt's report.
        ops = [{"op": "test", "path": "/metadata/uid", "value": self.uid},
               {"op": "add", "path": "/status/runner", "value": body["status"]["runner"]}]
        try:
            self._call(ops, "application/json-patch+json")
        except Exception as exc:
            if getattr(exc, "status", None) != 422:
                raise
            # The uid test failed, or there is no `status` yet to add `runner` to.
            current = self._api.get_namespaced_custom_object(
                constants.GROUP, constants.VERSION, self.namespace, constants.PLURAL, self.name)
            if current.get("metadata", {}).get("uid") != self.uid:
                raise RuntimeError(f"{self.namespace}/{self.name} was recreated (uid "
                                   "changed): not reporting to it") from exc
            self._call(body, "application/merge-patch+json")

    def open_uploads(self) -> list[status.OpenUpload]:
        """`status.runner.openUploads` as the previous attempt left it (for `ledger`)."""
        current = self._api.get_namespaced_custom_object(
            constants.GROUP, constants.VERSION, self.namespace, constants.PLURAL, self.name)
        if self.uid is not None and current.get("metadata", {}).get("uid") != self.uid:
            return []  # another TranscodeJob under the same name: its uploads are not ours
        runner = (current.get("status") or {}).get("runner") or {}
        return [status.OpenUpload.model_validate(item) for item in runner.get("openUploads") or []]

    def _call(self, body: Any, content_type: str) -> None:
        self._api.patch_namespaced_custom_object_status(
            constants.GROUP,
            constants.VERSION,
            self.namespace,
            constants.PLURAL,
            self.name,
            body,
            field_manager=FIELD_MANAGER,
            _content_type=content_type,
            _request_timeout=10,
        )


class Reporter:
    """Reports for one attempt; every sink may be None."""

    def __init__(
        self,
        clock: seams.Clock,
        *,
        attempt: int = 1,
        pod_name: str | None = None,
        sink: StatusSink | None = None,
        redis: Any = None,
        namespace: str | None = None,
        name: str | None = None,
        pod_uid: str | None = None,
        interval: float = 5.0,
        redis_interval: float = 1.0,
        redis_ttl: int = contract.PROGRESS_TTL_SECONDS,
        termination_path: Path | None = None,
        open_uploads: list[status.OpenUpload] | None = None,
    ) -> None:
        self.clock = clock
        self.open_uploads = open_uploads  # the upload ledger (`ledger.StatusLedger`)
        self._patch_lock = threading.Lock()
        self.attempt, self.pod_name = attempt, pod_name
        self.sink, self.redis = sink, redis
        self.namespace, self.name, self.pod_uid = namespace, name, pod_uid
        self.interval, self.redis_interval, self.redis_ttl = interval, redis_interval, redis_ttl
        self.termination_path = termination_path
        self._phase = constants.RunnerPhase.RUNNING
        self._latest: status.Progress | None = None
        self._last_patch: float | None = None
        self._last_redis: float | None = None
        self._dirty = False

    # --- during the attempt ------------------------------------------------------
    def progress(self, snapshot: progress.Progress) -> None:
        """Record a snapshot; patch and publish when their intervals allow."""
        self._latest = status.Progress(
            percent=min(100, max(0, int(snapshot.percent))),
            fps=round(snapshot.fps, 2) if snapshot.fps is not None else None,
            speed=round(snapshot.speed, 3) if snapshot.speed is not None else None,
        )
        self._dirty = True
        self._tick()

    def phase(self, phase: constants.RunnerPhase) -> None:
        """Move to a new phase (reported with the next allowed patch)."""
        self._phase = phase
        self._dirty = True
        self._tick()

    def flush(self) -> None:
        """Patch pending changes now if the interval allows (call it from idle loops)."""
        self._tick()

    def _tick(self) -> None:
        now = self.clock.monotonic()
        if self.redis is not None and self._latest is not None and (
            self._last_redis is None or now - self._last_redis >= self.redis_interval
        ):
            self._last_redis = now
            self._publish(self._latest)
        if self.sink is not None and self._dirty and (
            self._last_patch is None or now - self._last_patch >= self.interval
        ):
            self._last_patch = now
            self._dirty = False
            self._patch(self._runner_status(self._phase, self._latest))

    # --- at the end -------------------------------------------------------------
    def final(self, result: status.RunnerResult) -> None:
        """Write the final result everywhere, regardless of the throttle."""
        phase = (constants.RunnerPhase.SUCCEEDED if result.outcome == constants.Outcome.SUCCEEDED
                 else constants.RunnerPhase.FAILED)
        latest = self._latest
        if result.outcome == constants.Outcome.SUCCEEDED:
            latest = status.Progress(percent=100, fps=latest.fps if latest else None,
                                     speed=latest.speed if latest else None)
            if self.redis is not None:
                self._publish(latest)
        self.write_termination_message(result)
        if self.sink is not None:
            self._patch(self._runner_status(phase, latest))

    def write_termination_message(self, result: status.RunnerResult) -> None:
        if self.termination_path is None:
            return
        text = result.to_termination_message()
        try:
            self.termination_path.write_text(text, encoding="utf-8")
        except OSError as exc:
            log.warning("cannot write the termination message to %s: %s",
                        self.termination_path, exc.strerror or exc)

    # --- sinks -------------------------------------------------------------------
    def _runner_status(
        self,
        phase: constants.RunnerPhase,
        latest: status.Progress | None,
    ) -> status.RunnerStatus:
        return status.RunnerStatus(
            attempt=self.attempt,
            pod_name=self.pod_name,
            phase=phase,
            progress=latest,
            updated_at=self.clock.now(),
        )

    def record_uploads(self, entries: list[status.OpenUpload]) -> bool:
        """Patch the upload ledger now, regardless of the throttle; True once it is stored."""
        self.open_uploads = list(entries)
        if self.sink is None:
            return False
        return self._patch(self._runner_status(self._phase, self._latest))

    def _patch(self, runner: status.RunnerStatus) -> bool:
        assert self.sink is not None
        with self._patch_lock:  # one patch at a time, each with the ledger as it is now
            runner = runner.model_copy(update={"open_uploads": self.open_uploads})
            try:
                self.sink.patch({"status": {"runner": runner.to_dict()}})
                return True
            except Exception as exc:  # noqa: BLE001 - the operator also reads the termination message
                log.warning("status patch failed (carrying on): %s", _short(exc))
                return False

    def _publish(self, latest: status.Progress) -> None:
        if not (self.namespace and self.name and self.pod_uid):
            return
        document = {
            "namespace": self.namespace,
            "name": self.name,
            "attempt": self.attempt,
            "phase": self._phase.value,
            **latest.to_dict(),
            "updatedAt": self.clock.now().isoformat().replace("+00:00", "Z"),
        }
        text = json.dumps(document, separators=(",", ":"))
        try:
            key = contract.progress_key(self.namespace, self.name, self.pod_uid)
            self.redis.set(key, text, ex=self.redis_ttl)
            self.redis.publish(contract.PROGRESS_CHANNEL, key)  # the operator's relay reads the key
        except Exception as exc:  # noqa: BLE001 - Redis is optional
            log.warning("Redis progress update failed (carrying on): %s", _short(exc))


def connect_redis(url: str | None, username: str | None = None,
                  password: str | None = None) -> Any:
    """A Redis client for `url` logging in as `username`, short timeouts; None without a URL."""
    if not url:
        return None
    import redis

    login = {k: v for k, v in (("username", username), ("password", password)) if v}
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, **login)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"
