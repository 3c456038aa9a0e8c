"""Which namespaces one operator serves: `kopf.namespaces` (or `-n`), in kopf's pattern syntax.

The operator has kopf watch every namespace and drops, in its event handlers, the objects of
namespaces it does not serve (`Scope.serves`). kopf's own namespace scope listed the
namespaces and then watched from a second list whose items it ignored (kopf 1.45.2,
`namespace_observer`), so a matching namespace created between the two lists was never
served until a restart; it also opened one watch per matching namespace and resource, where
this is one per resource. Each pattern means what it meant to kopf: comma-separated globs
(`*`, `?`), a `!` glob excludes, a leading exclusion implies `*`, and a later inclusive glob
only re-admits a namespace the first glob matched. A namespace is served when any pattern
matches it, and every namespace is served when there is no pattern.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass


def matches(namespace: str, pattern: str) -> bool:
    """Whether `namespace` matches one pattern (kopf's `match_namespace` for a string)."""
    globs = [glob.strip() for glob in pattern.split(",")]
    if globs[0].startswith("!"):
        globs.insert(0, "*")
    first = found = fnmatch.fnmatchcase(namespace, globs[0])
    for glob in globs[1:]:
        if glob.startswith("!"):
            found = found and not fnmatch.fnmatchcase(namespace, glob.lstrip("!"))
        else:
            found = found or (first and fnmatch.fnmatchcase(namespace, glob))
    return found


@dataclass(frozen=True)
class Scope:
    """The served namespaces: `patterns` as configured (empty: all of them)."""

    patterns: tuple[str, ...] = ()

    @classmethod
    def of(cls, patterns: Sequence[str] | None) -> Scope:
        return cls(tuple(patterns or ()))

    def describe(self) -> str:
        """The scope in words, for the start-up log line."""
        return "namespaces " + "; ".join(self.patterns) if self.patterns else "all namespaces"

    def serves(self, namespace: str) -> bool:
        return not self.patterns or any(matches(namespace, p) for p in self.patterns)
