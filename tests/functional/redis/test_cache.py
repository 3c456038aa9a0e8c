"""Caches against real Redis: the seed's TTLs, invalidation on update and delete, a
slow load never writing back a value an invalidation made stale, GPU probes by SCAN."""

from __future__ import annotations

import asyncio
import json

from transcode_api import contract
from transcode_operator.adapters import cache, gpustatus, metrics, redisconn


def counts(m, name):
    return (m.registry.get_sample_value("transcoder_cache_hits_total", {"cache": name}),
            m.registry.get_sample_value("transcoder_cache_misses_total", {"cache": name}))


def test_job_status_reads_hit_after_the_first_and_reload_after_invalidation(redis_url):
    m = metrics.Metrics()
    loads = []

    async def scenario():
        client = redisconn.make_client(redis_url)
        jobs = cache.JobStatusCache(client, metrics=m)
        phase = {"value": "Running"}

        async def loader():
            loads.append(phase["value"])
            return {"phase": phase["value"]}

        try:
            assert await jobs.get("media", "trailer", loader) == {"phase": "Running"}
            assert await jobs.get("media", "trailer", loader) == {"phase": "Running"}
            ttl = await client.ttl(jobs.cache.key("media/trailer"))
            phase["value"] = "Succeeded"  # the operator patched the status...
            await jobs.invalidate("media", "trailer")  # ...and invalidates
            assert await jobs.get("media", "trailer", loader) == {"phase": "Succeeded"}
            await jobs.invalidate("media", "trailer")  # deleted
            phase["value"] = None

            async def gone():
                loads.append("gone")
                return None

            assert await jobs.get("media", "trailer", gone) is None
            assert await client.exists(jobs.cache.key("media/trailer")) == 0  # None not cached
        finally:
            await client.aclose()
        return ttl

    ttl = asyncio.run(scenario())
    assert 295 < ttl <= cache.JOB_STATUS_TTL
    assert loads == ["Running", "Succeeded", "gone"]
    assert counts(m, "job_status") == (1.0, 3.0)


def test_an_invalidation_during_a_load_keeps_the_stale_value_out(redis_url):
    async def scenario():
        client = redisconn.make_client(redis_url)
        jobs = cache.JobStatusCache(client)
        try:
            async def slow_loader():
                # The status changes while this read is in flight.
                await jobs.invalidate("media", "race")
                return {"phase": "Running"}

            assert await jobs.get("media", "race", slow_loader) == {"phase": "Running"}
            assert await client.exists(jobs.cache.key("media/race")) == 0

            async def fresh():
                return {"phase": "Succeeded"}

            assert await jobs.get("media", "race", fresh) == {"phase": "Succeeded"}
            assert await jobs.get("media", "race", slow_loader) == {"phase": "Succeeded"}
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_values_expire_after_their_ttl(redis_url, poll):
    async def missing(client, short):
        return await client.exists(short.key("k")) == 0

    async def scenario():
        client = redisconn.make_client(redis_url)
        short = cache.JsonCache(client, "short", ttl=1)
        loads = []

        async def loader():
            loads.append(1)
            return {"n": len(loads)}

        try:
            assert await short.get_or_load("k", loader) == {"n": 1}
            assert await short.get_or_load("k", loader) == {"n": 1}
            await poll(lambda: missing(client, short), timeout=5)
            assert await short.get_or_load("k", loader) == {"n": 2}
        finally:
            await client.aclose()

    asyncio.run(scenario())


def probe_json(utilization, free=8192):
    return json.dumps({
        "available": True, "nvencSupported": True,
        "devices": [{"index": 0, "name": "NVIDIA L4", "memoryTotalMiB": 22528,
                     "memoryFreeMiB": free, "utilizationPercent": utilization,
                     "encoderSessions": 1, "nvencSupported": True}],
    })


def test_gpu_status_from_node_probes_cached_for_ten_seconds(redis_url, poll):
    m = metrics.Metrics()

    async def scenario():
        client = redisconn.make_client(redis_url)
        status = gpustatus.GpuStatus(client, metrics=m)
        try:
            await client.set(contract.gpu_key("gpu-a"), probe_json(10), ex=30)
            await client.set(contract.gpu_key("gpu-b"), probe_json(20), px=600)
            for n in range(150):  # unrelated keys do not confuse the SCAN
                await client.set(f"kt:other:{n}", "x")
            first = await status.read()
            ttl = await client.ttl(status.cache.cache.key("cluster"))
            await client.set(contract.gpu_key("gpu-c"), probe_json(30), ex=30)
            cached = await status.read()

            async def node_b_expired():
                view = await status.read(cached=False)
                return [n["node"] for n in view["nodes"]] == ["gpu-a", "gpu-c"]

            await poll(node_b_expired, timeout=5)
        finally:
            await client.aclose()
        return first, cached, ttl

    first, cached, ttl = asyncio.run(scenario())
    assert [n["node"] for n in first["nodes"]] == ["gpu-a", "gpu-b"]
    assert first["device_count"] == 2 and first["available"] and first["nvenc_supported"]
    assert first["devices"][1]["utilization_percent"] == 20
    assert cached == first
    assert 0 < ttl <= cache.GPU_STATUS_TTL
    labels = {"node": "gpu-c", "gpu": "0", "modelName": "NVIDIA L4"}
    assert m.registry.get_sample_value("DCGM_FI_DEV_GPU_UTIL", labels) == 30
    assert m.registry.get_sample_value("DCGM_FI_DEV_GPU_UTIL", {**labels, "node": "gpu-b"}) is None
