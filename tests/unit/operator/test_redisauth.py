"""Redis credentials: the operator's login, what a runner Pod is handed, and masked URLs."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.unit.operator import helpers as h
from transcode_api import contract
from transcode_operator.adapters import redisconn
from transcode_operator.domain import builders, redisauth
from transcode_operator.domain import settings as settings_module

OPERATOR_PW = "op-Secret-7f3a"
RUNNER_PW = "runner-Secret-91b2"


def _env(cfg: settings_module.Settings) -> dict[str, dict[str, object]]:
    pod = builders.pod(h.JOB, h.spec(), builders.PodRequest(1, False), cfg)
    return {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}


def _cfg(**redis: object) -> settings_module.Settings:
    return settings_module.load(redis=settings_module.RedisSettings.model_validate(redis))


def test_the_runner_gets_the_url_without_userinfo_its_own_login_and_its_pod_uid() -> None:
    cfg = _cfg(url=f"redis://operator:{OPERATOR_PW}@redis.kt.svc:6379/0", runnerPassword=RUNNER_PW)
    env = _env(cfg)
    assert env[contract.ENV_REDIS_URL]["value"] == "redis://redis.kt.svc:6379/0"
    assert env[contract.ENV_REDIS_USERNAME]["value"] == "runner"
    assert env[contract.ENV_REDIS_PASSWORD]["value"] == RUNNER_PW
    assert env[contract.ENV_POD_UID]["valueFrom"] == {
        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.uid"}}
    pod = builders.pod(h.JOB, h.spec(), builders.PodRequest(1, False), cfg)
    assert OPERATOR_PW not in str(pod), "the operator's password reached a tenant's Pod"


def test_the_operator_password_setting_never_reaches_the_runner() -> None:
    env = _env(_cfg(url="redis://redis:6379/0", username="operator", password=OPERATOR_PW))
    assert OPERATOR_PW not in str(env)
    assert contract.ENV_REDIS_PASSWORD not in env and contract.ENV_REDIS_USERNAME not in env
    assert env[contract.ENV_REDIS_URL]["value"] == "redis://redis:6379/0"


def test_without_redis_the_runner_gets_only_its_pod_uid() -> None:
    env = _env(settings_module.Settings())
    assert contract.ENV_POD_UID in env and contract.ENV_REDIS_URL not in env


@pytest.mark.parametrize(("url", "shown"), [
    (f"redis://operator:{OPERATOR_PW}@redis:6379/0", "redis://operator:***@redis:6379/0"),
    (f"rediss://:{OPERATOR_PW}@redis:6380/1", "rediss://:***@redis:6380/1"),
    ("redis://operator@redis:6379/0", "redis://operator@redis:6379/0"),
    (f"redis://redis:6379/0?password={OPERATOR_PW}", "redis://redis:6379/0?***"),
    ("redis://redis:6379/0", "redis://redis:6379/0"),
    (f"redis://x:{OPERATOR_PW}@redis:port/0", "***"),  # unparseable: nothing of it shown
])
def test_urls_in_logs_never_show_a_password(url: str, shown: str) -> None:
    assert redisauth.redact(url) == shown


def test_settings_take_passwords_from_the_environment_and_never_print_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSCODER_REDIS__USERNAME", "operator")
    monkeypatch.setenv("TRANSCODER_REDIS__PASSWORD", OPERATOR_PW)
    monkeypatch.setenv("TRANSCODER_REDIS__RUNNERPASSWORD", RUNNER_PW)
    cfg = settings_module.load()
    assert redisauth.operator_login(cfg.redis) == ("operator", OPERATOR_PW)
    assert cfg.redis.runner_password is not None
    assert cfg.redis.runner_password.get_secret_value() == RUNNER_PW
    for text in (repr(cfg), str(cfg.model_dump()), cfg.model_dump_json()):
        assert OPERATOR_PW not in text and RUNNER_PW not in text


def test_the_password_file_is_read_once_and_problems_name_the_file(tmp_path: Path) -> None:
    file = tmp_path / "operator-password"
    file.write_text(OPERATOR_PW + "\n")
    assert redisauth.operator_login(_cfg(passwordFile=str(file)).redis) == (None, OPERATOR_PW)
    with pytest.raises(ValueError, match="operator-password"):
        redisauth.operator_login(
            _cfg(passwordFile=str(tmp_path / "missing") + "/operator-password").redis)
    (tmp_path / "empty").write_text("")
    with pytest.raises(ValueError, match="empty"):
        redisauth.operator_login(_cfg(passwordFile=str(tmp_path / "empty")).redis)
    with pytest.raises(ValueError, match="password or passwordFile, not both"):
        _cfg(password="x", passwordFile=str(file))


def test_an_explicit_login_replaces_the_urls_and_the_log_shows_no_password(
        caplog: pytest.LogCaptureFixture) -> None:
    client = redisconn.make_client(f"redis://old:{OPERATOR_PW}@127.0.0.1:1/0",
                                   username="operator", password="new-pw")
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"]) == ("operator", "new-pw")
    with caplog.at_level(logging.DEBUG):
        asyncio.run(redisconn.connect(f"redis://operator:{OPERATOR_PW}@127.0.0.1:1/0"))
    assert OPERATOR_PW not in caplog.text
