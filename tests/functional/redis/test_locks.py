"""Output locks against real Redis: all or nothing, one winner among racers, expiry,
renewal, and a compare-and-delete release that never frees someone else's lock."""

from __future__ import annotations

import asyncio

from tests.functional.redis import lockview
from transcode_operator.adapters import locks, metrics, redisconn

A = locks.LockOwner(token="uid-a", holder="media/job-a")
B = locks.LockOwner(token="uid-b", holder="media/job-b")
OUT_720 = "s3://media-out/trailer/720p.mp4"
OUT_480 = "s3://media-out/trailer/480p.mp4"


def test_all_or_nothing_and_who_holds_it(redis_url):
    m = metrics.Metrics()

    async def scenario():
        client = redisconn.make_client(redis_url)
        try:
            output = locks.OutputLocks(client, metrics=m)
            assert (await output.acquire([OUT_720], A)).acquired
            denied = await output.acquire([OUT_480, OUT_720], B)
            holders = await lockview.holders(client, [OUT_480, OUT_720])
            again = await output.acquire([OUT_720, OUT_720], A)  # same owner: fine
            ttl = await client.pttl(output.key(OUT_720))
            assert await output.release([OUT_720], A) == 1
            after = await output.acquire([OUT_480, OUT_720], B)
        finally:
            await client.aclose()
        return denied, holders, again, ttl, after

    denied, holders, again, ttl, after = asyncio.run(scenario())
    assert not denied.acquired
    assert denied.held_by == {OUT_720: A}
    assert holders == {OUT_720: A}  # 480p was not taken by the refused job
    assert again.acquired
    assert 110_000 < ttl <= 120_000
    assert after.acquired
    assert m.registry.get_sample_value("transcoder_lock_waits_total") == 1


def test_one_winner_among_twenty_racing_jobs(redis_url):
    async def scenario():
        clients = [redisconn.make_client(redis_url) for _ in range(4)]
        try:
            owners = [locks.LockOwner(f"uid-{n}", f"media/job-{n}") for n in range(20)]
            results = await asyncio.gather(*(
                locks.OutputLocks(clients[n % 4]).acquire([OUT_720, OUT_480], owner)
                for n, owner in enumerate(owners)))
            holders = await lockview.holders(clients[0], [OUT_720, OUT_480])
        finally:
            for c in clients:
                await c.aclose()
        return owners, results, holders

    owners, results, holders = asyncio.run(scenario())
    winners = [owner for owner, result in zip(owners, results, strict=True) if result.acquired]
    assert len(winners) == 1
    assert holders == {OUT_720: winners[0], OUT_480: winners[0]}
    assert all(r.held_by for r in results if not r.acquired)


def test_expiry_and_compare_and_delete_release(redis_url, poll):
    async def scenario():
        client = redisconn.make_client(redis_url)
        try:
            output = locks.OutputLocks(client, ttl=0.3)
            assert (await output.acquire([OUT_720], A)).acquired

            async def b_gets_it():
                return (await output.acquire([OUT_720], B)).acquired

            await poll(b_gets_it, timeout=5)  # A's operator died: its lock expired
            released = await output.release([OUT_720], A)  # A comes back late
            lost = await output.renew([OUT_720], A)
            holders = await lockview.holders(client, [OUT_720])
        finally:
            await client.aclose()
        return released, lost, holders

    released, lost, holders = asyncio.run(scenario())
    assert released == 0
    assert lost == [OUT_720]
    assert holders == {OUT_720: B}


def test_keep_alive_renews_held_locks_past_their_ttl(redis_url, poll):
    async def scenario():
        client = redisconn.make_client(redis_url)
        try:
            output = locks.OutputLocks(client, ttl=0.6)
            other = locks.OutputLocks(client, ttl=0.6)
            assert (await output.acquire([OUT_720, OUT_480], A)).acquired
            renewer = asyncio.create_task(output.keep_alive())
            refusals = 0
            loop = asyncio.get_running_loop()
            until = loop.time() + 1.8  # three TTLs
            while loop.time() < until:
                assert not (await other.acquire([OUT_480], B)).acquired
                refusals += 1
                await asyncio.sleep(0.05)
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)

            async def b_gets_it():
                return (await other.acquire([OUT_480], B)).acquired

            await poll(b_gets_it, timeout=5)
        finally:
            await client.aclose()
        return refusals

    assert asyncio.run(scenario()) > 10
