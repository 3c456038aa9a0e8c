"""The folder outside the repository where builds, the Debian base and downloads are cached.

The same rule as the build scripts' (`dev/cluster/*/build.sh`, `deploy/containers/env.sh`):
`$KT_CACHE_DIR`, else `$XDG_CACHE_HOME/kube-transcoder`, else `~/.cache/kube-transcoder`.
The web players' npm files (`dev.players`), the image-build lock (`dev.cluster.images`)
and the S3 server's cached binary check (`dev.services.s3server`) live under it, so one
`KT_CACHE_DIR` moves every cache at once (a cold CI run points it at an empty folder).
"""

from __future__ import annotations

import os
from pathlib import Path


def folder() -> Path:
    """The cache folder (not created here)."""
    if os.environ.get("KT_CACHE_DIR"):
        return Path(os.environ["KT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "kube-transcoder"
