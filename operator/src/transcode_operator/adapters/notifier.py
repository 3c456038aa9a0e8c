"""POST one CloudEvent to a sink over HTTP(S): the SSRF guard, a timeout, and what the answer means.

`app.context.start` builds one `Notifier` from the `notifications` settings and
`control.notify` awaits `send(url, headers, body)` for each delivery of a plan.
It resolves the sink's host and refuses it (a permanent `Outcome` naming the host
and the range) when any address is loopback, link-local, private or otherwise
not public, unless `notifications.networkAllow` lists it: the runner's rule,
`transcode_api.netrules`. It then connects to the checked address only (TLS
still verifies the certificate for the host name, and `Host` is the URL's), follows
no redirect, and bounds the exchange by `notifications.timeoutSeconds`. A 2xx answer
is delivered; 429 and 5xx are retried (their `Retry-After` seconds read); a 3xx or
any other 4xx is permanent; a refused or reset connection, a timeout or a host that
does not resolve is retried. Errors name the host, the port and what happened,
never the URL's path or query nor the sink's body. `resolve` (getaddrinfo) and
`post` (one HTTP exchange with a pinned address) are the seams the unit tests inject.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import abc as aiohttp_abc

from transcode_api import netrules, urls
from transcode_operator.domain import notifications
from transcode_operator.domain import settings as settings_module

logger = logging.getLogger(__name__)
Resolve = Callable[[str, int], Awaitable[list[str]]]


@dataclass(frozen=True)
class Answer:
    """The sink's answer: status code, reason phrase, Retry-After header (or None)."""

    status: int
    reason: str = ""
    retry_after: str | None = None


Post = Callable[[str, str, Mapping[str, str], bytes, float], Awaitable[Answer]]
"""(url, the checked address to connect to, headers, body, timeout) -> the answer."""


async def getaddrinfo(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _Pinned(aiohttp_abc.AbstractResolver):
    """aiohttp's resolver answering the one address the guard checked."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[aiohttp_abc.ResolveResult]:
        fam = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        return [{"hostname": host, "host": self.address, "port": port, "family": fam,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        return None


async def aiohttp_post(url: str, address: str, headers: Mapping[str, str], body: bytes,
                       timeout: float) -> Answer:
    connector = aiohttp.TCPConnector(resolver=_Pinned(address), force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(url, data=body, headers=dict(headers), allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            await response.content.read(65536)  # drained a little, never kept
            return Answer(response.status, response.reason or "",
                          response.headers.get("Retry-After"))


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the backoff decides
    return seconds if seconds is not None and 0 <= seconds < 1e7 else None


def _printable(text: str, limit: int = 64) -> str:
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean[:limit]


def outcome_of(answer: Answer, where: str) -> notifications.Outcome:
    """What an HTTP answer means for the event (see the module docstring)."""
    words = f"{where} answered HTTP {answer.status}"
    if answer.reason:
        words += f" {_printable(answer.reason)}"
    if 200 <= answer.status < 300:
        return notifications.Outcome(True)
    if 300 <= answer.status < 400:
        return notifications.Outcome(False, f"{words} (redirects are not followed)", permanent=True)
    if answer.status == 429 or answer.status >= 500:
        return notifications.Outcome(False, words, retry_after=_retry_after(answer.retry_after))
    if 400 <= answer.status < 500:
        return notifications.Outcome(False, f"{words} (a 4xx other than 429)", permanent=True)
    return notifications.Outcome(False, words)


class Notifier:
    """Sends CloudEvents to sinks the SSRF rule allows."""

    def __init__(self, cfg: settings_module.NotifySettings, *, resolve: Resolve = getaddrinfo,
                 post: Post = aiohttp_post) -> None:
        self.rules = netrules.policy(cfg.network_allow)
        self.timeout = cfg.timeout_seconds
        self._resolve = resolve
        self._post = post

    async def send(self, url: str, headers: Mapping[str, str], body: bytes) -> notifications.Outcome:
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return notifications.Outcome(False, f"sink {urls.redact(url)} has no valid port",
                                         permanent=True)
        if parts.scheme not in ("http", "https") or not host or "@" in parts.netloc:
            return notifications.Outcome(False, f"sink {urls.redact(url)} is not an http(s) URL "
                                         "without credentials", permanent=True)
        where = f"sink {host}:{port}"
        try:
            addresses = await asyncio.wait_for(self._resolve(host, port), self.timeout)
        except (OSError, UnicodeError, TimeoutError):
            return notifications.Outcome(False, f"sink host {host} cannot be resolved")
        for address in addresses:
            why = netrules.refusal(self.rules, host, address)
            if why is not None:
                shown = host if host == address else f"{host} ({address})"
                return notifications.Outcome(
                    False, f"sink host {shown} is a {why}; the operator does not send there "
                    "unless notifications.networkAllow lists it", permanent=True)
        if not addresses:
            return notifications.Outcome(False, f"sink host {host} has no address")
        try:
            answer = await self._post(url, addresses[0], headers, body, self.timeout)
        except TimeoutError:
            return notifications.Outcome(False, f"{where} did not answer within {self.timeout:g}s")
        except aiohttp.ClientConnectorError as exc:
            return notifications.Outcome(False, f"cannot connect to {where}: {_os_words(exc)}")
        except (aiohttp.ClientError, OSError) as exc:
            return notifications.Outcome(False, f"{where}: {type(exc).__name__}")
        return outcome_of(answer, where)


def _os_words(exc: aiohttp.ClientConnectorError) -> str:
    """`Connection refused` and the like: the errno's words, never the exception's text."""
    error: Any = exc.os_error
    number = getattr(error, "errno", None)
    return os.strerror(number) if isinstance(number, int) and number > 0 else type(error).__name__
