"""The Redis ACL file: default user off, each password only as its SHA-256, the runner and
probe users write-only on their own keys; the chart's copy of the rules is the generated one."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from transcode_api import redisacl

ROOT = Path(__file__).resolve().parents[3]
PASSWORDS = {"operator": "op pass#1", "runner": "runner-pass-2", "probe": "probe:pass 3"}


def test_the_acl_file_turns_default_off_and_stores_only_password_hashes() -> None:
    text = redisacl.render(PASSWORDS)
    lines = text.splitlines()
    assert text.endswith("\n") and lines[0] == "user default off resetpass resetkeys resetchannels -@all"
    for password in PASSWORDS.values():
        assert password not in text
    by_user = {line.split()[1]: line for line in lines}
    for user, password in PASSWORDS.items():
        digest = hashlib.sha256(password.encode()).hexdigest()
        assert by_user[user].startswith(f"user {user} on #{digest} ")


def test_runner_and_probe_may_only_write_their_own_keys() -> None:
    runner = redisacl.render(PASSWORDS).splitlines()[2].split()
    assert runner[1] == "runner"
    assert "%W~kt:progress:*" in runner and "&kt:progress" in runner and "-@all" in runner
    assert {r for r in runner if r.startswith("+")} == {"+set", "+expire", "+publish", "+ping"}
    assert not [r for r in runner if r.startswith("~")]  # no read access to any key
    probe = redisacl.render(PASSWORDS).splitlines()[3].split()
    assert "%W~kt:gpu:*" in probe and {r for r in probe if r.startswith("+")} == {
        "+set", "+expire", "+ping"}


def test_a_missing_password_is_named() -> None:
    with pytest.raises(ValueError, match="runner"):
        redisacl.render({"operator": "x", "probe": "y"})


def test_the_secret_for_installs_without_helm_matches_its_acl_file() -> None:
    secret = redisacl.secret_manifest("auth", "kt", PASSWORDS)
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}  # type: ignore[attr-defined]
    assert data["runner-password"] == PASSWORDS["runner"]
    assert data["users.acl"] == redisacl.render(PASSWORDS)
    fresh = redisacl.new_passwords()
    assert set(fresh) == set(PASSWORDS) and len(set(fresh.values())) == 3


def test_the_chart_reads_the_generated_rules() -> None:
    for path in (ROOT / "deploy/redis/acl.yaml", ROOT / "charts/kube-transcoder/files/redis/acl.yaml"):
        assert path.read_text() == redisacl.rules_document(), f"{path} is stale: run make crds"


def test_the_cli_prints_a_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert redisacl.main(["secret", "--name", "logins", "--namespace", "media"]) == 0
    secret = json.loads(capsys.readouterr().out)
    assert secret["metadata"] == {"name": "logins", "namespace": "media",
                                  "labels": {"app.kubernetes.io/part-of": "kube-transcoder"}}
