"""The shape of a core/v1 Affinity, and readers of a tenant's `spec.affinity` by that shape.

`spec.affinity` is stored as the tenant wrote it (the CRD preserves unknown fields
there) and copied verbatim into the runner Pod, so the operator reads it by this
shape alone and trusts no type in it: `unknown_keys` names the keys the shape does
not know (`domain.unknown_fields` reports them), `node_requirements` lists the
node label expressions and `pod_terms` the pod (anti-)affinity terms
(`domain.placement_policy` checks them), `term_count` counts what the policy bounds.
Pure.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

_EXPRESSION: dict[str, Any] = {"key": None, "operator": None, "values": None}
_NODE_TERM: dict[str, Any] = {"matchExpressions": [_EXPRESSION], "matchFields": [_EXPRESSION]}
_SELECTOR: dict[str, Any] = {"matchLabels": None, "matchExpressions": [_EXPRESSION]}
_POD_TERM: dict[str, Any] = {"labelSelector": _SELECTOR, "namespaceSelector": _SELECTOR,
                             "namespaces": None, "topologyKey": None,
                             "matchLabelKeys": None, "mismatchLabelKeys": None}
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"
_POD_AFFINITY: dict[str, Any] = {
    REQUIRED: [_POD_TERM], PREFERRED: [{"weight": None, "podAffinityTerm": _POD_TERM}]}
SHAPE: dict[str, Any] = {
    "nodeAffinity": {REQUIRED: {"nodeSelectorTerms": [_NODE_TERM]},
                     PREFERRED: [{"weight": None, "preference": _NODE_TERM}]},
    "podAffinity": _POD_AFFINITY,
    "podAntiAffinity": _POD_AFFINITY,
}
"""Known keys: a dict maps keys to their shape, [shape] is a list of it, None any value."""


def unknown_keys(value: Any, shape: Any = SHAPE) -> list[tuple[Any, ...]]:
    """Locations (key and index tuples, relative to `value`) of the keys `shape` does not
    know, in document order."""
    found: list[tuple[Any, ...]] = []
    if isinstance(shape, dict) and isinstance(value, Mapping):
        for key, item in value.items():
            if key in shape:
                found += [(key, *loc) for loc in unknown_keys(item, shape[key])]
            else:
                found.append((key,))
    elif isinstance(shape, list) and isinstance(value, list):
        for i, item in enumerate(value):
            found += [(i, *loc) for loc in unknown_keys(item, shape[0])]
    return found


def _dicts(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, Mapping))


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else None


def _node_terms(affinity: Mapping[str, Any]) -> Iterator[Any]:
    node = _get(affinity, "nodeAffinity")
    yield from _dicts(_get(_get(node, REQUIRED), "nodeSelectorTerms"))
    yield from (_get(p, "preference") for p in _dicts(_get(node, PREFERRED)))


def node_requirements(affinity: Mapping[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(key, operator, values) of every node expression; a `matchFields` key is spelled
    as written (`metadata.name`). Values that are not strings are kept as their text."""
    out = []
    for term in _node_terms(affinity):
        for field in ("matchExpressions", "matchFields"):
            for expr in _dicts(_get(term, field)):
                values = expr.get("values")
                out.append((str(expr.get("key", "")), str(expr.get("operator", "")),
                            [str(v) for v in values] if isinstance(values, list) else []))
    return out


def pod_terms(affinity: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every pod affinity and anti-affinity term, required and preferred."""
    out: list[Mapping[str, Any]] = []
    for kind in ("podAffinity", "podAntiAffinity"):
        section = _get(affinity, kind)
        out += _dicts(_get(section, REQUIRED))
        out += [t for p in _dicts(_get(section, PREFERRED))
                if isinstance(t := p.get("podAffinityTerm"), Mapping)]
    return out


def term_count(affinity: Mapping[str, Any]) -> int:
    """Node selector terms, node preferences and pod (anti-)affinity terms, together."""
    return sum(1 for _ in _node_terms(affinity)) + len(pod_terms(affinity))
