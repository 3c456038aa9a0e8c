"""Where a job's media lives: the S3 endpoint and the Secret holding its key pair.

`Storage` and `CredentialsSecretRef` are parts of `spec.TranscodeJobSpec` (which
re-exports them as `spec.Storage` / `spec.CredentialsSecretRef`); the operator
reads the Secret reference to build the runner Pod's secretKeyRef env, the
runner builds its S3 client from `Storage`. Pydantic models only.
"""

from __future__ import annotations

import pydantic

from transcode_api import base, constants, urls

DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class CredentialsSecretRef(base.SpecModel):
    """A Secret in the job's namespace holding the S3 access key pair."""

    name: str = pydantic.Field(
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description=(
            "Name of the Secret in the job's namespace. It must carry the label "
            "kubetranscoder.io/credentials=true (else the job fails with "
            "CredentialsNotAllowed). Its values reach the runner only as secretKeyRef "
            "environment variables; they are never logged or copied."
        ),
    )
    access_key_id_key: str = pydantic.Field(
        default=constants.DEFAULT_ACCESS_KEY_ID_KEY,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key in the Secret holding the access key ID. Default: AWS_ACCESS_KEY_ID.",
    )
    secret_access_key_key: str = pydantic.Field(
        default=constants.DEFAULT_SECRET_ACCESS_KEY_KEY,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key in the Secret holding the secret access key. Default: AWS_SECRET_ACCESS_KEY.",
    )


class Storage(base.SpecModel):
    """The S3-compatible object store used for the source (s3://) and every output."""

    endpoint: str | None = pydantic.Field(
        default=None,
        max_length=constants.MAX_URL_LENGTH,
        pattern=r"^https?://[^/ ]+(/.*)?$",
        description=(
            "S3 endpoint URL (https://s3.example.internal, or http:// for a local "
            "server). Omit for AWS S3."
        ),
    )
    region: str | None = pydantic.Field(
        default=None,
        max_length=64,
        pattern=r"^[a-z0-9-]+$",
        description="Region name for request signing (us-east-1). Default: the SDK's default.",
    )
    path_style: bool = pydantic.Field(
        default=False,
        description=(
            "Address buckets as endpoint/bucket/key instead of bucket.endpoint/key. "
            "Most S3-compatible servers (MinIO and similar) need true. Default: false."
        ),
    )
    credentials_secret_ref: CredentialsSecretRef | None = pydantic.Field(
        default=None,
        description=(
            "Secret with the access key pair. Omit to use the runner's ambient "
            "credentials (IAM role for service accounts, instance profile)."
        ),
    )

    __rules__ = urls.ENDPOINT_RULES
