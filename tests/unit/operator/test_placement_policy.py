"""The placement policy: which tolerations, PriorityClasses, node labels and affinity a job may use.

Each rule on `domain.placement_policy.problem` with the default settings (only the
GPU taint's toleration) and with an administrator's allowlist, and the messages a
user reads: they name the toleration, class or label that is not allowed.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.operator import helpers as h
from transcode_operator.domain import affinity, placement_policy
from transcode_operator.domain import settings as settings_module

DEFAULT = settings_module.PlacementPolicySettings()
GPU_TOL = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
ADMIN = settings_module.PlacementPolicySettings(
    tolerations=[GPU_TOL, {"key": "pool.example.com/*", "operator": "Equal", "value": "media-*"},
                 {"key": "", "operator": "Exists", "effect": "PreferNoSchedule"}],
    priority_class_names=["media-*"],
    node_selector={"topology.kubernetes.io/zone": ["eu-*"], "pool": ["*"]})


def _problem(policy: settings_module.PlacementPolicySettings = DEFAULT, **spec: Any) -> str | None:
    return placement_policy.problem("media", h.spec(**spec), policy)


def test_the_defaults_allow_the_gpu_toleration_and_nothing_else_of_placement() -> None:
    assert _problem() is None
    assert _problem(tolerations=[GPU_TOL]) is None
    assert _problem(tolerations=[{"operator": "Exists"}]) == (
        "spec.tolerations[0] {key=, operator=Exists, effect=(all)} is not allowed by the "
        "operator's placementPolicy")
    assert _problem(priorityClassName="system-node-critical") == (
        "spec.priorityClassName system-node-critical is not allowed by the operator's "
        "placementPolicy")
    assert _problem(nodeSelector={"kubernetes.io/hostname": "gpu-node-0"}) == (
        "spec.nodeSelector kubernetes.io/hostname=gpu-node-0 is not allowed by the operator's "
        "placementPolicy")


@pytest.mark.parametrize("toleration", [
    {"key": "nvidia.com/gpu", "operator": "Exists"},  # every effect: more than NoSchedule
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"},
    {"key": "nvidia.com/gpu", "value": "", "effect": "NoSchedule"},  # Equal
    {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"},
])
def test_near_misses_of_the_gpu_toleration_are_refused(toleration: dict[str, str]) -> None:
    message = _problem(tolerations=[GPU_TOL, toleration])
    assert message is not None and message.startswith("spec.tolerations[1] {key=")


def test_an_administrators_allowlist() -> None:
    ok = [GPU_TOL, {"key": "pool.example.com/media", "operator": "Equal", "value": "media-eu"},
          {"operator": "Exists", "effect": "PreferNoSchedule"}]
    assert _problem(ADMIN, tolerations=ok, priorityClassName="media-high",
                    nodeSelector={"topology.kubernetes.io/zone": "eu-west-1a", "pool": "x"}) is None
    assert _problem(ADMIN, tolerations=[{"key": "pool.example.com/media", "value": "other"}])
    assert _problem(ADMIN, tolerations=[{"operator": "Exists"}])  # all effects: not allowed
    assert _problem(ADMIN, priorityClassName="batch-low")
    assert _problem(ADMIN, nodeSelector={"topology.kubernetes.io/zone": "us-east-1a"}) == (
        "spec.nodeSelector topology.kubernetes.io/zone=us-east-1a is not allowed by the "
        "operator's placementPolicy")


def _node_affinity(key: str, op: str = "In", values: list[str] | None = None) -> dict[str, Any]:
    expr: dict[str, Any] = {"key": key, "operator": op}
    if values is not None:
        expr["values"] = values
    return {"nodeAffinity": {affinity.REQUIRED: {"nodeSelectorTerms": [
        {"matchExpressions": [expr]}]}}}


def test_node_affinity_follows_the_node_selector_rules() -> None:
    assert _problem(affinity=_node_affinity("kubernetes.io/hostname", values=["n1"])) == (
        "spec.affinity.nodeAffinity expression kubernetes.io/hostname In ['n1'] is not allowed "
        "by the operator's placementPolicy")
    assert _problem(ADMIN, affinity=_node_affinity("topology.kubernetes.io/zone",
                                                   values=["eu-1", "eu-2"])) is None
    assert _problem(ADMIN, affinity=_node_affinity("topology.kubernetes.io/zone",
                                                   values=["eu-1", "us-1"]))
    assert _problem(ADMIN, affinity=_node_affinity("pool", "Exists")) is None
    fields = {"nodeAffinity": {affinity.PREFERRED: [{"weight": 1, "preference": {
        "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}}]}}
    assert "metadata.name" in str(_problem(ADMIN, affinity=fields))


def test_pod_affinity_stays_in_the_jobs_namespace() -> None:
    term = {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}
    assert _problem(affinity={"podAntiAffinity": {affinity.REQUIRED: [term]}}) is None
    own = {**term, "namespaces": ["media"]}
    assert _problem(affinity={"podAffinity": {affinity.REQUIRED: [own]}}) is None
    other = {**term, "namespaces": ["media", "bank"]}
    assert "['bank']" in str(_problem(affinity={"podAffinity": {affinity.REQUIRED: [other]}}))
    wide = {"weight": 5, "podAffinityTerm": {**term, "namespaceSelector": {}}}
    assert "namespaceSelector" in str(
        _problem(affinity={"podAffinity": {affinity.PREFERRED: [wide]}}))


def test_affinity_is_bounded_in_bytes_and_terms() -> None:
    term = {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}
    many = {"podAntiAffinity": {affinity.REQUIRED: [term] * 17}}
    assert _problem(affinity=many) == (
        "spec.affinity has 17 terms, more than the 16 the operator's placementPolicy allows")
    assert _problem(affinity={"podAntiAffinity": {affinity.REQUIRED: [term] * 16}}) is None
    big = {"podAntiAffinity": {affinity.REQUIRED: [
        {**term, "labelSelector": {"matchLabels": {"app": "x" * 9000}}}]}}
    message = _problem(affinity=big)
    assert message is not None and "more than the 8192 the operator's placementPolicy" in message


def test_hostile_affinity_shapes_do_not_break_the_checks() -> None:
    for value in ({"nodeAffinity": "x"}, {"podAffinity": {affinity.REQUIRED: ["x", 1, None]}},
                  {"nodeAffinity": {affinity.REQUIRED: {"nodeSelectorTerms": [{
                      "matchExpressions": [{"key": 5, "values": "zone"}]}]}}}):
        placement_policy.problem("media", h.spec(affinity=value), ADMIN)  # no exception
    assert affinity.unknown_keys({"nodeAffinity": {"requiredDuringScheduling": {}},
                                  "podAffinity": {affinity.REQUIRED: [{"topologyKey": "k",
                                                                       "labelSelecter": {}}]}}) == [
        ("nodeAffinity", "requiredDuringScheduling"), ("podAffinity", affinity.REQUIRED, 0,
                                                       "labelSelecter")]
