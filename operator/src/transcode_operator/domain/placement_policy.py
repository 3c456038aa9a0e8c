"""May a job's runner Pod be placed where it asks? Tolerations, PriorityClass, node labels, affinity.

A tenant who can tolerate any taint, pick any PriorityClass or select any node
label can land on nodes reserved for others or preempt their Pods, so
`domain.tenancy.problem` calls `problem(namespace, spec, policy)` before a job's
first Pod, with the operator's `placementPolicy` settings, and the job fails
`PlacementNotAllowed` with the returned message, which names the toleration,
class or label. Rules: every `spec.tolerations` entry matches a `TolerationRule`
(a toleration without a key matches only a rule with key ""); `priorityClassName`
matches a glob of `priorityClassNames`, `workloadPriorityClassName` (Kueue) one of
`workloadPriorityClassNames`; every `nodeSelector` label, and every
`affinity.nodeAffinity` expression, uses a key and values `nodeSelector` allows;
pod (anti-)affinity terms stay in the job's namespace (no `namespaceSelector`,
`namespaces` only the job's own), since they would otherwise find other tenants'
Pods; and `affinity` is at most `affinityMaxBytes` of JSON and `affinityMaxTerms`
terms. What the operator adds itself (the GPU toleration of GPU Pods) is not
checked. Pure.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable

from transcode_api import placement
from transcode_api import spec as job_spec
from transcode_operator.domain import affinity as affinity_shape
from transcode_operator.domain import settings as settings_module

NOT_ALLOWED = "is not allowed by the operator's placementPolicy"


def _glob(text: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(text, p) for p in patterns)


def _describe(t: placement.Toleration) -> str:
    parts = [f"key={t.key or ''}", f"operator={t.operator or 'Equal'}"]
    if t.value:
        parts.append(f"value={t.value}")
    parts.append(f"effect={t.effect or '(all)'}")
    return "{" + ", ".join(parts) + "}"


def toleration_allowed(t: placement.Toleration,
                       rules: Iterable[settings_module.TolerationRule]) -> bool:
    key, op, value = t.key or "", t.operator or "Equal", t.value or ""
    for rule in rules:
        key_ok = rule.key == "" if not key else rule.key != "" and fnmatch.fnmatchcase(key, rule.key)
        if key_ok and rule.operator in (None, op) and fnmatch.fnmatchcase(value, rule.value) \
                and (rule.effect is None or rule.effect == t.effect):
            return True
    return False


def label_allowed(key: str, values: Iterable[str],
                  allowed: dict[str, list[str]]) -> bool:
    """Whether a node label key, and every value asked for, is allowed."""
    patterns = [v for k, vs in allowed.items() if fnmatch.fnmatchcase(key, k) for v in vs]
    if not any(fnmatch.fnmatchcase(key, k) for k in allowed):
        return False
    return all(_glob(v, patterns) for v in values)


def _affinity_problem(namespace: str, data: dict[str, object],
                      policy: settings_module.PlacementPolicySettings) -> str | None:
    size = len(json.dumps(data, separators=(",", ":")).encode())
    if size > policy.affinity_max_bytes:
        return (f"spec.affinity is {size} bytes of JSON, more than the "
                f"{policy.affinity_max_bytes} the operator's placementPolicy allows")
    terms = affinity_shape.term_count(data)
    if terms > policy.affinity_max_terms:
        return (f"spec.affinity has {terms} terms, more than the "
                f"{policy.affinity_max_terms} the operator's placementPolicy allows")
    for key, op, values in affinity_shape.node_requirements(data):
        if not label_allowed(key, values, policy.node_selector):
            shown = f" {values}" if values else ""
            return f"spec.affinity.nodeAffinity expression {key} {op}{shown} {NOT_ALLOWED}"
    for term in affinity_shape.pod_terms(data):
        if "namespaceSelector" in term:
            return ("spec.affinity pod (anti-)affinity terms may not set namespaceSelector: "
                    "they may only refer to Pods in the job's own namespace")
        spaces = term.get("namespaces")
        others = [str(n) for n in spaces if n != namespace] if isinstance(spaces, list) else []
        if others or (spaces is not None and not isinstance(spaces, list)):
            return (f"spec.affinity pod (anti-)affinity terms may not name namespaces "
                    f"{others or spaces}: only the job's own namespace {namespace}")
    return None


def problem(namespace: str, spec: job_spec.TranscodeJobSpec,
            policy: settings_module.PlacementPolicySettings) -> str | None:
    """The message naming the first placement the policy refuses; None when all is allowed."""
    for i, t in enumerate(spec.tolerations or []):
        if not toleration_allowed(t, policy.tolerations):
            return f"spec.tolerations[{i}] {_describe(t)} {NOT_ALLOWED}"
    name = spec.priority_class_name
    if name and not _glob(name, policy.priority_class_names):
        return f"spec.priorityClassName {name} {NOT_ALLOWED}"
    workload = spec.workload_priority_class_name
    if workload and not _glob(workload, policy.workload_priority_class_names):
        return f"spec.workloadPriorityClassName {workload} {NOT_ALLOWED}"
    for key, value in sorted((spec.node_selector or {}).items()):
        if not label_allowed(key, [value], policy.node_selector):
            return f"spec.nodeSelector {key}={value} {NOT_ALLOWED}"
    if spec.affinity:
        return _affinity_problem(namespace, spec.affinity, policy)
    return None
