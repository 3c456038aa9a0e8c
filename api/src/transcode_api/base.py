"""Base classes and the paired-rule helper shared by every TranscodeJob model.

`SpecModel` (strict, frozen, camelCase) and `StatusModel` (lenient, camelCase)
are the parents of the classes in `transcode_api.output`, `transcode_api.spec`
and `transcode_api.status`. `Rule` pairs one CEL expression, which
`transcode_api.crdgen` writes into the CRD as an `x-kubernetes-validations`
entry, with the Python predicate that checks the same thing when the operator
validates a spec again; a model lists its rules in `__rules__` and the
after-validator here enforces them, so the two sides cannot drift apart
silently (the unit tests walk every rule).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import pydantic
import pydantic_core
from pydantic import alias_generators

RULE_ERROR_TYPE = "transcodejob_rule"


@dataclasses.dataclass(frozen=True)
class Rule:
    """One admission rule, written twice: CEL for the API server, Python for us.

    `field` is the camelCase field the rule is about, relative to the model that
    holds it (``"twoPass"``, ``"acceleration.mode"``); it becomes the CEL
    `fieldPath` so `kubectl apply` names the field, and it is appended to the
    pydantic error location. `check(model)` returns True when the model passes.
    """

    cel: str
    message: str
    field: str | None
    check: Callable[[Any], bool]

    def to_validation(self) -> dict[str, str]:
        """The `x-kubernetes-validations` entry for this rule (stable key order)."""
        entry = {"rule": self.cel, "message": self.message}
        if self.field:
            entry["fieldPath"] = "." + self.field
            entry["reason"] = "FieldValueInvalid"
        return entry


def cel_list(values: Iterable[str]) -> str:
    """Render strings as a CEL list literal in sorted order: ``['a', 'b']``."""
    return "[" + ", ".join(f"'{v}'" for v in sorted(values)) + "]"


class SpecModel(pydantic.BaseModel):
    """Parent of spec models: unknown fields refused, values frozen, rules enforced."""

    model_config = pydantic.ConfigDict(
        alias_generator=alias_generators.to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
        validate_default=False,
    )

    __rules__: ClassVar[tuple[Rule, ...]] = ()

    @pydantic.model_validator(mode="after")
    def _check_rules(self) -> SpecModel:
        for rule in type(self).__rules__:
            if not rule.check(self):
                raise pydantic_core.PydanticCustomError(
                    RULE_ERROR_TYPE,
                    "{rule_message}",
                    {"field": rule.field or "", "rule_message": rule.message},
                )
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls,
        core_schema: pydantic_core.CoreSchema,
        handler: pydantic.GetJsonSchemaHandler,
    ) -> dict[str, Any]:
        schema = dict(handler(core_schema))
        target = handler.resolve_ref_schema(schema)
        if cls.__rules__ and "properties" in target:
            target["x-kubernetes-validations"] = [r.to_validation() for r in cls.__rules__]
        return schema


class StatusModel(pydantic.BaseModel):
    """Parent of status models: camelCase, unknown fields ignored (read side is lenient)."""

    model_config = pydantic.ConfigDict(
        alias_generator=alias_generators.to_camel,
        populate_by_name=True,
        extra="ignore",
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict by alias, without unset (None) fields: ready for a status patch."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
