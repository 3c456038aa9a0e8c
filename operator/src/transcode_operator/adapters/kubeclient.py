"""The operator's own Kubernetes API calls, async on aiohttp, on plain dicts, with domain errors.

kopf only watches, through its own client; every write and read the control
layer makes (create/read/list/delete runner Pods, patch the job's finalizers
and status, read the credentials Secret, read the Node of a Pod stuck Terminating, delete a
job after its TTL, hold the leader Lease; the batch/v1 Job of a Kueue-queued attempt and
its Workloads) and the HTTP API's TokenReviews and SubjectAccessReviews
(`apiauth.ReviewApi`) go through `KubeClient`: plain REST requests on one pooled
aiohttp session (no thread pool, no `kubernetes` package: its model classes would
cost the process ~40 MB), authenticated with `adapters.kubeauth`'s credentials
(read again after a 401, so a rotated service account token is picked up),
returning JSON as dicts and raising `errors.ApiError` subclasses. Every
verb/resource pair it uses is listed in `CALLS`, which `rbac` turns into the
operator's ClusterRole (a unit test checks the two agree). `Api` is the
protocol the control layer depends on, so tests can inject a fake.
"""

from __future__ import annotations

import json
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import yarl

from transcode_api import constants
from transcode_operator.adapters import kubeauth
from transcode_operator.domain import errors

MERGE_PATCH = "application/merge-patch+json"
CORE = "/api/v1"
JOBS = f"/apis/{constants.GROUP}/{constants.VERSION}"
BATCH = "/apis/batch/v1"
LEASES = "/apis/coordination.k8s.io/v1"
WORKLOADS = "/apis/kueue.x-k8s.io/v1beta2"

# (api group, resource, verb) of every call below; rbac.py builds the ClusterRole from it.
CALLS: dict[str, tuple[str, str, str]] = {
    "create_pod": ("", "pods", "create"),
    "get_pod": ("", "pods", "get"),
    "list_pods": ("", "pods", "list"),
    "delete_pod": ("", "pods", "delete"),
    "get_job": (constants.GROUP, constants.PLURAL, "get"),
    "delete_job": (constants.GROUP, constants.PLURAL, "delete"),
    "patch_job": (constants.GROUP, constants.PLURAL, "patch"),
    "patch_job_status": (constants.GROUP, f"{constants.PLURAL}/status", "patch"),
    "get_secret": ("", "secrets", "get"),
    "get_node": ("", "nodes", "get"),
    "create_event": ("", "events", "create"),
    "create_batch_job": ("batch", "jobs", "create"),
    "get_batch_job": ("batch", "jobs", "get"),
    "delete_batch_job": ("batch", "jobs", "delete"),
    "list_workloads": ("kueue.x-k8s.io", "workloads", "list"),
    "get_lease": ("coordination.k8s.io", "leases", "get"),
    "create_lease": ("coordination.k8s.io", "leases", "create"),
    "replace_lease": ("coordination.k8s.io", "leases", "update"),
    "create_token_review": ("authentication.k8s.io", "tokenreviews", "create"),
    "create_subject_access_review": ("authorization.k8s.io", "subjectaccessreviews", "create"),
}
NAMESPACED_CALLS = frozenset({"get_lease", "create_lease", "replace_lease"})
"""Calls granted by a Role in the operator's own namespace, never cluster-wide (a
cluster-wide `update leases` could take over kube-system's leader elections)."""


