"""Settings of what a tenant's job may reach: S3 endpoints and the runner's ambient identity.

`domain.tenancy` reads this group (`Settings.storage_policy`, YAML `storagePolicy`)
to fail a job before any Pod or Secret read when its `spec.storage` names an
endpoint outside the allowlist (`EndpointNotAllowed`) or omits
`credentialsSecretRef` in a namespace where the runner's ambient identity may not
be used (`CredentialsRequired`). The defaults allow AWS S3 and nothing else, and
ambient credentials nowhere.
"""

from __future__ import annotations

import pydantic

from transcode_operator.domain.settings.base import Group


class StoragePolicySettings(Group):
    """Which S3 endpoints and which credentials a tenant's job may use."""

    endpoints: list[str] = pydantic.Field(default_factory=list)
    """Hosts a job's `storage.endpoint` may name besides AWS S3: an exact host or IP
    (`minio.media.svc`, `127.0.0.1`, `::1`) or a suffix with a leading dot
    (`.s3.example.com` allows every host under it, not the bare name). Ports and
    schemes are not matched. Default: none (AWS S3 only)."""
    allow_aws_s3: bool = True
    """Whether AWS S3 is allowed: a job without `storage.endpoint`, or one naming
    `s3[-fips][.dualstack][.<region>].amazonaws.com[.cn]` (or the legacy
    `s3-<region>.amazonaws.com`). false: only the hosts in `endpoints`. Default: true."""
    ambient_credentials_namespaces: list[str] = pydantic.Field(default_factory=list)
    """Namespaces (globs such as `media-*`) whose jobs may omit
    `storage.credentialsSecretRef` and use the runner ServiceAccount's ambient identity
    (IAM role for service accounts, instance profile). Elsewhere such a job fails with
    `CredentialsRequired`. Default: none."""
