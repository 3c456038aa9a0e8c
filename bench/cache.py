"""Benchmark: job status reads through the Redis cache vs straight from the API server,
and status patches per job with and without the progress relay.

Run it against any cluster that has a TranscodeJob (the local control plane of
dev/cluster works):

    .venv/bin/python bench/cache.py --kubeconfig ~/.kube/config --job media/trailer-720p

It serves the operator's HTTP API twice on loopback: once with the job status
cache (Redis from --redis-url, or a throwaway Debian redis-server it starts
itself) and once with no cache, both loading the job from the real API server
and both without the access guard (auth and rate limits would time TokenReviews
and 429s, not the cache);
then it times GET /api/v1/jobs/{namespace}/{name} sequentially on each and prints
p50/p99 and their ratio (the seed claims 25-33x for cached reads). Second, it
replays a job's FFmpeg progress stream (one update per 0.5 s for --job-minutes)
through the relay on a manual clock and prints the patches sent with and without
it. Nothing here is asserted; tests never depend on timings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
for src in ("api/src", "operator/src"):
    if str(ROOT / src) not in sys.path:
        sys.path.insert(0, str(ROOT / src))

from transcode_api import constants  # noqa: E402
from transcode_operator.adapters import (  # noqa: E402
    cache,
    clocks,
    httpapi,
    metrics,
    redis_relay,
    redisconn,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"),
                        help="kubeconfig of the cluster (default: $KUBECONFIG)")
    parser.add_argument("--job", required=True, help="the TranscodeJob as namespace/name")
    parser.add_argument("--redis-url", help="Redis to cache in (default: start redis-server)")
    parser.add_argument("--requests", type=int, default=1000, help="timed GETs per variant")
    parser.add_argument("--warmup", type=int, default=50, help="untimed GETs per variant")
    parser.add_argument("--job-minutes", type=float, default=10.0,
                        help="length of the replayed job for the relay comparison")
    return parser.parse_args(argv)


@contextlib.contextmanager
def local_redis() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port (no persistence)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="kt-bench-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def api_loader(kubeconfig: str | None) -> httpapi.JobLoader:
    """What the operator injects: read the TranscodeJob from the API server."""
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    from kubernetes.client.exceptions import ApiException

    api_client = k8s_config.new_client_from_config(config_file=kubeconfig)
    objects = k8s.CustomObjectsApi(api_client)

    def read(namespace: str, name: str) -> dict | None:
        try:
            body = objects.get_namespaced_custom_object(
                constants.GROUP, constants.VERSION, namespace, constants.PLURAL, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return httpapi.job_view(body)

    async def load(namespace: str, name: str) -> dict | None:
        return await asyncio.to_thread(read, namespace, name)

    return load


async def time_gets(url: str, requests: int, warmup: int) -> list[float]:
    """Sequential GETs of `url`; returns the timed latencies in milliseconds."""
    latencies = []
    async with aiohttp.ClientSession() as session:
        for n in range(warmup + requests):
            started = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"GET {url} answered {response.status}")
            if n >= warmup:
                latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def bench_reads(args: argparse.Namespace, redis_url: str) -> None:
    namespace, _, name = args.job.partition("/")
    loader = api_loader(args.kubeconfig)
    client = redisconn.make_client(redis_url)
    m = metrics.Metrics()
    direct_app = httpapi.build_app(job_loader=loader, metrics=m)
    cached_app = httpapi.build_app(
        job_loader=loader, metrics=m, job_cache=cache.JobStatusCache(client, metrics=m))
    direct = await httpapi.start(direct_app, "127.0.0.1", 0)
    cached = await httpapi.start(cached_app, "127.0.0.1", 0)
    path = f"/api/v1/jobs/{namespace}/{name}"
    try:
        results = {}
        for label, server in (("API server", direct), ("Redis cache", cached)):
            url = f"http://127.0.0.1:{server.port}{path}"
            results[label] = await time_gets(url, args.requests, args.warmup)
    finally:
        await direct.stop()
        await cached.stop()
        await client.aclose()
    print(f"GET {path}: {args.requests} sequential requests after {args.warmup} warm-up")
    print(f"{'source':<12} {'p50 ms':>9} {'p99 ms':>9}")
    for label, values in results.items():
        print(f"{label:<12} {percentile(values, 50):>9.3f} {percentile(values, 99):>9.3f}")
    slow, fast = results["API server"], results["Redis cache"]
    print(f"ratio p50 {percentile(slow, 50) / percentile(fast, 50):.1f}x, "
          f"p99 {percentile(slow, 99) / percentile(fast, 99):.1f}x (seed claims 25-33x)")
    hits = m.registry.get_sample_value("transcoder_cache_hits_total", {"cache": "job_status"})
    print(f"cache hits {hits:.0f}")


async def bench_relay(minutes: float) -> None:
    """Patches for one job whose runner reports every 0.5 s, with and without the relay."""
    clock = clocks.ManualClock()
    sent = []

    async def patch(namespace: str, name: str, progress: dict) -> None:
        sent.append(progress)

    relay = redis_relay.ProgressRelay(None, patch, clock=clock, interval=5.0)
    relay.track("bench", "job")
    updates = int(minutes * 60 / 0.5)
    for n in range(1, updates + 1):
        await relay.offer("bench", "job", {"percent": round(100 * n / updates, 3)})
        await relay.tick()
        await clock.advance(0.5)
    await relay.flush("bench", "job", read=False)
    print(f"status patches for a {minutes:g} min job reporting every 0.5 s: "
          f"without relay {updates}, with relay {len(sent)} "
          f"(ratio {updates / len(sent):.1f}x); last value {sent[-1]['percent']}%")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    asyncio.run(bench_relay(args.job_minutes))
    if args.redis_url:
        asyncio.run(bench_reads(args, args.redis_url))
    else:
        with local_redis() as url:
            asyncio.run(bench_reads(args, url))


if __name__ == "__main__":
    main()
