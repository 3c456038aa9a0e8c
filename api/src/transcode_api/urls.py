"""URL hygiene shared by both processes: redaction, canonical object names, admission rules.

Every tenant URL is hostile, so nothing here echoes a URL's userinfo or query.
`redact(url)` is what the operator and the runner put into a log line, a
condition, an Event or a termination message instead of the raw URL.
`canonical_object(endpoint, bucket, key)` (and `canonical_destination` for an
`s3://bucket/key` string) name one S3 object the same way however the URL is
spelled; the operator's output locks key on it. `endpoint_host` and
`is_aws_s3_host` are what the operator's endpoint allowlist matches (AWS S3's
host names are spelled once, in `AWS_S3_HOST`). The paired admission rules
(`SOURCE_RULES`, `ENDPOINT_RULES`, `DESTINATION_RULES`) refuse credentials in
URLs and the `?`, `#` and `//` spellings of a destination; `transcode_api.spec`
and `transcode_api.output` list them in their models' `__rules__`. Pure: no
sockets, no DNS.
"""

from __future__ import annotations

import re
import urllib.parse

from transcode_api import base

_USERINFO = "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@"
_EMPTY_SEGMENT = "^[a-z0-9]+://.*//"
_DEFAULT_PORTS = {"http": 80, "https": 443}
AWS_ENDPOINT = "s3.amazonaws.com:443"
"""The canonical endpoint of a job that names none (AWS S3: bucket names are global)."""
_AWS_REGION = r"[a-z]{2}(-[a-z]+)+-[0-9]+"
AWS_S3_HOST = re.compile(
    rf"^s3(-fips)?(\.dualstack)?(\.{_AWS_REGION})?\.amazonaws\.com(\.cn)?$"
    rf"|^s3-({_AWS_REGION}|external-1)\.amazonaws\.com$")
"""AWS S3 service hosts: `s3.amazonaws.com`, `s3.<region>.amazonaws.com`, their
`-fips` and `.dualstack` variants, China's `.amazonaws.com.cn` and the legacy
`s3-<region>.amazonaws.com`. Bucket-style hosts (`bucket.s3...`) are not endpoints."""


def _has_userinfo(url: str | None) -> bool:
    return bool(url) and re.match(_USERINFO, str(url)) is not None


def _bad_destination(url: str) -> bool:
    return re.search("[?#]", url) is not None or re.match(_EMPTY_SEGMENT, url) is not None


def redact(url: str) -> str:
    """`url` without userinfo, query and fragment (`https://u:p@h/a?sig=x` -> `https://h/a`).

    A string that is not a URL (a local path) comes back unchanged; one that
    cannot be parsed comes back as `<unparseable URL>`.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme or not parts.netloc:
        return url.split("?", 1)[0].split("#", 1)[0]
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def canonical_endpoint(endpoint: str | None) -> str:
    """`host:port` of an S3 endpoint, lowercased, userinfo dropped; None means AWS S3."""
    if not endpoint or not endpoint.strip():
        return AWS_ENDPOINT
    parts = urllib.parse.urlsplit(endpoint.strip())
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 443)
    except ValueError:
        port = 0
    path = parts.path.rstrip("/")
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}{path}"


def endpoint_host(endpoint: str | None) -> str | None:
    """The lowercased host of an endpoint URL (IPv6 without brackets, no trailing dot);
    None for a job that names no endpoint (AWS S3), "" when the URL has no host."""
    if endpoint is None or not endpoint.strip():
        return None
    try:
        host = urllib.parse.urlsplit(endpoint.strip()).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".").lower()


def is_aws_s3_host(host: str | None) -> bool:
    """True for AWS S3 (None: no endpoint named) and its service hosts (`AWS_S3_HOST`)."""
    return host is None or AWS_S3_HOST.match(host) is not None


def canonical_object(endpoint: str | None, bucket: str, key: str) -> str:
    """One name per S3 object: `host:port/bucket/key`, empty key segments collapsed.

    Collapsing `a//b` to `a/b` can only make two different keys share a name
    (a lock held too widely), never give one object two names.
    """
    clean_key = "/".join(segment for segment in key.split("/") if segment)
    return f"{canonical_endpoint(endpoint)}/{bucket.strip().lower()}/{clean_key}"


def canonical_destination(endpoint: str | None, destination: str) -> str:
    """`canonical_object` of an `s3://bucket/key` URL (query and fragment dropped, as the runner reads it)."""
    parts = urllib.parse.urlsplit(destination.strip())
    return canonical_object(endpoint, parts.netloc.rpartition("@")[2], parts.path)


NO_USERINFO = "must not carry credentials (user:password@) in the URL; use storage.credentialsSecretRef"

SOURCE_RULES = (
    base.Rule(
        cel=f"!self.source.matches('{_USERINFO}')",
        message=f"source {NO_USERINFO}",
        field="source",
        check=lambda s: not _has_userinfo(s.source),
    ),
)
ENDPOINT_RULES = (
    base.Rule(
        cel=f"!has(self.endpoint) || !self.endpoint.matches('{_USERINFO}')",
        message=f"endpoint {NO_USERINFO}",
        field="endpoint",
        check=lambda s: not _has_userinfo(s.endpoint),
    ),
)
DESTINATION_RULES = (
    base.Rule(
        cel=f"!self.destination.matches('[?#]') && !self.destination.matches('{_EMPTY_SEGMENT}')",
        message="destination must not contain '?', '#' or an empty path segment ('//')",
        field="destination",
        check=lambda o: not _bad_destination(o.destination),
    ),
)
