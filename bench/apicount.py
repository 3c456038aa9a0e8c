"""Counting a scale-bench phase's objects from one watch per kind, not from lists.

`bench/operator_scale.py` used to count "all Pods exist" and "all jobs finished" by
listing every Pod and every job twice a second. At 10,000 jobs one such count is a
35 MB answer for the API server to encode and the bench to decode, so the bench's
own load grew with the job count it measured. A `Tally` instead lists the namespace
once and then follows one watch (metadata only where the count needs no more),
remembering the monotonic time at which each object first met its test; a phase's
time is the time of its n-th object, to the event rather than to the next poll. A
watch that ends is resumed from its last resourceVersion (bookmarks keep it
fresh), and one the server expired (410) starts again from a new list, so nothing
counted is lost or counted twice (objects are counted by name).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.watch.watch import iter_resp_lines

METADATA = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
METADATA_WATCH = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


def exists(_obj: dict[str, Any]) -> bool:
    return True


class Tally:
    """Objects under `path` (e.g. /api/v1/namespaces/x/pods) for which `test` held once."""

    def __init__(self, api: client.ApiClient, path: str,
                 test: Callable[[dict[str, Any]], bool] = exists) -> None:
        self.api, self.path, self.test = api, path, test
        self.metadata_only = test is exists
        self.first: dict[str, float] = {}
        self._stop = threading.Event()
        self._response: Any = None

    def start(self) -> Tally:
        threading.Thread(target=self._run, args=(self._list(),), daemon=True,
                         name=f"tally {self.path}").start()
        return self

    def count(self) -> int:
        return len(self.first)

    def time_of(self, n: int) -> float:
        """The monotonic time at which the n-th object was first counted."""
        return sorted(self.first.values())[n - 1]

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(Exception):
            if self._response is not None:
                self._response.close()

    def _get(self, query: list[tuple[str, Any]], accept: str, stream: bool) -> Any:
        return self.api.call_api(
            self.path, "GET", query_params=query, header_params={"Accept": accept},
            auth_settings=["BearerToken"], _preload_content=False,
            _request_timeout=None if stream else 120)

    def _list(self) -> str:
        """Count what exists now, in pages; return the list's resourceVersion."""
        token = None
        while True:
            query: list[tuple[str, Any]] = [("limit", 500)]
            if token:
                query.append(("continue", token))
            page = json.loads(self._get(query, METADATA if self.metadata_only
                                        else "application/json", False).data)
            for item in page.get("items") or []:
                self._see(item)
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return str(page["metadata"]["resourceVersion"])

    def _see(self, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if name not in self.first and self.test(obj):
            self.first[name] = time.monotonic()

    def _run(self, rv: str) -> None:
        while not self._stop.is_set():
            try:
                rv = self._follow(rv)
            except Exception:  # noqa: BLE001 - a dropped stream under load: resume
                if self._stop.is_set():
                    return
                time.sleep(0.5)

    def _follow(self, rv: str) -> str:
        """One watch from `rv`; returns the resourceVersion to resume from (after a 410,
        that of a new list)."""
        self._response = self._get(
            [("watch", "true"), ("resourceVersion", rv), ("allowWatchBookmarks", "true"),
             ("timeoutSeconds", 300)],
            METADATA_WATCH if self.metadata_only else "application/json", True)
        for line in iter_resp_lines(self._response):
            if not line:
                continue
            event = json.loads(line)
            obj = event["object"]
            if event["type"] == "ERROR":
                if obj.get("code") == 410:
                    return self._list()
                raise RuntimeError(obj.get("message"))
            rv = obj["metadata"].get("resourceVersion") or rv
            if event["type"] in ("ADDED", "MODIFIED"):
                self._see(obj)
        return rv
