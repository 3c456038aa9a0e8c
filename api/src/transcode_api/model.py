"""The whole TranscodeJob object: apiVersion, kind, metadata, spec and status.

`TranscodeJob` is what `transcode_api.crdgen` turns into the CRD's
openAPIV3Schema, and what the operator and tests use to read or build a full
object (`parse_job`, `TranscodeJob.to_dict`). `metadata` stays a free-form
dict: the API server owns its schema. (The modules `spec` and `status` are
imported as `job_spec`/`job_status` because the fields carry the same names.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic
from pydantic import alias_generators

from transcode_api import constants, errors
from transcode_api import spec as job_spec
from transcode_api import status as job_status


class TranscodeJob(pydantic.BaseModel):
    """A request to transcode one source into one or more outputs in S3, on a GPU when possible."""

    model_config = pydantic.ConfigDict(
        alias_generator=alias_generators.to_camel, populate_by_name=True, extra="ignore"
    )

    api_version: str = pydantic.Field(
        default=constants.API_VERSION,
        description="APIVersion of this object: kubetranscoder.io/v1alpha1.",
    )
    kind: str = pydantic.Field(default=constants.KIND, description="Kind of this object: TranscodeJob.")
    metadata: dict[str, Any] = pydantic.Field(
        default_factory=dict, description="Standard object metadata (name, namespace, labels, ...)."
    )
    spec: job_spec.TranscodeJobSpec = pydantic.Field(
        description="What to transcode, into which outputs, where to run it and how to retry. Immutable except suspend."
    )
    status: job_status.TranscodeJobStatus | None = pydantic.Field(
        default=None, description="Observed state, written by the operator (and status.runner by the runner)."
    )

    @property
    def name(self) -> str:
        """metadata.name ('' when unset)."""
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        """metadata.namespace ('' when unset)."""
        return str(self.metadata.get("namespace", ""))

    def to_dict(self) -> dict[str, Any]:
        """The object as a JSON-ready dict by alias, unset (None) fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def parse_job(data: Mapping[str, Any]) -> TranscodeJob:
    """Validate a whole object as read from the API server; raises `errors.SpecError`."""
    try:
        return TranscodeJob.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        raise errors.SpecError.from_validation_error(exc, "") from None
