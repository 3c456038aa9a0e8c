"""Benchmark: the runner end to end vs bare FFmpeg vs the naive download-encode-upload.

One source (60 s of 1080p testsrc2 + a tone by default, `--source-bitrate`), the same
encode in every row, in one run, against the local S3 server (versitygw, started here
from the test fixtures' cached build):

  (a) bare `ffmpeg`, local file -> local file (the runner's own argument list);
  (b) naive with boto3's transfer manager: `download_file`, the same `ffmpeg`,
      `upload_file`, all with boto3's defaults (ranged parts, 10 threads);
  (n) naive with one stream each way: `get_object` read to a file, the same
      `ffmpeg`, one `put_object` (what a plain HTTP client does);
  (c) the runner: `python -m transcode_runner run --spec job.yaml` with an s3://
      source and destination (probe, ranged download, ffprobe, encode, verified
      multipart upload, report).

Then (b), (n) and (c) again with the S3 server behind a relay on loopback that limits
every connection to `--throttle` MB/s (`dev.services.s3relay`, as a remote S3 limits
one connection; 0 skips these rows). Rows are interleaved per round, best of
`--repeat`. Prints each wall time and the ratios c/a (target <= 1.05), c/b, and behind
the relay c/b and c/n (target <= 0.85). Nothing is asserted; timings never live in tests.

    .venv/bin/python bench/runner_pipeline.py [--seconds 60] [--source-bitrate 8M]
        [--throttle 25] [--encoder libx264] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
for src in ("api/src", "job-runner/src", "."):
    if str(ROOT / src) not in sys.path:
        sys.path.insert(0, str(ROOT / src))

from dev import media as media_samples  # noqa: E402
from dev.services import s3relay, s3server  # noqa: E402
from transcode_api import contract, spec  # noqa: E402
from transcode_runner.domain import plan  # noqa: E402
from transcode_runner.io import jobfile, mediaprobe, seams  # noqa: E402


def make_source(path: Path, seconds: int, bitrate: str) -> None:
    media_samples.make_sample(path, seconds, preset="veryfast", bitrate=bitrate)

def job_spec(source: str, destination: str, encoder: str, endpoint: str, region: str
             ) -> dict[str, object]:
    return {
        "source": source,
        "storage": {"endpoint": endpoint, "region": region, "pathStyle": True},
        "outputs": [{"name": "720p", "destination": destination,
                     "video": {"encoder": encoder, "preset": "veryfast", "resolution": "720p",
                               "bitrate": 3_000_000},
                     "audio": {"codec": "aac", "bitrate": 128_000}}],
    }


def ffmpeg_argv(job: spec.TranscodeJobSpec, source: Path, scratch: Path) -> list[str]:
    """The runner's own FFmpeg argument list for this job and source (no probe)."""
    runner = seams.SubprocessRunner()
    info = mediaprobe.inspect_source(source, runner, "ffprobe", 60)
    choices = plan.choose(job, None)
    (argv,) = plan.build(job, info, choices, scratch).passes
    return list(argv)


def timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="source duration")
    parser.add_argument("--source-bitrate", default="8M", help="the source's video bitrate")
    parser.add_argument("--throttle", type=float, default=25.0,
                        help="MB/s per connection behind the relay (0: no relay rows)")
    parser.add_argument("--encoder", default="libx264", help="libx264, h264_nvenc, ...")
    parser.add_argument("--repeat", type=int, default=1, help="best of N, interleaved")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kt-bench-") as tmp, \
            s3server.S3Server(s3server.build_binary()) as server:
        work = Path(tmp)
        source = work / "source.mp4"
        print(f"making a {args.seconds} s 1080p source at {args.source_bitrate} ...", flush=True)
        make_source(source, args.seconds, args.source_bitrate)
        bucket = server.make_bucket()
        server.client().upload_file(str(source), bucket, "in/source.mp4")
        src_url = f"s3://{bucket}/in/source.mp4"
        print(f"source: {source.stat().st_size / 1e6:.1f} MB, encoder {args.encoder}")
        relay = (s3relay.Relay(server.port, s3relay.never, rate=args.throttle * 1e6)
                 if args.throttle > 0 else None)

        def document(destination: str, endpoint: str) -> dict[str, object]:
            return job_spec(src_url, destination, args.encoder, endpoint, server.region)

        parsed = jobfile.parse_local(document(f"s3://{bucket}/out/a.mp4", server.endpoint))
        (work / "a").mkdir()
        argv = ffmpeg_argv(parsed, source, work / "a")

        def bare() -> None:
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)

        def encode_in(folder: Path) -> Path:
            """The same encode with the source and output in `folder`; returns the output."""
            local = [a.replace(str(source.resolve()), str((folder / "source.mp4").resolve()))
                     .replace(str((work / "a").resolve()), str(folder.resolve())) for a in argv]
            subprocess.run(local, check=True, stdout=subprocess.DEVNULL)
            return folder / "out-720p.mp4"

        def naive(tag: str, endpoint: str) -> Callable[[], None]:
            client = server.client(endpoint)

            def go() -> None:
                folder = work / tag
                folder.mkdir(exist_ok=True)
                client.download_file(bucket, "in/source.mp4", str(folder / "source.mp4"))
                client.upload_file(str(encode_in(folder)), bucket, f"out/{tag}.mp4")
            return go

        def stream(tag: str, endpoint: str) -> Callable[[], None]:
            client = server.client(endpoint)

            def go() -> None:
                folder = work / tag
                folder.mkdir(exist_ok=True)
                body = client.get_object(Bucket=bucket, Key="in/source.mp4")["Body"]
                with body, (folder / "source.mp4").open("wb") as out:
                    while data := body.read(1024 * 1024):
                        out.write(data)
                with encode_in(folder).open("rb") as result:
                    client.put_object(Bucket=bucket, Key=f"out/{tag}.mp4", Body=result)
            return go

        def runner(tag: str, endpoint: str) -> Callable[[], None]:
            job_file = work / f"job-{tag}.yaml"
            job_file.write_text(yaml.safe_dump(
                {"spec": document(f"s3://{bucket}/out/{tag}.mp4", endpoint)}))
            env = {**os.environ, **server.env(), "TRANSCODER_SCRATCH_DIR": str(work / tag),
                   contract.ENV_NETWORK_ALLOW: '["127.0.0.1"]'}  # the loopback S3 and relay

            def go() -> None:
                done = subprocess.run([sys.executable, "-m", "transcode_runner", "run", "--spec",
                                       str(job_file)], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"the runner exited {done.returncode}:\n{done.stderr[-3000:]}")
            return go

        rows: dict[str, tuple[str, Callable[[], None]]] = {
            "a": ("(a) bare ffmpeg, local -> local", bare),
            "b": ("(b) naive: download_file, ffmpeg, upload_file", naive("b", server.endpoint)),
            "c": ("(c) transcode-runner run, s3 -> s3", runner("c", server.endpoint)),
        }
        if relay is not None:
            limit = f" [{args.throttle:g} MB/s per connection]"
            rows.update({
                "bt": ("(b) naive, boto3 transfer manager" + limit, naive("bt", relay.endpoint)),
                "nt": ("(n) naive, one stream each way" + limit, stream("nt", relay.endpoint)),
                "ct": ("(c) transcode-runner run" + limit, runner("ct", relay.endpoint)),
            })
        best: dict[str, float] = {}
        for round_ in range(args.repeat):  # interleaved, so a busy moment hits every row
            for key, (label, fn) in rows.items():
                elapsed = timed(fn)
                best[key] = min(best.get(key, elapsed), elapsed)
                print(f"round {round_ + 1}: {label:<62} {elapsed:8.2f} s", flush=True)
        for key, (label, _) in rows.items():
            print(f"best: {label:<62} {best[key]:8.2f} s")
        print(f"c/a = {best['c'] / best['a']:.3f}  (target <= 1.05)")
        print(f"c/b = {best['c'] / best['b']:.3f}  (unlimited loopback)")
        if relay is not None:
            print(f"behind the relay: c/b = {best['ct'] / best['bt']:.3f}, "
                  f"c/n = {best['ct'] / best['nt']:.3f}  (target <= 0.85)")
            relay.close()


if __name__ == "__main__":
    main()
