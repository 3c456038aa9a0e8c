"""http(s) sources without HEAD: size and validator from a one-byte GET, then pinned ranges.

`transfer.Transfer.download` calls `open_source` for an http(s) source and reads
it with `Source.stream` (whole) or `Source.part` (one byte range). `open_source`
sends `GET` with `Range: bytes=0-0`, because S3 presigned GET URLs and many CDNs
refuse HEAD: a 206 answer gives the size (the `Content-Range` total) and the
validator (a strong `ETag`, else `Last-Modified`); a 200 answer means the server
ignores ranges, and that very response is streamed whole; a 416 naming
`bytes */0` is an empty source. Every part carries `If-Range: <validator>`, so a
server whose object changed answers 200 with the new version instead of a
part: that, a part with another ETag, or a part at another offset raises
`errors.SourceChanged`, and two versions are never spliced. Without a validator
the source is read with one plain GET. Reads go through `stall.Watch`; errors
name the redacted URL only (no userinfo, no query).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from transcode_api import urls
from transcode_runner.domain import errors
from transcode_runner.io import stall

CHUNK = 1024 * 1024
Open = Callable[..., Any]
_CONTENT_RANGE = re.compile(r"^bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)$")


@dataclass
class Source:
    """What the one-byte probe learned about an http(s) source."""

    url: str
    size: int | None
    """Total bytes; None: read it whole with `stream` (no ranges, or nothing to pin them to)."""
    validator: str | None = None
    """The `If-Range` value: a strong ETag, else Last-Modified."""
    etag: str | None = None
    first: Any = None
    """The probe's own 200 response, streamed whole (the server ignored the range)."""

    def stream(self, urlopen: Open, timeout: float, watch: stall.Watch) -> Iterator[bytes]:
        """The whole source from one response (the probe's, else a plain GET)."""
        response, self.first = self.first, None
        if response is None:
            response = _open(urlopen, urllib.request.Request(self.url), timeout, self.url)
        with response:
            yield from _read(response, watch, self.url)

    def part(self, urlopen: Open, timeout: float, watch: stall.Watch, start: int, end: int
             ) -> Iterator[bytes]:
        """Bytes [start, end] of the version the probe saw, or `errors.SourceChanged`."""
        headers = {"Range": f"bytes={start}-{end}"}
        if self.validator:
            headers["If-Range"] = self.validator
        request = urllib.request.Request(self.url, headers=headers)
        with _open(urlopen, request, timeout, self.url) as response:
            self._check_part(response, start, end)
            yield from _read(response, watch, self.url)

    def _check_part(self, response: Any, start: int, end: int) -> None:
        safe = urls.redact(self.url)
        if response.status == 200:
            raise errors.SourceChanged(
                f"source {safe} changed during the download (If-Range {self.validator} no "
                "longer matches); not splicing two versions")
        if response.status != 206:
            raise errors.Transient(f"source {safe}: HTTP {response.status} to a byte range")
        etag = response.headers.get("ETag")
        if self.etag and etag and etag != self.etag:
            raise errors.SourceChanged(
                f"source {safe} changed during the download (ETag {self.etag} became {etag})")
        span = parse_content_range(response.headers.get("Content-Range"))
        if span is None or span[0] != start or span[1] != end or span[2] != self.size:
            raise errors.SourceChanged(
                f"source {safe}: asked for bytes {start}-{end}/{self.size}, got "
                f"{response.headers.get('Content-Range')!r}")


def open_source(urlopen: Open, url: str, timeout: float) -> Source:
    """Probe `url` with a one-byte ranged GET (no HEAD) and say how to read it."""
    request = urllib.request.Request(url, headers={"Range": "bytes=0-0"})
    try:
        response = urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        span = parse_content_range(exc.headers.get("Content-Range") if exc.headers else None)
        if exc.code == 416 and span is not None and span[2] == 0:
            return Source(url, 0)
        raise error(exc, url) from exc
    except errors.RunnerError:
        raise
    except Exception as exc:
        raise error(exc, url) from exc
    if response.status != 206:  # the server ignores ranges: stream this very answer
        return Source(url, None, first=response)
    with response:
        span = parse_content_range(response.headers.get("Content-Range"))
        etag = response.headers.get("ETag") or None
        strong = etag if etag and not etag.startswith("W/") else None
        validator = strong or response.headers.get("Last-Modified") or None
    if span is None or span[2] is None or validator is None:
        return Source(url, None)  # nothing to pin the parts to: one plain GET
    return Source(url, span[2], validator, strong)


def parse_content_range(value: str | None) -> tuple[int | None, int | None, int | None] | None:
    """`bytes 0-0/1234` -> (0, 0, 1234); `bytes */0` -> (None, None, 0); else None."""
    match = _CONTENT_RANGE.match((value or "").strip())
    if match is None:
        return None
    first, last, total = match.groups()
    return (int(first) if first else None, int(last) if last else None,
            int(total) if total != "*" else None)


def _open(urlopen: Open, request: urllib.request.Request, timeout: float, url: str) -> Any:
    try:
        return urlopen(request, timeout=timeout)
    except errors.RunnerError:
        raise
    except Exception as exc:
        raise error(exc, url) from exc


def _read(response: Any, watch: stall.Watch, url: str) -> Iterator[bytes]:
    read1 = getattr(response, "read1", None)
    read = (lambda: read1(CHUNK)) if callable(read1) else (lambda: response.read(CHUNK))
    try:
        yield from watch.chunks(response, read)
    except errors.RunnerError:
        raise
    except Exception as exc:
        raise error(exc, url) from exc


def error(exc: BaseException, url: str) -> errors.RunnerError:
    """Classify a failed request: 401/403/404/410 bad input, a timeout a stall, the rest transient."""
    safe = urls.redact(url)  # no userinfo, no signed tokens
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code in (401, 403, 404, 410):
            return errors.BadInput(f"source {safe}: HTTP {exc.code}")
        return errors.Transient(f"source {safe}: HTTP {exc.code}")
    if isinstance(exc, TimeoutError):
        return errors.SourceStalled(f"source {safe}: no answer within the socket timeout")
    return errors.Transient(f"source {safe}: {type(exc).__name__}: {errors.one_line(str(exc))}")
