"""Device check: on a GPU with NVDEC but no NVENC (H100/H200/A100), the hybrid plan vs a CPU decode.

For the GPU machine the `device` tool lends on some tasks. In one run:

  1. the probe reads the real NVML (pynvml) and must report `NoEncoderOnDevice`
     for h264, with NVDEC present (decoder utilization readable);
  2. `nvdec.decide` runs its one-frame CUDA test decode on a generated source;
  3. the same job (1080p30 H.264 source -> 720p libx264, veryfast) is encoded by
     the runner's own code (`plan.build` + `encode.Encoder`) twice: decoded on
     NVDEC (hybrid: `-hwaccel cuda`, `scale_cuda`, `hwdownload`, libx264) and
     decoded on the CPU; both outputs are checked (frame count, size);
  4. prints both wall times, the speed ratio (CPU-decode time / hybrid time) and
     the `status.metadata` the runner would write (decoder, encoder, fallback).

Without a GPU it prints why and exits 0 ("no GPU: ..."). Needs nothing beyond
`pip install -e .[runner]` and Debian's ffmpeg. Nothing is asserted; timings
never live in tests.

    .venv/bin/python bench/device_hybrid.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for src in ("api/src", "job-runner/src", "."):
    if str(ROOT / src) not in sys.path:
        sys.path.insert(0, str(ROOT / src))

from dev import media as media_samples  # noqa: E402
from transcode_api import constants, spec  # noqa: E402
from transcode_runner.app import gpuchoice  # noqa: E402
from transcode_runner.domain import graph, media, plan  # noqa: E402
from transcode_runner.io import encode, gpu, mediaprobe, nvdec, probe, seams  # noqa: E402


def job() -> spec.TranscodeJobSpec:
    return spec.parse_spec({
        "source": "s3://bench/in.mp4",
        "outputs": [{"name": "720p", "destination": "s3://bench/out/720p.mp4",
                     "video": {"codec": "h264", "preset": "veryfast", "resolution": "720p",
                               "bitrate": 3_000_000},
                     "audio": {"codec": "aac", "bitrate": 128_000}}],
    })


def frames(path: Path) -> tuple[int, int, int]:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                          "-show_entries", "stream=width,height,nb_read_frames", "-of", "json",
                          str(path)], check=True, capture_output=True, text=True, timeout=300)
    stream = json.loads(out.stdout)["streams"][0]
    return int(stream["width"]), int(stream["height"]), int(stream["nb_read_frames"])


def encode_once(the_job: spec.TranscodeJobSpec, source: media.MediaInfo,
                choices: tuple[plan.Choice, ...], decode: graph.Decode, scratch: Path
                ) -> tuple[float, encode.Outcome]:
    scratch.mkdir(parents=True, exist_ok=True)
    runner = seams.SubprocessRunner()
    encoder = encode.Encoder(runner, seams.SystemClock(), stall_timeout=120)

    def build(current: list[plan.Choice] | tuple[plan.Choice, ...]) -> plan.Plan:
        return plan.build(the_job, source, current, scratch, "ffmpeg", decode)

    started = time.perf_counter()
    outcome = encoder.run_with_fallback(build, choices, source.duration, True, lambda s: None)
    return time.perf_counter() - started, outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="source length (1080p30)")
    args = parser.parse_args()
    nvml = gpu.load_nvml()
    capability = gpu.inventory(nvml)
    if capability.nvml_error is not None or capability.device_count == 0:
        print(f"no GPU: {capability.nvml_error or 'NVML sees no device'}; "
              "nothing to measure (run this on a lent H100/H200)")
        return 0
    runner = seams.SubprocessRunner()
    for device in capability.devices:
        print(f"GPU {device.index}: {device.name}, NVENC {device.nvenc_supported}, "
              f"NVDEC {device.nvdec_supported} (decoder utilization "
              f"{device.decoder_utilization_percent}%)")
    decision = probe.Prober(nvml, runner).decide("h264")
    print(f"probe h264: usable={decision.usable} reason={decision.reason}: {decision.message}")
    if decision.reason != constants.FallbackReason.NO_ENCODER_ON_DEVICE:
        print("note: this GPU is not NVDEC-only; the hybrid plan is for NoEncoderOnDevice")
    the_job = job()
    choices = plan.choose(the_job, lambda codec: decision)
    with tempfile.TemporaryDirectory(prefix="device-hybrid-") as folder:
        work = Path(folder)
        sample = media_samples.make_sample(work / "in.mp4", args.seconds, preset="veryfast",
                                           bitrate="8M")
        source = mediaprobe.inspect_source(sample, runner, "ffprobe", 60)
        decode = nvdec.decide(capability, source, runner, "ffmpeg", 60)
        print(f"decode: gpu={decode.gpu}: {decode.message}")
        if not decode.gpu:
            print("NVDEC cannot decode the sample here; no hybrid run to compare")
            return 1
        hybrid_s, hybrid = encode_once(the_job, source, choices, decode, work / "hybrid")
        cpu_s, cpu = encode_once(the_job, source, choices, graph.CPU, work / "cpu")
        for name, outcome, wall in (("hybrid", hybrid, hybrid_s), ("cpu-decode", cpu, cpu_s)):
            out = outcome.plan.outputs[0]
            width, height, count = frames(out.path)
            meta = gpuchoice.metadata(choices, outcome, source.duration)
            print(f"{name}: {wall:.2f} s wall, {source.duration / wall:.2f}x realtime, "
                  f"{width}x{height}, {count} frames, decoder={meta.decoder}, "
                  f"encoder={meta.encoder_used}, fallbackReason={meta.fallback_reason}, "
                  f"decoderMessage={meta.decoder_message!r}")
        print(f"ratio cpu-decode/hybrid wall time: {cpu_s / hybrid_s:.2f} "
              "(>1: the hybrid plan is faster)")
        argv = hybrid.plan.passes[-1]
        print("hybrid argv:", " ".join(argv[:argv.index("-map")]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
