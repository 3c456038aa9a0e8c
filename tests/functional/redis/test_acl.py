"""The production ACL users on a real redis-server: what a tenant holding the runner password
can and cannot do, the operator's helpers logged in as `operator`, and a running set that
Redis lost (FLUSHALL) counted again before a new start is admitted.

`redis_acl_server` (dev.services.fixtures) loads `transcode_api.redisacl.render(...)` with
fresh passwords and `maxmemory-policy noeviction`; the test-only `admin` user flushes.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import redis
from redis import exceptions as redis_errors

from dev.services import redisserver
from transcode_api import contract
from transcode_operator.adapters import limits, locks, redis_relay, redisconn

POD = "5f0c7a6e-3b1d-4c2a-9e8f-0123456789ab"


def login(server: redisserver.RedisServer, user: str) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=server.port, username=user,
                       password=server.password(user), decode_responses=True)


def test_the_runner_user_writes_progress_only(redis_acl_server: redisserver.RedisServer) -> None:
    operator, runner = login(redis_acl_server, "operator"), login(redis_acl_server, "runner")
    operator.set("kt:lock:output:s3://media-out/a.mp4", "held-by-a", ex=60)
    operator.zadd("kt:limit:other-team:running", {"uid-a": 1})
    key = contract.progress_key("media", "trailer", POD)
    assert runner.set(key, json.dumps({"percent": 5}), ex=contract.PROGRESS_TTL_SECONDS)
    assert runner.publish(contract.PROGRESS_CHANNEL, key) >= 0
    forbidden = [
        lambda: runner.set("kt:lock:output:s3://media-out/a.mp4", "mine"),  # steal a lock
        lambda: runner.delete("kt:limit:other-team:running"),  # free another tenant's slots
        lambda: runner.zrem("kt:limit:other-team:running", "uid-a"),
        lambda: runner.set("kt:cache:job:media/trailer", "{}"),  # poison the status cache
        lambda: runner.set(contract.gpu_key("gpu-node-1"), "{}"),  # fake a node's GPUs
        lambda: runner.get(key),  # read progress (another tenant's, too)
        lambda: runner.keys("kt:*"),
        lambda: runner.publish("kt:other", "x"),
        lambda: runner.flushall(),
    ]
    for attempt in forbidden:
        with pytest.raises(redis_errors.NoPermissionError):
            attempt()
    assert operator.get("kt:lock:output:s3://media-out/a.mp4") == "held-by-a"
    assert operator.zrange("kt:limit:other-team:running", 0, -1) == ["uid-a"]


def test_probe_writes_gpu_keys_only_and_nobody_gets_in_without_a_password(
        redis_acl_server: redisserver.RedisServer) -> None:
    probe = login(redis_acl_server, "probe")
    assert probe.set(contract.gpu_key("gpu-node-1"), "{}", ex=30)
    with pytest.raises(redis_errors.NoPermissionError):
        probe.set(contract.progress_key("media", "trailer", POD), "{}")
    with pytest.raises(redis_errors.NoPermissionError):
        probe.delete("kt:limit:media:running")
    anonymous = redis.Redis(host="127.0.0.1", port=redis_acl_server.port)
    with pytest.raises(redis_errors.AuthenticationError):
        anonymous.get("kt:lock:output:x")
    wrong = redis.Redis(host="127.0.0.1", port=redis_acl_server.port, username="runner",
                        password="guessed")
    with pytest.raises(redis_errors.AuthenticationError):
        wrong.ping()
    operator = login(redis_acl_server, "operator")
    with pytest.raises(redis_errors.NoPermissionError):
        operator.set("not-ours", "1")  # the operator user is confined to kt:*
    with pytest.raises(redis_errors.NoPermissionError):
        operator.flushall()
    with pytest.raises(redis_errors.NoPermissionError):
        operator.config_set("maxmemory-policy", "allkeys-lru")
    admin = redis_acl_server.client()
    assert admin.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}


def test_the_operators_locks_limits_and_relay_work_as_the_operator_user(
        redis_acl_server: redisserver.RedisServer, patches, poll) -> None:
    url = redis_acl_server.url
    password = redis_acl_server.password("operator")

    async def scenario():
        client = redisconn.make_client(url, username="operator", password=password)
        runner = login(redis_acl_server, "runner")
        try:
            held = locks.OutputLocks(client)
            owner = locks.LockOwner("uid-acl", "media/acl")
            assert (await held.acquire(["s3://media-out/acl.mp4"], owner)).acquired
            capped = limits.NamespaceLimiter(client, limits.LimitPolicy(max_running=1))
            assert (await capped.acquire("acl-ns", "uid-1")).allowed
            assert not (await capped.acquire("acl-ns", "uid-2")).allowed
            relay = redis_relay.ProgressRelay(client, patches, interval=0.2, tick_interval=0.05)
            relay.track("media", "acl", POD)
            task = asyncio.create_task(relay.run())
            try:
                async def relayed():
                    key = contract.progress_key("media", "acl", POD)
                    runner.set(key, json.dumps({"percent": 33}), ex=60)
                    runner.publish(contract.PROGRESS_CHANNEL, key)
                    return patches.percents("acl") == [33]
                await poll(relayed, timeout=10, step=0.1)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            await held.release(["s3://media-out/acl.mp4"], owner)
            await capped.release("acl-ns", "uid-1")
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_after_flushall_the_cap_counts_the_live_jobs_before_admitting_a_start(
        redis_acl_server: redisserver.RedisServer) -> None:
    url, password = redis_acl_server.url, redis_acl_server.password("operator")
    asked: list[int] = []
    pods: set[str] = set()  # the jobs whose runner Pod the API server lists as live

    async def live() -> set[str]:
        asked.append(1)
        return set(pods)

    async def scenario():
        client = redisconn.make_client(url, username="operator", password=password)
        try:
            capped = limits.NamespaceLimiter(client, limits.LimitPolicy(max_running=2))
            first = [await capped.acquire("flush-ns", uid, live) for uid in ("uid-run-1",
                                                                             "uid-run-2")]
            pods.update({"uid-run-1", "uid-run-2"})  # their Pods run
            redis_acl_server.client().flushall()  # Redis loses everything
            after = await capped.acquire("flush-ns", "uid-new", live)
            running = sorted(await capped.running("flush-ns"))
            resumed = await capped.acquire("flush-ns", "uid-run-1", live)  # a running job asks
            await capped.release("flush-ns", "uid-run-1")
            freed = await capped.acquire("flush-ns", "uid-new", live)
        finally:
            await client.aclose()
        return first, after, running, resumed, freed

    first, after, running, resumed, freed = asyncio.run(scenario())
    assert len(asked) == 2, "live jobs are listed only when the running set is missing"
    assert [d.reason for d in first] == ["Allowed", "Allowed"]
    assert not after.allowed and after.reason == limits.REASON_CONCURRENCY
    assert running == ["uid-run-1", "uid-run-2"]
    assert resumed.allowed and resumed.reason == limits.REASON_ALREADY_COUNTED
    assert freed.allowed
