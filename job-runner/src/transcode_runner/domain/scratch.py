"""How much scratch space an attempt needs, and the refusal when it does not fit (pure).

`pipeline` asks `refusal(source_bytes, outputs, factor, free_bytes)` once the source's
size is known (S3 HeadObject or the https one-byte ranged GET) and before a byte is
downloaded; `io.scratchspace.free_bytes` measures the free space. Every output is on
scratch next to the source until the uploads (all outputs are measured before any is
uploaded), and an output's size cannot be known before the source is probed (its
duration is unknown), so each output is estimated at `factor` times the source size
(runner setting `scratchOutputFactor`, default 1.0: an output as large as its source,
which a ladder of smaller renditions of a typical source never reaches). A source that
does not fit is the input's fault: `errors.BadInput` with reason `SourceTooLarge`
(exit 65, no retry), naming the sizes and the setting to raise.
"""

from __future__ import annotations

import math

from transcode_runner.domain import errors

REASON = "SourceTooLarge"


def needed(source_bytes: int, outputs: int, factor: float) -> int:
    """Bytes the attempt needs on scratch: the source plus `outputs` estimates of
    `factor` x the source each (rounded up)."""
    return source_bytes + math.ceil(source_bytes * max(factor, 0.0) * max(outputs, 0))


def gib(n: int) -> str:
    """`n` bytes for a message: `1.50 GiB` (MiB below one GiB)."""
    if n >= 1 << 30:
        return f"{n / (1 << 30):.2f} GiB"
    return f"{n / (1 << 20):.1f} MiB"


def refusal(source_bytes: int, outputs: int, factor: float,
            free_bytes: int) -> errors.BadInput | None:
    """The `SourceTooLarge` error when the attempt cannot fit in `free_bytes`; None: fits."""
    need = needed(source_bytes, outputs, factor)
    if need <= free_bytes:
        return None
    return errors.BadInput(
        f"the source is {gib(source_bytes)}; with {outputs} output(s) estimated at "
        f"{factor:g}x its size each the attempt needs {gib(need)} of scratch space, but "
        f"the scratch volume has {gib(free_bytes)} free: raise the operator's "
        "runner.scratchSizeLimit (or lower runner.scratchOutputFactor)", reason=REASON)
