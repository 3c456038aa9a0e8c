"""The read-only HTTP API on a loopback port (no auth guard): job status, GPU status, health and
metrics, with JSON errors for unknown jobs (remembered for the miss TTL), bad names and unknown
paths."""

from __future__ import annotations

import asyncio

import aiohttp

from transcode_operator.adapters import cache, clocks, gpustatus, httpapi, metrics

JOB = {
    "apiVersion": "kubetranscoder.io/v1alpha1",
    "kind": "TranscodeJob",
    "metadata": {"namespace": "media", "name": "trailer-720p", "uid": "u-1", "generation": 2,
                 "creationTimestamp": "2025-01-17T10:00:00Z"},
    "spec": {"source": "s3://media-in/trailer.mov"},
    "status": {"phase": "Running", "progress": {"percent": 42.0, "fps": 90.0, "speed": 3.0},
               "metadata": {"gpuEnabled": True, "gpuCodec": "h264_nvenc"}},
}


class StubGpu:
    def __init__(self, view=None):
        self.view = view

    async def read(self):
        if self.view is None:
            raise gpustatus.GpuStatusUnavailable("Redis is unreachable")
        return self.view


async def serve_and_get(app, *paths, method="GET"):
    server = await httpapi.start(app, "127.0.0.1", 0)
    results = []
    try:
        async with aiohttp.ClientSession() as session:
            for path in paths:
                url = f"http://127.0.0.1:{server.port}{path}"
                async with session.request(method, url) as response:
                    body = await response.text()
                    results.append((response.status, response.headers.get("Content-Type"), body,
                                    await response.json() if "json" in response.content_type
                                    else None))
    finally:
        await server.stop()
    return results


def build(loader=None, gpu=None):
    calls = []

    async def default_loader(namespace, name):
        calls.append((namespace, name))
        if (namespace, name) == ("media", "trailer-720p"):
            return httpapi.job_view(JOB)
        return None

    app = httpapi.build_app(job_loader=loader or default_loader, metrics=metrics.Metrics(),
                            gpu_status=gpu)
    return app, calls


def test_job_status_is_the_jobs_status_and_identity():
    app, calls = build()
    [(status, _, _, body)] = asyncio.run(serve_and_get(app, "/api/v1/jobs/media/trailer-720p"))
    assert status == 200
    assert body["id"] == "media/trailer-720p"
    assert body["phase"] == "Running"
    assert body["progress"]["percent"] == 42.0
    assert body["metadata"]["gpuCodec"] == "h264_nvenc"
    assert "spec" not in body
    assert calls == [("media", "trailer-720p")]


def test_unknown_job_bad_names_and_unknown_paths_are_json_4xx():
    app, calls = build()
    results = asyncio.run(serve_and_get(
        app,
        "/api/v1/jobs/media/nope",
        "/api/v1/jobs/Media/trailer",
        "/api/v1/jobs/media/UPPER_case",
        "/api/v1/jobz",
        "/api/v1/jobs/media",
    ))
    statuses = [result[0] for result in results]
    assert statuses == [404, 400, 400, 404, 404]
    for _, content_type, _, body in results:
        assert content_type.startswith("application/json")
        assert body["error"] and body["status"] in (400, 404) and body["path"]
    assert "not found" in results[0][3]["error"]
    assert calls == [("media", "nope")]  # bad names never reach the API server


def test_write_methods_are_refused_with_json():
    app, _ = build()
    [(status, _, _, body)] = asyncio.run(
        serve_and_get(app, "/api/v1/jobs/media/trailer-720p", method="POST"))
    assert status == 405
    assert body["error"] == "method not allowed"


def test_a_failing_loader_is_a_503_not_a_crash():
    async def broken(namespace, name):
        raise ConnectionRefusedError("API server down")

    app, _ = build(loader=broken)
    [(status, _, _, body)] = asyncio.run(serve_and_get(app, "/api/v1/jobs/media/trailer-720p"))
    assert status == 503
    assert "Kubernetes API" in body["error"]


def test_gpu_status_in_the_seed_shape_or_503_without_redis():
    view = gpustatus.cluster_view([gpustatus.node_view("gpu-a", {
        "devices": [{"index": 0, "name": "NVIDIA L4", "memoryTotalMiB": 22528,
                     "memoryFreeMiB": 20000, "utilizationPercent": 5, "nvencSupported": True}]})])
    app, _ = build(gpu=StubGpu(view))
    [(status, _, _, body)] = asyncio.run(serve_and_get(app, "/api/v1/system/gpu/status"))
    assert status == 200
    assert body["available"] and body["nvenc_supported"] and body["device_count"] == 1
    assert body["devices"][0]["memory_used_mb"] == 2528
    app, _ = build(gpu=StubGpu(None))
    [(status, _, _, body)] = asyncio.run(serve_and_get(app, "/api/v1/system/gpu/status"))
    assert status == 503 and "unavailable" in body["error"]
    app, _ = build(gpu=None)
    [(status, _, _, body)] = asyncio.run(serve_and_get(app, "/api/v1/system/gpu/status"))
    assert status == 503 and "not configured" in body["error"]


def test_healthz_and_metrics():
    app, _ = build()
    app[httpapi.DEPS_KEY].metrics.lock_waits.inc()
    health, scrape = asyncio.run(serve_and_get(app, "/healthz", "/metrics"))
    assert health[0] == 200 and health[3] == {"status": "ok", "redis": "disabled"}
    assert scrape[0] == 200 and scrape[1].startswith("text/plain")
    assert "transcoder_lock_waits_total 1.0" in scrape[2]
    assert 'transcoder_jobs{phase="Pending"} 0.0' in scrape[2]


def test_an_unknown_job_costs_one_api_read_per_miss_ttl():
    clock = clocks.ManualClock()
    job_cache = cache.JobStatusCache(None, miss_ttl=5, clock=clock)  # no Redis: misses in memory
    calls = []

    async def loader(namespace, name):
        calls.append((namespace, name))
        return httpapi.job_view(JOB) if name == "trailer-720p" else None

    def get(*paths):
        app = httpapi.build_app(job_loader=loader, metrics=metrics.Metrics(), job_cache=job_cache)
        return [r[0] for r in asyncio.run(serve_and_get(app, *paths))]

    assert get(*["/api/v1/jobs/media/nope"] * 20) == [404] * 20
    assert calls == [("media", "nope")]
    assert get("/api/v1/jobs/media/other") == [404]  # each name is its own miss
    asyncio.run(clock.advance(5))
    assert get("/api/v1/jobs/media/nope", "/api/v1/jobs/media/nope") == [404, 404]
    assert calls.count(("media", "nope")) == 2
    asyncio.run(job_cache.invalidate("media", "nope"))  # the operator wrote that job's status
    assert get("/api/v1/jobs/media/nope") == [404] and calls.count(("media", "nope")) == 3
    assert get(*["/api/v1/jobs/media/trailer-720p"] * 2) == [200, 200]  # found jobs: Redis's job
    assert calls.count(("media", "trailer-720p")) == 2
