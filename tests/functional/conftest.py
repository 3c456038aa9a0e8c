"""functional tier: tests against real local servers, without Kubernetes.

The session fixtures come from `dev.services.fixtures` (loaded by
tests/conftest.py): `s3_server` (versitygw, an S3-compatible server built from
pinned Go modules), `bucket` (a fresh bucket in it), `redis_server` (Debian's
redis-server) and `redis_url` (a fresh database on it). FFmpeg is Debian's.
Tests here start in seconds once the servers are up and never need a GPU.
"""
