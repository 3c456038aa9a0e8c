"""What the RBAC tests ask of a role's rules: whether they grant one (group, resource, verb)."""

from __future__ import annotations

from typing import Any


def allows(role_rules: list[dict[str, Any]], need: tuple[str, str, str]) -> bool:
    """Whether `role_rules` grant `need` (exact names or `*`)."""
    group, resource, verb = need
    return any(group in r.get("apiGroups", []) and
               (resource in r.get("resources", []) or "*" in r.get("resources", [])) and
               (verb in r.get("verbs", []) or "*" in r.get("verbs", []))
               for r in role_rules)
