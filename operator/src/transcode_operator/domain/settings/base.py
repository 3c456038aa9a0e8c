"""The base of every settings group: camelCase keys, unknown keys refused, frozen."""

from __future__ import annotations

import pydantic
from pydantic import alias_generators


class Group(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(
        alias_generator=alias_generators.to_camel, populate_by_name=True, extra="forbid",
        frozen=True,
    )
