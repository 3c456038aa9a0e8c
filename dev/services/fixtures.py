"""Pytest plugin: real S3 and Redis servers on loopback for functional and e2e tests.

Loaded from tests/conftest.py (`pytest_plugins`). Session fixtures start each
server once, on first use, and stop it (its PID only) when the session ends:
`s3_server` is a running `S3Server` (versitygw, built on demand by
dev/cluster/s3/build.sh into the cache outside the repository) and
`redis_server` a running `RedisServer` (Debian's redis-server), and
`redis_acl_server` a second one with the production ACL users (`default` off;
tests log in as operator, runner, probe or the test-only admin). Per test,
`bucket` is a fresh bucket name in `s3_server` and `redis_url` the URL of a
fresh, empty database on `redis_server`, which is started again first if an
earlier test stopped it. A missing tool fails the test with what to install;
nothing here skips.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from dev.services import redisserver, s3server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[s3server.S3Server]:
    try:
        binary = s3server.build_binary()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    server = s3server.S3Server(binary)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_server: s3server.S3Server) -> str:
    return s3_server.make_bucket()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[redisserver.RedisServer]:
    try:
        binary = redisserver.find_binary()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    server = redisserver.RedisServer(binary)
    try:
        server.start()
        yield server
    finally:
        server.stop_and_clean()


@pytest.fixture(scope="session")
def redis_acl_server() -> Iterator[redisserver.RedisServer]:
    try:
        binary = redisserver.find_binary()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    server = redisserver.RedisServer(binary, acl=True)
    try:
        server.start()
        yield server
    finally:
        server.stop_and_clean()


_next_db = itertools.cycle(range(1, redisserver.DATABASES))


@pytest.fixture
def redis_url(redis_server: redisserver.RedisServer) -> str:
    redis_server.start()  # no-op when running; brings it back if a test stopped it
    db = next(_next_db)
    with redis_server.client(db) as client:
        client.flushdb()
    return redis_server.url_for(db)
