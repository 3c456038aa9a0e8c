"""`kubectl transcode`: submit a TranscodeJob from the command line and follow it.

Installed as the `kubectl-transcode` console script, which kubectl finds on
PATH as the `transcode` plugin. `submit SOURCE --dest s3://…` builds a job
from flags (validated locally with the same model the CRD is generated from,
so mistakes are named before anything is sent) and creates it (trying again for a
minute while the API server answers 503 as it publishes the CRD's schema);
`follow NAME` polls the job's status and draws a progress bar until it
Succeeded (exit 0) or Failed (exit 1). `build_job`, `render` and `follow` are
pure or take their I/O as arguments, for the unit tests.
"""

from __future__ import annotations

import argparse
import posixpath
import re
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from transcode_api import admission, constants, urls
from transcode_api import errors as api_errors
from transcode_api import spec as job_spec

TERMINAL = (constants.Phase.SUCCEEDED.value, constants.Phase.FAILED.value)


def _name_base(source: str) -> str:
    stem = posixpath.basename(urls.redact(source)).rsplit(".", 1)[0].lower()
    stem = re.sub(r"[^a-z0-9-]+", "-", stem).strip("-")[:40].strip("-")
    return stem or "transcode"


def build_job(args: argparse.Namespace) -> dict[str, Any]:
    """The TranscodeJob for `submit`'s arguments; raises api_errors.SpecError when invalid."""
    video: dict[str, Any] = {"codec": args.codec}
    for key, value in (("resolution", args.resolution), ("preset", args.preset),
                       ("bitrate", args.bitrate)):
        if value is not None:
            video[key] = value
    outputs = []
    for i, dest in enumerate(args.dest):
        base = args.resolution or args.codec
        outputs.append({"name": base if len(args.dest) == 1 else f"{base}-{i}",
                        "destination": dest, "video": dict(video)})
    storage: dict[str, Any] = {}
    if args.secret:
        storage["credentialsSecretRef"] = {"name": args.secret}
    if args.endpoint:
        storage["endpoint"] = args.endpoint
    if args.path_style:
        storage["pathStyle"] = True
    spec: dict[str, Any] = {"source": args.source, "outputs": outputs,
                            "acceleration": {"mode": args.mode}}
    if storage:
        spec["storage"] = storage
    if args.backoff_limit is not None:
        spec["backoffLimit"] = args.backoff_limit
    typed = job_spec.parse_spec(spec)  # the same rules as the CRD's CEL
    metadata: dict[str, Any] = {"name": args.name} if args.name else {
        "generateName": _name_base(args.source) + "-"}
    return {"apiVersion": constants.API_VERSION, "kind": constants.KIND, "metadata": metadata,
            "spec": typed.to_dict()}


def render(status: Mapping[str, Any], width: int = 30) -> str:
    """One progress line: bar, percent, phase and speed (or the final word)."""
    phase = str(status.get("phase") or "Pending")
    progress = status.get("progress") or {}
    percent = int(progress.get("percent") or 0)
    filled = max(0, min(width, round(width * percent / 100)))
    parts = [f"[{'#' * filled}{'-' * (width - filled)}] {percent:3d}%  {phase}"]
    if progress.get("fps"):
        parts.append(f"{float(progress['fps']):.0f} fps")
    if progress.get("speed"):
        parts.append(f"{float(progress['speed']):.2f}x")
    if status.get("reason") and phase not in ("Running", "Uploading"):
        parts.append(str(status["reason"]))
    return "  ".join(parts)


def summary(status: Mapping[str, Any]) -> str:
    """What to print once the job finished."""
    lines = [f"{status.get('phase')}: {status.get('message') or status.get('reason') or ''}"]
    meta = status.get("metadata") or {}
    if meta.get("encoderUsed"):
        where = "GPU" if meta.get("gpuEnabled") else "CPU"
        lines.append(f"encoder: {meta['encoderUsed']} ({where})")
    if meta.get("gpuFallback"):
        lines.append(f"GPU fallback: {meta.get('fallbackReason')} {meta.get('fallbackMessage') or ''}"
                     .rstrip())
    for out in status.get("outputs") or []:
        lines.append(f"  {out.get('name')}: {out.get('url')} ({out.get('bytes')} bytes)")
    return "\n".join(lines)


def follow(get_status: Callable[[], Mapping[str, Any] | None], out: TextIO,
           sleep: Callable[[float], None] = time.sleep, interval: float = 1.0,
           tty: bool | None = None) -> int:
    """Draw progress until the job ends; 0 Succeeded, 1 Failed, 2 job gone."""
    tty = out.isatty() if tty is None else tty
    last = ""
    while True:
        status = get_status()
        if status is None:
            out.write("\njob not found (deleted?)\n")
            return 2
        line = render(status)
        if line != last:
            out.write(("\r" + line.ljust(len(last))) if tty else line + "\n")
            out.flush()
            last = line
        if status.get("phase") in TERMINAL:
            out.write(("\n" if tty else "") + summary(status) + "\n")
            return 0 if status.get("phase") == constants.Phase.SUCCEEDED.value else 1
        sleep(interval)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl transcode", description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    submit = sub.add_parser("submit", help="create a TranscodeJob")
    submit.add_argument("source", help="s3://bucket/key or https:// URL of the input video")
    submit.add_argument("--dest", action="append", required=True,
                        help="s3://bucket/key of an output (repeat for several)")
    submit.add_argument("--name", help="job name (default: from the source file name)")
    submit.add_argument("--codec", default="h264", choices=[c.value for c in constants.Codec])
    submit.add_argument("--resolution", choices=[r.value for r in constants.Resolution])
    submit.add_argument("--preset", choices=list(constants.PRESETS))
    submit.add_argument("--bitrate", type=int, help="video bitrate in bits per second")
    submit.add_argument("--mode", default="auto", choices=[m.value for m in
                                                           constants.AccelerationMode])
    submit.add_argument("--secret", help="Secret with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    submit.add_argument("--endpoint", help="S3 endpoint URL (omit for AWS)")
    submit.add_argument("--path-style", action="store_true", help="path-style S3 addressing")
    submit.add_argument("--backoff-limit", type=int)
    submit.add_argument("--follow", action="store_true", help="then follow it")
    fol = sub.add_parser("follow", help="show a job's progress until it ends")
    fol.add_argument("name")
    return parser


def _api(kubeconfig: str | None) -> tuple[Any, str]:
    from kubernetes import client, config  # imported here: `--help` needs no cluster

    config.load_kube_config(config_file=kubeconfig)
    _, context = config.list_kube_config_contexts(config_file=kubeconfig)
    namespace = (context or {}).get("context", {}).get("namespace") or "default"
    return client.CustomObjectsApi(), namespace


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        body = build_job(args) if args.command == "submit" else None
    except api_errors.SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    api, default_ns = _api(args.kubeconfig)
    namespace = args.namespace or default_ns
    group = (constants.GROUP, constants.VERSION, namespace, constants.PLURAL)
    if body is not None:
        created = admission.retry_while_schema_pending(
            lambda: api.create_namespaced_custom_object(*group, body))
        name = created["metadata"]["name"]
        print(f"transcodejob.{constants.GROUP}/{name} created")
        if not args.follow:
            return 0
    else:
        name = args.name

    def get_status() -> Mapping[str, Any] | None:
        from kubernetes.client import exceptions

        try:
            job = api.get_namespaced_custom_object(*group, name)
        except exceptions.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(job.get("status") or {})

    return follow(get_status, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
