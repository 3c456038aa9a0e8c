"""The `transcode-runner` command: `run` a job, `abort-uploads` it left open, or `probe` the GPU.

`main` is the console entry point (pyproject `transcode-runner`). `run` reads
the frozen spec from the Pod's environment, or `--spec job.yaml` for a
standalone run without Kubernetes (local paths or s3:// URLs); it prints the
final result as one JSON line on stdout and exits with the contract's code.
SIGTERM (and Ctrl-C) stop FFmpeg, abort uploads, report, and exit TRANSIENT.
`probe` prints what the NVENC probe finds (`--json` for machines); `--report`
keeps publishing it to Redis under `kt:gpu:{node}` for the node DaemonSet.
`abort-uploads` (the operator's cleanup Pod) reads the same ledger as `run` and
aborts what it lists (`abortuploads`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import pydantic

from transcode_api import constants, contract, status
from transcode_runner.app import abortuploads, pipeline
from transcode_runner.domain import errors, progress
from transcode_runner.io import gpu, jobfile, ledger, probe, report, seams, settings

log = logging.getLogger("transcode_runner")

_PROBE_CODECS = (constants.Codec.H264.value, constants.Codec.HEVC.value, constants.Codec.AV1.value)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the command, return (and exit with) its code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # CUDA numbers GPUs fastest-first by default; NVML (and so the probe) by PCI bus.
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    try:
        code = int(args.func(args))
    except pydantic.ValidationError as exc:
        log.error("invalid TRANSCODER_* setting: %s", errors.one_line(str(exc)))
        code = int(contract.ExitCode.INTERNAL)
    except Exception:  # the last resort: a bug, reported as such
        log.exception("transcode-runner failed")
        code = int(contract.ExitCode.INTERNAL)
    if argv is None:
        sys.exit(code)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="transcode-runner", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a transcode job")
    run.add_argument("--spec", type=Path, help="standalone: a TranscodeJob (or spec) YAML file")
    run.set_defaults(func=_run)
    abort = commands.add_parser(contract.ABORT_UPLOADS_COMMAND,
                                help="abort the multipart uploads a killed attempt left open")
    abort.add_argument("--spec", type=Path, help="standalone: a TranscodeJob (or spec) YAML "
                       "file; the ledger is open-uploads.json in the scratch directory")
    abort.set_defaults(func=_abort_uploads)
    prb = commands.add_parser("probe", help="probe NVENC on this machine")
    prb.add_argument("--json", action="store_true", help="print JSON")
    prb.add_argument("--report", action="store_true",
                     help="publish to Redis (kt:gpu:{node}) every interval until stopped")
    prb.add_argument("--codec", action="append", choices=[c.value for c in constants.Codec],
                     help="codec to judge (repeatable; default h264, hevc, av1)")
    prb.set_defaults(func=_probe)
    return parser


# --- run ---------------------------------------------------------------------------
def _run(args: argparse.Namespace) -> int:
    cancel = threading.Event()
    _on_signals(cancel)  # from the start: a SIGTERM while setting up still ends cleanly
    cfg = settings.Settings()
    standalone = args.spec is not None
    termination: Path | None = cfg.termination_message_path
    if standalone and "termination_message_path" not in cfg.model_fields_set:
        termination = None  # a workstation has no /dev/termination-log to write
    clock = seams.SystemClock()
    try:
        job = (jobfile.from_file(args.spec) if standalone
               else jobfile.from_env(cfg.job_spec, cfg.job_name, cfg.job_namespace))
    except errors.RunnerError as exc:
        reporter = report.Reporter(clock, attempt=cfg.attempt, termination_path=termination,
                                   sink=None if standalone else _sink(cfg))
        return _finish(pipeline.fail(exc, reporter))
    name = cfg.job_name or job.name
    namespace = cfg.job_namespace or job.namespace
    sink = None if standalone else _sink(cfg)
    reporter = report.Reporter(
        clock,
        attempt=cfg.attempt,
        pod_name=cfg.pod_name,
        sink=sink,
        open_uploads=_inherited_uploads(sink),  # before the first patch, which carries them
        redis=_redis(cfg),
        namespace=namespace,
        name=name,
        pod_uid=cfg.pod_uid,
        interval=cfg.status_interval_seconds,
        redis_interval=cfg.redis_progress_interval_seconds,
        redis_ttl=cfg.redis_progress_ttl_seconds,
        termination_path=termination,
    )
    ctx = pipeline.Context(
        settings=cfg,
        reporter=reporter,
        clock=clock,
        nvml=gpu.load_nvml(),
        cancel=cancel,
        environ=dict(os.environ),
        on_progress=_Bar(sys.stderr) if sys.stderr.isatty() else None,
        uploads=_ledger(reporter, cfg),
    )
    return _finish(pipeline.run(job.spec, ctx))


def _abort_uploads(args: argparse.Namespace) -> int:
    cfg = settings.Settings()
    job = (jobfile.from_file(args.spec) if args.spec is not None
           else jobfile.from_env(cfg.job_spec, cfg.job_name, cfg.job_namespace))
    sink = None if args.spec is not None else _sink(cfg)
    if args.spec is None and sink is None:
        log.error("cannot read status.runner.openUploads without the Kubernetes API")
        return int(contract.ExitCode.TRANSIENT)
    read = getattr(sink, "open_uploads", None)
    reporter = report.Reporter(seams.SystemClock(), attempt=cfg.attempt, pod_name=cfg.pod_name,
                               sink=sink, open_uploads=list(read()) if read else None)
    return abortuploads.run(job.spec, pipeline.Context(settings=cfg, reporter=reporter,
                                                       uploads=_ledger(reporter, cfg)))


def _ledger(reporter: report.Reporter, cfg: settings.Settings) -> ledger.Store:
    """Where the UploadIds of this job's multipart uploads are recorded: in a Pod
    `status.runner` (the next Pod and the cleanup Pod read it); standalone, a file."""
    return (ledger.StatusLedger(reporter) if reporter.sink is not None
            else ledger.FileLedger(cfg.scratch_dir / ledger.FILE_NAME))


def _inherited_uploads(sink: report.StatusSink | None) -> list[status.OpenUpload] | None:
    """The previous attempt's unfinished multipart uploads from `status.runner`."""
    read = getattr(sink, "open_uploads", None)
    if read is None:
        return None
    try:
        return list(read()) or None
    except Exception as exc:  # noqa: BLE001 - without it only a killed attempt's leftovers stay
        log.warning("cannot read status.runner.openUploads (a killed attempt's multipart "
                    "uploads stay open): %s", errors.one_line(str(exc)))
        return None