class Api(Protocol):
    """What the control layer needs from the API server."""

    async def create_pod(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]: ...
    async def delete_pod(self, namespace: str, name: str, uid: str | None = None,
                         grace_seconds: int | None = None) -> bool: ...
    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    async def delete_job(self, namespace: str, name: str, uid: str | None = None) -> bool: ...
    async def patch_job(self, namespace: str, name: str,
                        patch: dict[str, Any]) -> dict[str, Any]: ...
    async def patch_job_status(self, namespace: str, name: str,
                               patch: dict[str, Any]) -> dict[str, Any]: ...
    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    async def get_node(self, name: str) -> dict[str, Any] | None: ...
    async def create_event(self, namespace: str, body: dict[str, Any]) -> None: ...
    async def create_batch_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def get_batch_job(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    async def delete_batch_job(self, namespace: str, name: str, uid: str | None = None) -> bool: ...
    async def list_workloads(self, namespace: str, selector: str) -> list[dict[str, Any]]: ...


def _ns(prefix: str, namespace: str, plural: str, name: str | None = None) -> str:
    path = f"{prefix}/namespaces/{quote(namespace, safe='')}/{plural}"
    return f"{path}/{quote(name, safe='')}" if name is not None else path


def _delete_options(uid: str | None, *, grace: int | None = None,
                    propagation: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
    if grace is not None:
        body["gracePeriodSeconds"] = grace
    if propagation is not None:
        body["propagationPolicy"] = propagation
    if uid:
        body["preconditions"] = {"uid": uid}
    return body


class KubeClient:
    """`Api` on one aiohttp session with at most `pool_size` connections."""

    def __init__(self, pool_size: int = 32, request_timeout: float = 30.0,
                 connect_timeout: float = 10.0,
                 credentials: kubeauth.Credentials | None = None) -> None:
        self.pool_size = pool_size
        self.timeout = aiohttp.ClientTimeout(total=request_timeout, connect=connect_timeout)
        self._creds = credentials
        self._session: aiohttp.ClientSession | None = None
        self.calls: dict[str, int] = {}
        """Calls made, by name (writes per job in the benchmark)."""

    def _open(self) -> aiohttp.ClientSession:
        creds = self._creds = self._creds or kubeauth.load()
        headers = {"Accept": "application/json", "User-Agent": "kube-transcoder-operator"}
        if creds.token:
            headers["Authorization"] = f"Bearer {creds.token}"
        auth = aiohttp.BasicAuth(creds.username, creds.password or "") if creds.username \
            else None
        ssl = kubeauth.ssl_context(creds) if creds.server.startswith("https:") else False
        connector = aiohttp.TCPConnector(limit=self.pool_size, ssl=ssl)
        self._session = aiohttp.ClientSession(headers=headers, auth=auth, connector=connector,
                                              timeout=self.timeout)
        return self._session

    async def _relogin(self, failed: aiohttp.ClientSession) -> None:
        """After a 401: read the credentials again (a rotated token) on a new session."""
        if self._session is failed:  # not yet replaced by a concurrent call's relogin
            self._session, self._creds = None, None
            await failed.close()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _call(self, name: str, method: str, path: str, body: Any = None, *,
                    params: dict[str, str] | None = None, patch: bool = False) -> Any:
        self.calls[name] = self.calls.get(name, 0) + 1
        headers = {"Content-Type": MERGE_PATCH} if patch else None
        data = json.dumps(body) if body is not None else None
        if data is not None and headers is None:
            headers = {"Content-Type": "application/json"}
        for attempt in (1, 2):
            session = self._session or self._open()
            server = self._creds.server if self._creds is not None else ""
            try:
                async with session.request(method, yarl.URL(server + path, encoded=True),
                                           data=data, params=params,
                                           headers=headers) as response:
                    text = await response.text()
                    status, reason = response.status, response.reason or ""
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise errors.ApiError(0, type(exc).__name__, str(exc)) from None
            if status == 401 and attempt == 1:
                await self._relogin(session)
                continue
            break
        if status >= 400:
            raise errors.from_status(status, reason, _message(text))
        return json.loads(text) if text else {}

    async def _maybe(self, name: str, path: str) -> Any | None:
        try:
            return await self._call(name, "GET", path)
        except errors.NotFound:
            return None

    async def _delete(self, name: str, path: str, body: dict[str, Any]) -> bool:
        try:
            await self._call(name, "DELETE", path, body)
        except (errors.NotFound, errors.Conflict):
            return False  # gone already, or a newer object of that name (not ours to delete)
        return True

    async def create_pod(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("create_pod", "POST",
                                                  _ns(CORE, namespace, "pods"), body)
        return result

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._maybe("get_pod", _ns(CORE, namespace, "pods", name))

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        result = await self._call("list_pods", "GET", _ns(CORE, namespace, "pods"),
                                  params={"labelSelector": selector})
        return list(result.get("items") or [])

    async def delete_pod(self, namespace: str, name: str, uid: str | None = None,
                         grace_seconds: int | None = None) -> bool:
        return await self._delete("delete_pod", _ns(CORE, namespace, "pods", name),
                                  _delete_options(uid, grace=grace_seconds))

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._maybe("get_job", _ns(JOBS, namespace, constants.PLURAL, name))

    async def delete_job(self, namespace: str, name: str, uid: str | None = None) -> bool:
        return await self._delete("delete_job", _ns(JOBS, namespace, constants.PLURAL, name),
                                  _delete_options(uid, propagation="Background"))

    async def patch_job(self, namespace: str, name: str,
                        patch: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch the job itself (metadata.finalizers)."""
        result: dict[str, Any] = await self._call(
            "patch_job", "PATCH", _ns(JOBS, namespace, constants.PLURAL, name), patch,
            patch=True)
        return result

    async def patch_job_status(self, namespace: str, name: str,
                               patch: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "patch_job_status", "PATCH",
            _ns(JOBS, namespace, constants.PLURAL, name) + "/status", {"status": patch},
            patch=True)
        return result

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._maybe("get_secret", _ns(CORE, namespace, "secrets", name))

    async def get_node(self, name: str) -> dict[str, Any] | None:
        """The Node (its Ready condition decides a stuck Pod's force delete); None: gone."""
        return await self._maybe("get_node", f"{CORE}/nodes/{quote(name, safe='')}")

    async def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        """POST a core/v1 Event (a named one: Conflict when it exists already)."""
        await self._call("create_event", "POST", _ns(CORE, namespace, "events"), body)

    async def create_batch_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("create_batch_job", "POST",
                                                  _ns(BATCH, namespace, "jobs"), body)
        return result

    async def get_batch_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._maybe("get_batch_job", _ns(BATCH, namespace, "jobs", name))

    async def delete_batch_job(self, namespace: str, name: str, uid: str | None = None) -> bool:
        """Delete a queued attempt's Job and, in the background, its Pod."""
        return await self._delete("delete_batch_job", _ns(BATCH, namespace, "jobs", name),
                                  _delete_options(uid, propagation="Background"))

    async def list_workloads(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """Kueue's Workloads matching `selector` (none, when Kueue is not installed)."""
        try:
            result = await self._call("list_workloads", "GET",
                                      _ns(WORKLOADS, namespace, "workloads"),
                                      params={"labelSelector": selector})
        except errors.NotFound:
            return []
        return list(result.get("items") or [])

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._maybe("get_lease", _ns(LEASES, namespace, "leases", name))

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("create_lease", "POST",
                                                  _ns(LEASES, namespace, "leases"), body)
        return result

    async def replace_lease(self, namespace: str, name: str,
                            body: dict[str, Any]) -> dict[str, Any]:
        """Write the Lease if its resourceVersion is still `body`'s (else Conflict)."""
        result: dict[str, Any] = await self._call("replace_lease", "PUT",
                                                  _ns(LEASES, namespace, "leases", name), body)
        return result

    async def create_token_review(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a TokenReview (the HTTP API's authentication); the answer holds its status."""
        result: dict[str, Any] = await self._call(
            "create_token_review", "POST", "/apis/authentication.k8s.io/v1/tokenreviews", body)
        return result

    async def create_subject_access_review(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a SubjectAccessReview (the HTTP API's authorisation)."""
        result: dict[str, Any] = await self._call(
            "create_subject_access_review", "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews", body)
        return result


def _message(text: str) -> str:
    """The API server's `message` of an error answer (else the start of its body)."""
    try:
        return str(json.loads(text).get("message", ""))
    except (ValueError, AttributeError):
        return text[:500]
