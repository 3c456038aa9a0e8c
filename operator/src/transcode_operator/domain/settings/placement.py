"""Settings of where a tenant's runner Pod may be placed: tolerations, priority, node labels.

`domain.placement_policy` reads this group (`Settings.placement_policy`, YAML
`placementPolicy`) to fail a job with `PlacementNotAllowed` before its first Pod
when `spec.tolerations`, `spec.priorityClassName`, `spec.nodeSelector` or
`spec.affinity` ask for more than it allows. The defaults allow only the GPU taint's
toleration, no PriorityClass and no node labels, and bound the affinity copied
verbatim into the Pod.
"""

from __future__ import annotations

from typing import Literal

import pydantic

from transcode_operator.domain.settings.base import Group


class TolerationRule(Group):
    """One toleration tenants may write (every field given must match)."""

    key: str
    """Glob of the taint key (`nvidia.com/*`). A toleration without a key (which, with
    operator Exists, tolerates every taint) matches only a rule whose key is ""."""
    operator: Literal["Exists", "Equal"] | None = None
    """The toleration's operator (unset in a job means Equal); null: either. Default: null."""
    value: str = "*"
    """Glob of the toleration's value. Default: any."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """The toleration's effect; null: any, including none (which tolerates every effect).
    A rule with an effect refuses a toleration that names none. Default: null."""


GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


class PlacementPolicySettings(Group):
    """Which placement fields a tenant's job may set on its runner Pod."""

    tolerations: list[TolerationRule] = pydantic.Field(
        default_factory=lambda: [TolerationRule.model_validate(GPU_TOLERATION)])
    """Tolerations a job may list in `spec.tolerations`. Default: only
    `{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}` (GPU Pods get it
    anyway)."""
    priority_class_names: list[str] = pydantic.Field(default_factory=list)
    """PriorityClasses (globs) a job may name in `spec.priorityClassName`. Default: none."""
    workload_priority_class_names: list[str] = pydantic.Field(default_factory=list)
    """Kueue WorkloadPriorityClasses (globs) a job may name in
    `spec.workloadPriorityClassName` (a higher one preempts other tenants' jobs).
    Default: none."""
    node_selector: dict[str, list[str]] = pydantic.Field(default_factory=dict)
    """Node label keys (globs) a job may use, each with the value globs it may ask for
    (`{"topology.kubernetes.io/zone": ["*"]}`), in `spec.nodeSelector` and in
    `spec.affinity.nodeAffinity` expressions (whose `matchFields` key is
    `metadata.name`). Default: none."""
    affinity_max_bytes: int = pydantic.Field(default=8192, ge=0)
    """Largest `spec.affinity`, as compact JSON, copied into the runner Pod. Default: 8192."""
    affinity_max_terms: int = pydantic.Field(default=16, ge=0)
    """Most node selector terms, preferences and pod (anti-)affinity terms in
    `spec.affinity`, all together. Default: 16."""
