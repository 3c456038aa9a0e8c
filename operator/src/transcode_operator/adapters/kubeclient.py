"""The operator's own Kubernetes API calls, async, on plain dicts, with domain errors.

kopf only watches, through its own client; every write and read the control
layer makes (create/read/list/delete runner Pods, patch the job's finalizers
and status, read the credentials Secret, read the Node of a Pod stuck Terminating, delete a
job after its TTL, hold the leader Lease; the batch/v1 Job of a Kueue-queued attempt and
its Workloads) and the HTTP API's TokenReviews and SubjectAccessReviews
(`apiauth.ReviewApi`) go through
`KubeClient`, which runs the official `kubernetes` client in a small thread
pool, returns JSON as dicts, and raises `errors.ApiError` subclasses. Every
verb/resource pair it uses is listed in `CALLS`, which `rbac` turns into the
operator's ClusterRole (a unit test checks the two agree). `Api` is the
protocol the control layer depends on, so tests can inject a fake.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client import exceptions as k8s_exceptions

from transcode_api import constants
from transcode_operator.domain import errors

T = TypeVar("T")
MERGE_PATCH = "application/merge-patch+json"

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


def load_config(pool_size: int = 16) -> client.ApiClient:
    """An ApiClient from the in-cluster service account, else $KUBECONFIG / ~/.kube/config."""
    cfg = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=cfg)
    except config.ConfigException:
        config.load_kube_config(client_configuration=cfg)
    cfg.connection_pool_maxsize = pool_size * 2  # headroom: never discard idle connections
    return client.ApiClient(cfg)


def _translate(exc: k8s_exceptions.ApiException) -> errors.ApiError:
    message = ""
    if exc.body:
        try:
            message = str(json.loads(exc.body).get("message", ""))
        except (ValueError, AttributeError):
            message = str(exc.body)[:500]
    return errors.from_status(int(exc.status or 0), str(exc.reason or ""), message)


class KubeClient:
    """`Api` on the official client, run in `workers` threads."""

    def __init__(self, api_client: client.ApiClient, workers: int = 16,
                 request_timeout: float = 30.0) -> None:
        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
        self.authn = client.AuthenticationV1Api(api_client)
        self.authz = client.AuthorizationV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.timeout = request_timeout
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kubeclient")
        self.calls: dict[str, int] = {}
        """Calls made, by name (writes per job in the benchmark)."""

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.api_client.close()

    async def _call(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.calls[name] = self.calls.get(name, 0) + 1
        kwargs.setdefault("_request_timeout", self.timeout)
        kwargs["_preload_content"] = False
        loop = asyncio.get_running_loop()
        try:
            response = await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        except k8s_exceptions.ApiException as exc:
            raise _translate(exc) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.ApiError(0, type(exc).__name__, str(exc)) from None
        data = response.data
        return json.loads(data) if data else {}

    async def _maybe(self, name: str, fn: Callable[..., Any], *args: Any) -> Any | None:
        try:
            return await self._call(name, fn, *args)
        except errors.NotFound:
            return None

    async def create_pod(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "create_pod", self.core.create_namespaced_pod, namespace, body)
        return result

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._maybe("get_pod", self.core.read_namespaced_pod, name, namespace)

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        result = await self._call("list_pods", self.core.list_namespaced_pod, namespace,
                                  label_selector=selector)
        return list(result.get("items") or [])

    async def delete_pod(self, namespace: str, name: str, uid: str | None = None,
                         grace_seconds: int | None = None) -> bool:
        body = client.V1DeleteOptions(
            grace_period_seconds=grace_seconds,
            preconditions=client.V1Preconditions(uid=uid) if uid else None)
        try:
            await self._call("delete_pod", self.core.delete_namespaced_pod, name, namespace,
                             body=body)
        except (errors.NotFound, errors.Conflict):
            return False  # gone already, or a newer Pod of that name (not ours to delete)
        return True

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._maybe("get_job", self.custom.get_namespaced_custom_object,
                                 constants.GROUP, constants.VERSION, namespace,
                                 constants.PLURAL, name)

    async def delete_job(self, namespace: str, name: str, uid: str | None = None) -> bool:
        body = client.V1DeleteOptions(
            propagation_policy="Background",
            preconditions=client.V1Preconditions(uid=uid) if uid else None)
        try:
            await self._call("delete_job", self.custom.delete_namespaced_custom_object,
                             constants.GROUP, constants.VERSION, namespace, constants.PLURAL,
                             name, body=body)
        except (errors.NotFound, errors.Conflict):
            return False
        return True

    async def patch_job(self, namespace: str, name: str,
                        patch: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch the job itself (metadata.finalizers)."""
        result: dict[str, Any] = await self._call(
            "patch_job", self.custom.patch_namespaced_custom_object,
            constants.GROUP, constants.VERSION, namespace, constants.PLURAL, name, patch,
            _content_type=MERGE_PATCH)
        return result

    async def patch_job_status(self, namespace: str, name: str,
                               patch: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "patch_job_status", self.custom.patch_namespaced_custom_object_status,
            constants.GROUP, constants.VERSION, namespace, constants.PLURAL, name,
            {"status": patch}, _content_type=MERGE_PATCH)
        return result

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._maybe("get_secret", self.core.read_namespaced_secret, name, namespace)

    async def get_node(self, name: str) -> dict[str, Any] | None:
        """The Node (its Ready condition decides a stuck Pod's force delete); None: gone."""
        return await self._maybe("get_node", self.core.read_node, name)

    async def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        """POST a core/v1 Event (a named one: Conflict when it exists already)."""
        await self._call("create_event", self.core.create_namespaced_event, namespace, body)

    async def create_batch_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "create_batch_job", self.batch.create_namespaced_job, namespace, body)
        return result

    async def get_batch_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._maybe("get_batch_job", self.batch.read_namespaced_job, name, namespace)

    async def delete_batch_job(self, namespace: str, name: str, uid: str | None = None) -> bool:
        """Delete a queued attempt's Job and, in the background, its Pod."""
        body = client.V1DeleteOptions(
            propagation_policy="Background",
            preconditions=client.V1Preconditions(uid=uid) if uid else None)
        try:
            await self._call("delete_batch_job", self.batch.delete_namespaced_job, name,
                             namespace, body=body)
        except (errors.NotFound, errors.Conflict):
            return False
        return True

    async def list_workloads(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """Kueue's Workloads matching `selector` (none, when Kueue is not installed)."""
        try:
            result = await self._call(
                "list_workloads", self.custom.list_namespaced_custom_object, "kueue.x-k8s.io",
                "v1beta2", namespace, "workloads", label_selector=selector)
        except errors.NotFound:
            return []
        return list(result.get("items") or [])

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._maybe("get_lease", self.coordination.read_namespaced_lease,
                                 name, namespace)

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "create_lease", self.coordination.create_namespaced_lease, namespace, body)
        return result

    async def replace_lease(self, namespace: str, name: str,
                            body: dict[str, Any]) -> dict[str, Any]:
        """Write the Lease if its resourceVersion is still `body`'s (else Conflict)."""
        result: dict[str, Any] = await self._call(
            "replace_lease", self.coordination.replace_namespaced_lease, name, namespace, body)
        return result

    async def create_token_review(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a TokenReview (the HTTP API's authentication); the answer holds its status."""
        result: dict[str, Any] = await self._call(
            "create_token_review", self.authn.create_token_review, body)
        return result

    async def create_subject_access_review(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a SubjectAccessReview (the HTTP API's authorisation)."""
        result: dict[str, Any] = await self._call(
            "create_subject_access_review", self.authz.create_subject_access_review, body)
        return result
