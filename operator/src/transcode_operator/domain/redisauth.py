"""Redis credentials: what the operator logs in with, what a runner Pod is handed, masking.

`app.context.start` calls `operator_login(cfg.redis)` once for the operator's
own user and password (the setting, else the password file); `redisconn.connect`
logs the URL only through `redact`. `domain.builders.env` adds `runner_env(cfg.redis)`
to every runner Pod: the URL without its userinfo (the operator's own credentials
never reach a tenant namespace), the runner ACL user and its password as literal
values (a secretKeyRef cannot reach the operator's namespace; the password only
lets a Pod write progress keys), and the Pod's own uid through the downward API,
which the runner puts in its progress key so the relay can tell its own Pod from
a forger. Pure functions; reading the password file is the only I/O.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from transcode_api import contract
from transcode_operator.domain.settings import redis as redis_settings

MASK = "***"


def _split(url: str) -> urllib.parse.SplitResult | None:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    return parts


def _host(parts: urllib.parse.SplitResult) -> str:
    return parts.netloc.rpartition("@")[2]


def strip_userinfo(url: str) -> str:
    """`url` without `user:password@` (a URL that cannot be parsed is returned as "")."""
    parts = _split(url)
    if parts is None:
        return ""
    return urllib.parse.urlunsplit(parts._replace(netloc=_host(parts)))


def redact(url: str | None) -> str:
    """`url` fit for a log line: the password (and any query) replaced by ***."""
    if not url:
        return ""
    parts = _split(url)
    if parts is None:
        return MASK
    netloc = _host(parts)
    if parts.username is not None or parts.password is not None:
        user = parts.username or ""
        netloc = f"{user}:{MASK}@{netloc}" if parts.password is not None else f"{user}@{netloc}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=MASK if parts.query
                                                  else ""))


def operator_login(cfg: redis_settings.RedisSettings) -> tuple[str | None, str | None]:
    """(username, password) the operator logs in with; (None, None) leaves the URL's."""
    password = cfg.password.get_secret_value() if cfg.password is not None else None
    if password is None and cfg.password_file is not None:
        password = read_password(cfg.password_file)
    return cfg.username, password


def read_password(path: Path) -> str:
    """The password in `path` (one trailing newline dropped), or a ValueError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"redis.passwordFile {path}: {exc.strerror or exc}") from None
    password = text[:-1] if text.endswith("\n") else text
    if not password:
        raise ValueError(f"redis.passwordFile {path} is empty")
    return password


def runner_env(cfg: redis_settings.RedisSettings) -> list[dict[str, Any]]:
    """The runner container's Redis environment: URL, runner login, its own Pod uid."""
    out: list[dict[str, Any]] = [
        {"name": contract.ENV_POD_UID,
         "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.uid"}}}]
    url = strip_userinfo(cfg.url) if cfg.url else ""
    if not url:
        return out
    out.append({"name": contract.ENV_REDIS_URL, "value": url})
    if cfg.runner_password is not None:
        out.append({"name": contract.ENV_REDIS_USERNAME, "value": cfg.runner_username})
        out.append({"name": contract.ENV_REDIS_PASSWORD,
                    "value": cfg.runner_password.get_secret_value()})
    return out
