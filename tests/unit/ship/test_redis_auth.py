"""The chart's Redis logins: one Secret with the ACL users' passwords and the users.acl the
bundled Redis loads (the same file `transcode_api.redisacl.render` writes), passwords reaching
the operator and the GPU probe only by secretKeyRef, and Redis that never evicts a key.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.unit.ship.helmchart import Chart, find, one
from transcode_api import redisacl

SECRET = "kt-kube-transcoder-redis-auth"
GATES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "existing": {"redis": {"auth": {"existingSecret": "my-redis-auth"}}},
    "no-auth": {"redis": {"auth": {"enabled": False}}},
    "external": {"redis": {"externalUrl": "redis://redis.cache:6379/2"}},
    "external-auth": {"redis": {"externalUrl": "redis://redis.cache:6379/2",
                                "auth": {"existingSecret": "cache-logins"}}},
}


@pytest.fixture(scope="module")
def rendered(chart: Chart) -> dict[str, list[dict[str, Any]]]:
    return {gate: chart.render(values) for gate, values in GATES.items()}


def _container(objs: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    return dict(one(objs, kind, suffix)["spec"]["template"]["spec"]["containers"][0])


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _secret_ref(env: dict[str, dict[str, Any]], name: str) -> tuple[str, str]:
    ref = env[name]["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


def test_the_generated_secret_holds_every_password_and_the_same_acl_file_python_renders(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    secret = one(rendered["defaults"], "Secret", "-redis-auth")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert set(data) == {u.password_key for u in redisacl.USERS} | {redisacl.ACL_FILE_KEY}
    passwords = {u.name: data[u.password_key] for u in redisacl.USERS}
    assert all(len(p) == 32 for p in passwords.values()) and len(set(passwords.values())) == 3
    assert data[redisacl.ACL_FILE_KEY] == redisacl.render(passwords)
    assert data[redisacl.ACL_FILE_KEY].startswith("user default off ")
    for password in passwords.values():
        assert password not in data[redisacl.ACL_FILE_KEY]  # only its SHA-256
        for obj in rendered["defaults"]:
            if obj["kind"] != "Secret":
                assert password not in str(obj), f"a password in {obj['kind']} {obj['metadata']['name']}"


def test_redis_loads_the_acl_and_never_evicts(rendered: dict[str, list[dict[str, Any]]]) -> None:
    dep = one(rendered["defaults"], "Deployment", "-redis")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    args = c["args"]
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert args[args.index("--aclfile") + 1] == "/etc/redis/users.acl"
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/etc/redis")
    volume = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == SECRET
    assert volume["secret"]["items"] == [{"key": "users.acl", "path": "users.acl"}]
    assert dep["spec"]["template"]["metadata"]["annotations"]["checksum/acl-rules"]
    bare = _container(rendered["no-auth"], "Deployment", "-redis")["args"]
    assert "--aclfile" not in bare and bare[bare.index("--maxmemory-policy") + 1] == "noeviction"


def test_operator_and_probe_get_their_passwords_by_secret_reference_only(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    op = _env(_container(rendered["defaults"], "Deployment", "-operator"))
    assert op["TRANSCODER_REDIS__USERNAME"]["value"] == "operator"
    assert _secret_ref(op, "TRANSCODER_REDIS__PASSWORD") == (SECRET, "operator-password")
    assert op["TRANSCODER_REDIS__RUNNERUSERNAME"]["value"] == "runner"
    assert _secret_ref(op, "TRANSCODER_REDIS__RUNNERPASSWORD") == (SECRET, "runner-password")
    probe = _env(_container(rendered["defaults"], "DaemonSet", "-gpu-probe"))
    assert probe["TRANSCODER_REDIS_USERNAME"]["value"] == "probe"
    assert _secret_ref(probe, "TRANSCODER_REDIS_PASSWORD") == (SECRET, "probe-password")
    config = one(rendered["defaults"], "ConfigMap", "-operator")["data"]["config.yaml"]
    assert "password" not in config.lower()


def test_an_existing_secret_is_used_and_none_is_generated(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    objs = rendered["existing"]
    assert not find(objs, "Secret")
    op = _env(_container(objs, "Deployment", "-operator"))
    assert _secret_ref(op, "TRANSCODER_REDIS__PASSWORD") == ("my-redis-auth", "operator-password")
    volumes = one(objs, "Deployment", "-redis")["spec"]["template"]["spec"]["volumes"]
    assert any(v.get("secret", {}).get("secretName") == "my-redis-auth" for v in volumes)


def test_external_redis_logs_in_only_with_a_named_secret(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    for gate in ("external", "no-auth"):
        env = _env(_container(rendered[gate], "Deployment", "-operator"))
        assert "TRANSCODER_REDIS__PASSWORD" not in env and not find(rendered[gate], "Secret")
    objs = rendered["external-auth"]
    assert not find(objs, "Secret") and not find(objs, "Deployment", "-redis")
    env = _env(_container(objs, "Deployment", "-operator"))
    assert _secret_ref(env, "TRANSCODER_REDIS__RUNNERPASSWORD") == ("cache-logins", "runner-password")


def test_a_bad_existing_secret_name_is_refused(chart: Chart) -> None:
    out = chart.template({"redis": {"auth": {"existingSecret": "Not A Name"}}}, check=False)
    assert out.returncode != 0 and "existingSecret" in out.stderr
