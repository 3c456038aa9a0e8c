"""The sample names a Prometheus registry can expose, for the metric-name checks."""

from __future__ import annotations

from prometheus_client import CollectorRegistry


def exported_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name `registry` can expose (`_total`, `_bucket`, ... included)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("_count", "_sum", "_created"),
        "gauge": ("",),
        "info": ("_info",),
    }
    names: set[str] = set()
    for family in registry.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names