def _finish(result: status.RunnerResult) -> int:
    print(json.dumps(result.to_dict(), separators=(",", ":")), flush=True)
    return int(result.exit_code)


def _sink(cfg: settings.Settings) -> report.StatusSink | None:
    if not (cfg.job_name and cfg.job_namespace):
        log.warning("TRANSCODER_JOB_NAME/NAMESPACE unset: status.runner will not be patched")
        return None
    try:
        return report.KubeStatusSink(cfg.job_namespace, cfg.job_name, cfg.job_uid)
    except Exception as exc:  # noqa: BLE001 - the termination message still reports
        log.warning("no Kubernetes client (status.runner will not be patched): %s", exc)
        return None


def _redis(cfg: settings.Settings) -> Any:
    if cfg.redis_url and not cfg.pod_uid:
        log.warning("%s unset: no Redis progress (the operator takes it only from a "
                    "known Pod)", contract.ENV_POD_UID)
        return None
    try:
        return _connect(cfg)
    except Exception as exc:  # noqa: BLE001 - Redis is optional
        log.warning("Redis unavailable (progress goes to the CR only): %s", exc)
        return None


def _connect(cfg: settings.Settings) -> Any:
    password = cfg.redis_password.get_secret_value() if cfg.redis_password else None
    return report.connect_redis(cfg.redis_url, cfg.redis_username, password)


