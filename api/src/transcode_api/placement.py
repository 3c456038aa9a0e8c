"""Pod placement types of a TranscodeJob spec: resources and tolerations.

`ResourceRequirements` and `Toleration` mirror the Kubernetes core types the
runner Pod needs, typed and bounded so the CRD stays structural and its CEL
rules fit the cost budget. `transcode_api.spec.TranscodeJobSpec` holds them; the
operator's pure Pod builder copies them into the runner Pod (adding
`nvidia.com/gpu` itself when the plan wants a GPU).
"""

from __future__ import annotations

import re
from typing import Literal

import pydantic

from transcode_api import base, contract

# The Kubernetes resource.Quantity grammar (k8s.io/apimachinery), as a regex.
QUANTITY_RE = re.compile(
    r"^[+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_QUALIFIED_NAME = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"

Quantity = int | str
# Resource names per list; small so the isQuantity rules fit the CEL cost budget.
MAX_RESOURCES = 8
ResourceList = dict[str, Quantity]


def _quantities_ok(values: ResourceList | None) -> bool:
    return values is None or all(QUANTITY_RE.match(str(q)) for q in values.values())


def _quantities_cel(field: str) -> str:
    return f"!has(self.{field}) || self.{field}.all(k, isQuantity(string(self.{field}[k])))"


class ResourceRequirements(base.SpecModel):
    """CPU and memory for the runner container (Kubernetes ResourceRequirements)."""

    requests: ResourceList | None = pydantic.Field(
        default=None,
        max_length=MAX_RESOURCES,
        description=(
            "Minimum resources the scheduler reserves, as Kubernetes quantities "
            "(cpu: 2 or 500m; memory: 4Gi). Default: the operator's configured runner "
            "request of each resource neither requested nor limited here. nvidia.com/gpu "
            "is not set here: acceleration decides it."
        ),
    )
    limits: ResourceList | None = pydantic.Field(
        default=None,
        max_length=MAX_RESOURCES,
        description=(
            "Maximum resources, as Kubernetes quantities. Default: the operator's "
            "configured runner limit of each resource not limited here, raised to this "
            "job's request when that is larger. nvidia.com/gpu is added by the operator "
            "when the job runs on a GPU; do not set it here."
        ),
    )

    __rules__ = (
        base.Rule(
            cel=_quantities_cel("requests"),
            message="requests values must be Kubernetes quantities such as 500m, 2 or 4Gi",
            field="requests",
            check=lambda r: _quantities_ok(r.requests),
        ),
        base.Rule(
            cel=_quantities_cel("limits"),
            message="limits values must be Kubernetes quantities such as 500m, 2 or 4Gi",
            field="limits",
            check=lambda r: _quantities_ok(r.limits),
        ),
        base.Rule(
            cel=(
                f"(!has(self.requests) || !('{contract.GPU_RESOURCE}' in self.requests)) && "
                f"(!has(self.limits) || !('{contract.GPU_RESOURCE}' in self.limits))"
            ),
            message=(
                "nvidia.com/gpu is set by the operator from spec.acceleration; "
                "remove it from resources and use acceleration.mode instead"
            ),
            field=None,
            check=lambda r: all(
                contract.GPU_RESOURCE not in (m or {}) for m in (r.requests, r.limits)
            ),
        ),
    )


class Toleration(base.SpecModel):
    """A Kubernetes toleration for the runner Pod (core/v1 Toleration)."""

    key: str | None = pydantic.Field(
        default=None,
        max_length=316,
        pattern=_QUALIFIED_NAME,
        description="Taint key to tolerate. Empty with operator Exists tolerates every taint.",
    )
    operator: Literal["Exists", "Equal"] | None = pydantic.Field(
        default=None,
        description="Exists (any value) or Equal (value must match). Default: Equal.",
    )
    value: str | None = pydantic.Field(
        default=None,
        max_length=63,
        description="Taint value to match with operator Equal; empty with Exists.",
    )
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = pydantic.Field(
        default=None,
        description="Taint effect to match: NoSchedule, PreferNoSchedule or NoExecute. Empty matches all.",
    )
    toleration_seconds: int | None = pydantic.Field(
        default=None,
        ge=0,
        description=(
            "For effect NoExecute: seconds the Pod stays bound after the taint appears. "
            "Default: forever."
        ),
    )

    __rules__ = (
        base.Rule(
            cel="!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
            message="a toleration with operator Exists must not set value",
            field="value",
            check=lambda t: t.operator != "Exists" or not t.value,
        ),
    )
