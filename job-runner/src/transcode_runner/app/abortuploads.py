"""`transcode-runner abort-uploads`: abort the multipart uploads a killed attempt left open.

The operator's finalizer runs this command in a short cleanup Pod (`<job>-cleanup`, the
runner Pod's environment and credentials) when a deleted job's `status.runner.openUploads`
still lists uploads once its runner Pods ended (a SIGKILL, OOM kill, eviction or lost
node left them). `cli` reads the ledger as `run` does (`status.runner` through
`report.KubeStatusSink`, or `open-uploads.json` in the scratch directory for a standalone
`--spec` run) and calls `run(spec, ctx)`, which aborts the recorded uploads of the job's
destinations with the same `ledger.abort_leftovers` an attempt starts with; the `Book`
clears each entry through the same reporter. An entry that names no destination of the
job is dropped from the ledger without being touched (it cannot be ours). Returns the exit
code: 0 when nothing is left open, TRANSIENT when an abort failed (the entry stays).
"""

from __future__ import annotations

import logging

from transcode_api import contract, spec, status
from transcode_runner.app import pipeline
from transcode_runner.domain import errors
from transcode_runner.io import ledger, netguard, transfer

log = logging.getLogger(__name__)


def run(job: spec.TranscodeJobSpec, ctx: pipeline.Context) -> int:
    """Abort the job's recorded uploads; the exit code (see the module docstring)."""
    book = ledger.Book(ctx.uploads)
    entries = book.entries()
    if not entries:
        log.info("no open multipart upload is recorded: nothing to abort")
        return int(contract.ExitCode.SUCCESS)
    wanted = [(e.bucket, e.key) for e in entries if ours(job, e)]
    strangers = [e.upload_id for e in entries if not ours(job, e)]
    if strangers:
        log.warning("dropping %d ledger entries that name no destination of this job "
                    "(not aborted)", len(strangers))
        book.remove(strangers)
    try:
        s3 = pipeline.s3_client(job, ctx, netguard.Guard(pipeline.network_policy(ctx.settings)))
        aborted = ledger.abort_leftovers(s3, book, wanted) if wanted and s3 is not None else 0
    except errors.RunnerError as exc:
        log.error("cannot abort the open multipart uploads (%s): %s", exc.reason, exc)
        return int(exc.exit_code)
    left = book.entries()
    log.info("aborted %d multipart upload(s); %d left open", aborted, len(left))
    return int(contract.ExitCode.SUCCESS if not left else contract.ExitCode.TRANSIENT)


def ours(job: spec.TranscodeJobSpec, entry: status.OpenUpload) -> bool:
    """Whether a ledger entry names one of the job's s3:// destinations (an output, or a
    key under the packaging destination)."""
    for out in job.outputs:
        where = transfer.parse(out.destination)
        if where.scheme == "s3" and (where.bucket, where.key) == (entry.bucket, entry.key):
            return True
    if job.packaging is not None:
        where = transfer.parse(job.packaging.destination)
        prefix = where.key.rstrip("/") + "/"
        if where.scheme == "s3" and where.bucket == entry.bucket \
                and entry.key.startswith(prefix):
            return True
    return False
