"""The runner container's resources: the job's requests and limits, completed by the defaults.

`domain.builders.pod` calls `resources(spec, gpu, settings)`. A job without
`spec.resources` gets the operator's `runner.resources` as they are. A job with
them keeps every value it set; for each resource it does not limit, the default
limit applies (so `requests` alone never drops the memory limit), raised to the
job's request when that is larger (a limit below the request would make the API
server refuse the Pod); for each resource it neither requests nor limits, the
default request applies. Unless the job names `ephemeral-storage`, the runner's
scratch request (`runner.scratchStorageRequest`) is requested.
`nvidia.com/gpu: 1` is added to GPU Pods' limits.
Quantities are compared with `quantity`, the Kubernetes quantity grammar read
exactly (decimal, no float rounding). Pure.
"""

from __future__ import annotations

import decimal

from transcode_api import contract, placement
from transcode_api import spec as job_spec
from transcode_operator.domain import settings as settings_module

EPHEMERAL = "ephemeral-storage"
_SUFFIXES = {"n": decimal.Decimal("1e-9"), "u": decimal.Decimal("1e-6"),
             "m": decimal.Decimal("1e-3"), "": decimal.Decimal(1),
             "k": decimal.Decimal(10) ** 3, "M": decimal.Decimal(10) ** 6,
             "G": decimal.Decimal(10) ** 9, "T": decimal.Decimal(10) ** 12,
             "P": decimal.Decimal(10) ** 15, "E": decimal.Decimal(10) ** 18,
             **{s: decimal.Decimal(1024) ** (i + 1) for i, s in enumerate(
                 ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))}}


def quantity(text: str | int) -> decimal.Decimal | None:
    """The value of a Kubernetes quantity (`500m` -> 0.5, `1Gi` -> 1073741824); None
    when `text` is not one."""
    text = str(text).strip()
    if not placement.QUANTITY_RE.match(text):
        return None
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if suffix and text.endswith(suffix) and not text[:-len(suffix)].endswith(("e", "E")):
            return decimal.Decimal(text[:-len(suffix)]) * _SUFFIXES[suffix]
    try:
        return decimal.Decimal(text)
    except decimal.InvalidOperation:
        return None


def _at_least(limit: str, request: str | None) -> str:
    """`limit`, or `request` when that is the larger quantity."""
    if request is None:
        return limit
    low, high = quantity(limit), quantity(request)
    return request if low is not None and high is not None and high > low else limit


def resources(spec: job_spec.TranscodeJobSpec, gpu: bool,
              cfg: settings_module.Settings) -> dict[str, dict[str, str]]:
    """Container resources (see the module docstring), plus the GPU limit for GPU Pods."""
    default_requests = dict(cfg.runner.resources.get("requests", {}))
    default_limits = dict(cfg.runner.resources.get("limits", {}))
    if spec.resources is None:
        requests, limits = default_requests, default_limits
    else:
        requests = {k: str(v) for k, v in (spec.resources.requests or {}).items()}
        limits = {k: str(v) for k, v in (spec.resources.limits or {}).items()}
        for name, value in default_requests.items():
            if name not in requests and name not in limits:
                requests[name] = value
        for name, value in default_limits.items():
            if name not in limits:
                limits[name] = _at_least(value, requests.get(name))
    scratch = cfg.runner.scratch_storage_request
    if scratch and EPHEMERAL not in requests and EPHEMERAL not in limits:
        requests[EPHEMERAL] = scratch
    if gpu:
        limits[contract.GPU_RESOURCE] = "1"
    out: dict[str, dict[str, str]] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out