def _on_signals(cancel: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        log.warning("received %s: stopping", signal.Signals(signum).name)
        cancel.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class _Bar:
    """A one-line progress bar for a terminal."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream, self.width = stream, width

    def __call__(self, snapshot: progress.Progress) -> None:
        filled = int(self.width * snapshot.percent / 100)
        speed = f" {snapshot.speed:.2f}x" if snapshot.speed else ""
        fps = f" {snapshot.fps:.0f} fps" if snapshot.fps else ""
        end = "\n" if snapshot.percent >= 100 else ""
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] "
                          f"{snapshot.percent:5.1f}%{speed}{fps}   {end}")
        self.stream.flush()


# --- probe -------------------------------------------------------------------------
def _probe(args: argparse.Namespace) -> int:
    cfg = settings.Settings()
    codecs = tuple(args.codec or _PROBE_CODECS)
    runner = seams.SubprocessRunner()
    nvml = gpu.load_nvml()
    prober = _prober(cfg, nvml, runner)
    if not args.report:
        document = probe_document(prober, codecs, cfg.node_name)
        print(json.dumps(document, indent=2) if args.json else _human(document))
        return 0
    client = _connect(cfg)
    if client is None:
        log.error("probe --report needs TRANSCODER_REDIS_URL")
        return int(contract.ExitCode.BAD_INPUT)
    stop = threading.Event()
    _on_signals(stop)
    key = contract.gpu_key(cfg.node_name)
    ttl = max(1, math.ceil(cfg.probe_report_interval_seconds * 3))
    while not stop.is_set():
        document = probe_document(prober, codecs, cfg.node_name)
        try:
            client.set(key, json.dumps(document, separators=(",", ":")), ex=ttl)
        except Exception as exc:  # noqa: BLE001 - try again next round
            log.warning("Redis report failed: %s", exc)
        stop.wait(cfg.probe_report_interval_seconds)
        prober = _prober(cfg, nvml, runner, keep=prober)
    return 0


def _prober(cfg: settings.Settings, nvml: Any, runner: seams.ProcessRunner,
            keep: probe.Prober | None = None) -> probe.Prober:
    fresh = probe.Prober(nvml=nvml, runner=runner, ffmpeg=cfg.ffmpeg_path,
                         timeout=cfg.probe_timeout_seconds, min_free_mib=cfg.min_free_gpu_memory_mib,
                         device_index=cfg.gpu_device_index, environ=dict(os.environ))
    if keep is not None:
        fresh.reuse_ffmpeg_checks(keep)  # NVML is read again; FFmpeg's answers do not change
    return fresh


def probe_document(prober: probe.Prober, codecs: Sequence[str], node: str) -> dict[str, Any]:
    """What `probe --json` prints and `--report` stores."""
    return {
        "node": node,
        "updatedAt": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        **prober.capability.to_json(),
        "decisions": [prober.decide(codec).to_json() for codec in codecs],
    }


def _human(document: dict[str, Any]) -> str:
    cap = document
    lines = [f"node {document['node']}: {cap['deviceCount']} GPU(s), driver "
             f"{cap['driverVersion'] or '-'}, CUDA {cap['cudaVersion'] or '-'}"]
    if cap["nvmlError"]:
        lines.append(f"  NVML: {cap['nvmlError']}")
    for device in cap["devices"]:
        lines.append(
            f"  [{device['index']}] {device['name']}: {device['memoryFreeMiB']}/"
            f"{device['memoryTotalMiB']} MiB free, util {device['utilizationPercent']}%, "
            f"encoder {device['encoderUtilizationPercent']}%, sessions "
            f"{device['encoderSessions']}, {device['temperatureC']} C")
    for decision in document["decisions"]:
        verdict = "usable" if decision["usable"] else f"not usable ({decision['reason']})"
        lines.append(f"  {decision['codec']}: {decision['encoder'] or '-'} {verdict}: "
                     f"{decision['message']}")
    return "\n".join(lines)
