"""What the chaos run watches and does beside the jobs: a Pod ledger and an operator killer.

Used by `dev.chaos` (the e2e chaos test and bench/chaos.py). `Ledger(kube, ns)` lists
and then watches the namespace's runner Pods from a thread and records every Pod ever
created (by uid, with its job and attempt labels), so Pods deleted before the end are
counted too; `on_failed(job, attempt)` is called once when an attempt's Pod has failed.
`Killer(op)` SIGKILLs the operator process at a random moment 1–5 s after it last came
up and starts it again at once, until `stop()`; `kills` counts them.
"""

from __future__ import annotations

import random
import subprocess
import threading
from collections.abc import Callable

import urllib3
from kubernetes import client, watch

from dev import operators as opf
from dev.cluster.fixtures import Kube

JOB, ATTEMPT = "kubetranscoder.io/job", "kubetranscoder.io/attempt"


class Ledger:
    """Every runner Pod created in a namespace since `start()`, from a list and a watch."""

    def __init__(self, kube: Kube, namespace: str,
                 on_failed: Callable[[str, int], None] | None = None) -> None:
        self.core = opf.core(kube)
        self.namespace, self.on_failed = namespace, on_failed
        self.seen: dict[str, tuple[str, int]] = {}  # uid -> (job, attempt)
        self.failed: set[str] = set()
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> Ledger:
        self.thread.start()
        if not self.ready.wait(60):
            raise AssertionError(f"the Pod watch did not start: {self.error!r}")
        return self

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=30)

    def per_attempt(self) -> dict[str, dict[int, int]]:
        """job -> attempt -> how many distinct Pods were created for it."""
        with self.lock:
            out: dict[str, dict[int, int]] = {}
            for job, attempt in self.seen.values():
                per = out.setdefault(job, {})
                per[attempt] = per.get(attempt, 0) + 1
            return out

    def _note(self, pod: client.V1Pod) -> None:
        labels = pod.metadata.labels or {}
        if JOB not in labels or ATTEMPT not in labels:
            return
        job, attempt = labels[JOB], int(labels[ATTEMPT])
        with self.lock:
            self.seen.setdefault(pod.metadata.uid, (job, attempt))
            first = pod.status is not None and pod.status.phase == "Failed" \
                and pod.metadata.uid not in self.failed
            if first:
                self.failed.add(pod.metadata.uid)
        if first and self.on_failed is not None:
            self.on_failed(job, attempt)

    def _loop(self) -> None:
        version = ""
        while not self.done.is_set():
            try:
                if not version:  # (re)list: nothing created meanwhile is missed
                    listed = self.core.list_namespaced_pod(self.namespace, label_selector=JOB)
                    for pod in listed.items:
                        self._note(pod)
                    version = listed.metadata.resource_version
                    self.ready.set()
                stream = watch.Watch().stream(
                    self.core.list_namespaced_pod, self.namespace, label_selector=JOB,
                    resource_version=version, timeout_seconds=5)
                for event in stream:
                    obj = event["object"]
                    if isinstance(obj, client.V1Pod):
                        version = obj.metadata.resource_version or version
                        self._note(obj)
                    if self.done.is_set():
                        break
            except client.ApiException as exc:
                if exc.status != 410:  # 410 Gone: the version expired; list again
                    self.error = exc
                    self.done.wait(1)
                version = ""
            except (OSError, urllib3.exceptions.HTTPError) as exc:  # dropped: list again
                self.error = exc
                version = ""
                self.done.wait(1)


class Killer:
    """SIGKILLs `op` 1–5 s (random) after each start and starts it again, until `stop()`."""

    def __init__(self, op: opf.OperatorProcess, low: float = 1.0, high: float = 5.0,
                 seed: int | None = None) -> None:
        self.op, self.low, self.high = op, low, high
        self.random = random.Random(seed)
        self.kills = 0
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> Killer:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop killing; the operator is left running (restarted if a kill was last)."""
        self.done.set()
        self.thread.join(timeout=120)
        if self.error is not None:
            raise AssertionError(f"restarting the operator failed: {self.error}")

    def _loop(self) -> None:
        try:
            while not self.done.wait(self.random.uniform(self.low, self.high)):
                self.op.kill()
                self.kills += 1
                self.op.start()
        except (AssertionError, OSError, subprocess.SubprocessError) as exc:  # for stop()
            self.error = exc
