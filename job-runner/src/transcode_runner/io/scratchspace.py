"""The free space of the scratch volume, as the kubelet will count it.

`pipeline` calls `free_bytes(scratch_dir, limit)` before the source is downloaded
(`domain.scratch.refusal` decides). An emptyDir lives on the node's disk, so
`os.statvfs` shows the node filesystem's free space, not the volume's `sizeLimit`,
which the kubelet enforces by eviction; the operator therefore passes the limit
(`TRANSCODER_SCRATCH_LIMIT_BYTES`), and the free space is the smaller of the
filesystem's free bytes and the limit minus what the scratch folder already holds.
"""

from __future__ import annotations

import os
from pathlib import Path


def used_bytes(folder: Path) -> int:
    """Bytes allocated under `folder` (what the kubelet's du counts); 0 if absent."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue  # removed meanwhile
    return total


def free_bytes(folder: Path, limit: int | None) -> int:
    """Free bytes for the attempt under `folder`: the filesystem's, capped by `limit`
    minus what `folder` already holds (None: no limit)."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    if limit is not None:
        free = min(free, max(limit - used_bytes(folder), 0))
    return free
