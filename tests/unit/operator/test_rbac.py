"""RBAC: the generated roles grant what the code calls, and deploy/rbac is current."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit import rbac_rules
from transcode_operator.adapters import kubeclient
from transcode_operator.app import handlers, rbac

REPO = Path(__file__).resolve().parents[3]


def test_every_api_call_in_kubeclient_is_in_the_table() -> None:
    source = Path(kubeclient.__file__).read_text()
    called = set(re.findall(r'self\._(?:call|maybe|delete)\(\s*"(\w+)"', source))
    assert called == set(kubeclient.CALLS), called ^ set(kubeclient.CALLS)


def _granted(role: list[dict]) -> set[tuple[str, str, str]]:
    return {(r["apiGroups"][0], res, v) for r in role for res in r["resources"]
            for v in r["verbs"]}


def test_operator_roles_grant_every_need_and_nothing_more() -> None:
    cluster = rbac.operator_cluster_role()["rules"]
    local = rbac.operator_role()["rules"]
    assert _granted(cluster) | _granted(local) == rbac.operator_needs()
    assert not any("*" in r["verbs"] or "*" in r["resources"] for r in cluster + local)


def test_leader_leases_are_granted_only_in_the_operator_namespace() -> None:
    # A cluster-wide `update leases` could take over kube-system's leader elections.
    lease = ("coordination.k8s.io", "leases", "update")
    assert not rbac_rules.allows(rbac.operator_cluster_role()["rules"], lease)
    role = rbac.operator_role("kube-transcoder")
    assert role["kind"] == "Role" and role["metadata"]["namespace"] == "kube-transcoder"
    assert rbac_rules.allows(role["rules"], lease)
    assert _granted(role["rules"]) == {("coordination.k8s.io", "leases", v)
                                       for v in ("get", "create", "update")}


def test_operator_role_covers_what_the_handlers_need() -> None:
    role = rbac.operator_cluster_role()["rules"]
    assert rbac_rules.allows(role, ("kubetranscoder.io", "transcodejobs/status", "patch"))
    assert rbac_rules.allows(role, ("", "pods", "watch"))  # the Pod index
    assert rbac_rules.allows(role, ("", "events", "create"))
    assert not rbac_rules.allows(role, ("", "secrets", "list"))  # only get, by name
    assert not rbac_rules.allows(role, ("", "pods", "update"))
    assert handlers.REGISTRY is not None


def test_runner_role_is_status_patch_and_get() -> None:
    role = rbac.runner_cluster_role()["rules"]
    assert rbac_rules.allows(role, ("kubetranscoder.io", "transcodejobs/status", "patch"))
    assert rbac_rules.allows(role, ("kubetranscoder.io", "transcodejobs", "get"))
    assert not rbac_rules.allows(role, ("kubetranscoder.io", "transcodejobs", "patch"))
    assert not rbac_rules.allows(role, ("", "pods", "create"))


def test_deploy_rbac_files_are_current() -> None:
    for name, text in rbac.files().items():
        path = REPO / "deploy" / "rbac" / name
        assert path.read_text() == text, (
            f"{path} is stale: run python -m transcode_operator.app.rbac --out deploy/rbac")
