"""The cluster's GPU status, assembled from the node probes the runner DaemonSet stores.

Each GPU node runs `transcode-runner probe --report`, which stores its NVML
inventory as JSON under `kt:gpu:{node}` with a short TTL. `GpuStatus.read()`
finds those keys with SCAN, converts every device into the seed's
`GET /api/v1/system/gpu/status` fields, groups them by node and caches the
answer for 10 s; `httpapi` serves it and `refresh_forever` (started at operator
startup) keeps the DCGM-named GPU gauges in `metrics` current. Both the
runner's camelCase fields (`memoryTotalMiB`, ...) and the seed's snake_case
ones are accepted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis

from transcode_api import contract
from transcode_operator.adapters import cache as cache_module
from transcode_operator.adapters import clocks, redisconn
from transcode_operator.adapters import metrics as metrics_module

logger = logging.getLogger(__name__)

# seed field -> field names accepted in a probe's device (first match wins)
_DEVICE_FIELDS: dict[str, tuple[str, ...]] = {
    "index": ("index",),
    "name": ("name",),
    "uuid": ("uuid",),
    "memory_total_mb": ("memoryTotalMiB", "memory_total_mb", "memoryTotalMB"),
    "memory_free_mb": ("memoryFreeMiB", "memory_free_mb", "memoryFreeMB"),
    "memory_used_mb": ("memoryUsedMiB", "memory_used_mb", "memoryUsedMB"),
    "utilization_percent": ("utilizationPercent", "utilization_percent", "utilization"),
    "encoder_utilization_percent": ("encoderUtilizationPercent", "encoder_utilization_percent"),
    "encoder_sessions": ("encoderSessions", "encoder_sessions"),
    "temperature_c": ("temperatureC", "temperature_c"),
    "nvenc_supported": ("nvencSupported", "nvenc_supported"),
}


class GpuStatusUnavailable(Exception):
    """Redis is down or not configured: the node probes cannot be read."""


def _pick(data: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in data:
            return data[name]
    return None


def device_view(node: str, device: Mapping[str, Any]) -> dict[str, Any]:
    """One probe device in the seed's fields, plus `node`."""
    view: dict[str, Any] = {"node": node}
    for field, names in _DEVICE_FIELDS.items():
        view[field] = _pick(device, names)
    total, free, used = view["memory_total_mb"], view["memory_free_mb"], view["memory_used_mb"]
    if used is None and isinstance(total, int | float) and isinstance(free, int | float):
        view["memory_used_mb"] = total - free
    if free is None and isinstance(total, int | float) and isinstance(used, int | float):
        view["memory_free_mb"] = total - used
    view["nvenc_supported"] = bool(view["nvenc_supported"])
    return view


def node_view(node: str, probe: Mapping[str, Any]) -> dict[str, Any]:
    """One node's probe in the seed's shape: available, nvenc_supported, devices, ..."""
    devices = [device_view(node, d) for d in probe.get("devices") or [] if isinstance(d, Mapping)]
    nvenc = _pick(probe, ("nvencSupported", "nvenc_supported"))
    return {
        "node": node,
        "available": bool(devices) and bool(probe.get("available", True)),
        "nvenc_supported": bool(nvenc) if nvenc is not None else any(
            d["nvenc_supported"] for d in devices
        ),
        "device_count": len(devices),
        "devices": devices,
        "driver_version": _pick(probe, ("driverVersion", "driver_version")),
        "updated_at": _pick(probe, ("updatedAt", "updated_at")),
        "error": _pick(probe, ("nvmlError", "error")),
    }


def cluster_view(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The seed's top-level answer over all nodes, with `nodes` for the grouping."""
    nodes = sorted(nodes, key=lambda n: n["node"])
    devices = [device for node in nodes for device in node["devices"]]
    return {
        "available": any(node["available"] for node in nodes),
        "nvenc_supported": any(node["nvenc_supported"] for node in nodes),
        "device_count": len(devices),
        "devices": devices,
        "nodes": nodes,
    }


class GpuStatus:
    """Reads the node probes from Redis, cached for `cache.GPU_STATUS_TTL` seconds."""

    def __init__(
        self,
        client: aioredis.Redis | None,
        *,
        health: redisconn.RedisHealth | None = None,
        metrics: metrics_module.Metrics | None = None,
        clock: clocks.Clock | None = None,
        ttl: int = cache_module.GPU_STATUS_TTL,
    ) -> None:
        self.client = client
        self.health = health or redisconn.RedisHealth(configured=client is not None)
        self.metrics = metrics
        self.clock = clock or clocks.SystemClock()
        self.cache = cache_module.GpuStatusCache(
            client, ttl=ttl, health=self.health, metrics=metrics
        )

    async def read(self, *, cached: bool = True) -> dict[str, Any]:
        """The cluster view; raises `GpuStatusUnavailable` when Redis cannot be read."""
        if self.client is None:
            raise GpuStatusUnavailable("Redis is not configured")
        view = await self.cache.get(self._load) if cached else await self._load()
        if view is None:
            raise GpuStatusUnavailable(self.health.last_error or "Redis is unreachable")
        return view

    async def refresh(self) -> bool:
        """Read the probes now and update the GPU gauges; False when Redis is down."""
        try:
            await self.read(cached=False)
        except GpuStatusUnavailable:
            return False
        return True

    async def refresh_forever(self, interval: float = 10.0) -> None:
        """`refresh` every `interval` seconds (run as a background task)."""
        while True:
            await self.refresh()
            await self.clock.sleep(interval)

    async def _load(self) -> dict[str, Any] | None:
        client = self.client
        assert client is not None

        async def scan() -> list[tuple[str, str]]:
            keys = [key async for key in client.scan_iter(match=contract.GPU_KEY_PATTERN, count=100)]
            if not keys:
                return []
            values = await client.mget(keys)
            return [(k, v) for k, v in zip(keys, values, strict=True) if v is not None]

        entries = await self.health.call("gpu.scan", scan, None)
        if entries is None:
            return None
        nodes = []
        for key, raw in entries:
            node = key.removeprefix("kt:gpu:")
            try:
                probe = json.loads(raw)
            except ValueError:
                logger.warning("GPU probe of node %s is not JSON; ignored", node)
                continue
            if isinstance(probe, Mapping):
                nodes.append(node_view(str(probe.get("node") or node), probe))
        view = cluster_view(nodes)
        if self.metrics is not None:
            self.metrics.set_gpu_devices(view["devices"])
        return view
