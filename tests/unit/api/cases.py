"""Shared bad-input cases for the TranscodeJob API, used by two test tiers.

`tests/unit/api/test_spec_rules.py` feeds each case to `spec.parse_spec` (the
operator's second validation) and `tests/e2e/test_api_admission.py` feeds the
same case to the real API server through `kubectl apply`; both assert that the
error names the same field. Every paired `base.Rule` in the model must be hit by
at least one case (checked by the unit tests).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

Spec = dict[str, Any]


def valid_spec() -> Spec:
    """A spec every layer accepts: the DESIGN.md example, with a local S3 endpoint."""
    return {
        "source": "s3://media-in/trailer.mov",
        "storage": {
            "endpoint": "http://127.0.0.1:9000",
            "pathStyle": True,
            "credentialsSecretRef": {"name": "media-s3"},
        },
        "acceleration": {"mode": "auto", "allowCpuFallback": True, "gpuPendingTimeout": "2m"},
        "outputs": [
            {
                "name": "720p",
                "destination": "s3://media-out/trailer/720p.mp4",
                "video": {"codec": "h264", "preset": "medium", "resolution": "720p", "bitrate": 3000000},
                "audio": {"codec": "aac", "bitrate": 128000},
            },
            {
                "name": "480p",
                "destination": "s3://media-out/trailer/480p.mp4",
                "video": {"codec": "h264", "preset": "medium", "resolution": "480p", "bitrate": 1200000},
            },
        ],
        "backoffLimit": 3,
        "ttlSecondsAfterFinished": 86400,
    }


@dataclasses.dataclass(frozen=True)
class Case:
    """One refused spec: how to break a valid one, which field must be named, and how.

    `message` must appear in both errors; `py_message`/`api_message` replace it
    on one side where pydantic and the API server word a schema error differently.
    `rule` is the paired rule's message (None for plain schema bounds).
    """

    id: str
    mutate: Callable[[Spec], None]
    field: str
    message: str
    py_message: str | None = None
    api_message: str | None = None
    rule: bool = True
    secret: str | None = None
    """A value that must not be echoed in either error (credentials in a URL)."""

    def spec(self) -> Spec:
        data = copy.deepcopy(valid_spec())
        self.mutate(data)
        return data


def _video(**kv: Any) -> Callable[[Spec], None]:
    def mutate(s: Spec) -> None:
        s["outputs"][0]["video"] = dict(kv)

    return mutate


def _set(path: str, value: Any) -> Callable[[Spec], None]:
    def mutate(s: Spec) -> None:
        node: Any = s
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[parts[-1]] = value

    return mutate


def _both(*fns: Callable[[Spec], None]) -> Callable[[Spec], None]:
    def mutate(s: Spec) -> None:
        for fn in fns:
            fn(s)

    return mutate


V0 = "spec.outputs[0].video"


def _pack(fmt: str, seconds: int = 4) -> Callable[[Spec], None]:
    return _set("packaging", {"format": fmt, "destination": "s3://media-out/streams/trailer/",
                              "segmentSeconds": seconds})

CPU, GPU = _set("acceleration.mode", "cpu"), _set("acceleration.mode", "gpu")
T = "spec.thumbnails"


def _thumbs(**parts: Any) -> Callable[[Spec], None]:
    return _set("thumbnails", {"destination": "s3://media-out/pictures/trailer/",
                               **({"poster": {}} if not parts else parts)})

RULE_CASES = [
    Case("hdr-preserve-h264", _video(codec="h264", hdr="preserve"), f"{V0}.hdr",
         "hdr preserve needs a 10-bit codec"),
    Case("hdr-preserve-libx264", _video(encoder="libx264", hdr="preserve"), f"{V0}.hdr",
         "hdr preserve needs a 10-bit codec"),
    Case("hdr-preserve-h264-nvenc", _video(encoder="h264_nvenc", hdr="preserve"), f"{V0}.hdr",
         "hdr preserve needs a 10-bit codec"),
    Case("hdr-preserve-default-codec", _video(hdr="preserve"), f"{V0}.hdr",
         "hdr preserve needs a 10-bit codec"),
    Case("frame-rate-and-cap", _video(codec="h264", frameRate=30, maxFrameRate=25),
         f"{V0}.frameRate", "set either frameRate (fixed) or maxFrameRate (cap), not both"),
    Case("twopass-gpu-encoder", _video(encoder="h264_nvenc", twoPass=True, bitrate=3000000),
         f"{V0}.twoPass", "twoPass is CPU-only and cannot be used with a GPU encoder"),
    Case("twopass-nvenc-preset", _video(codec="h264", preset="p5", twoPass=True, bitrate=3000000),
         f"{V0}.twoPass", "cannot be used with an NVENC preset"),
    Case("twopass-without-bitrate", _video(codec="h264", twoPass=True),
         f"{V0}.twoPass", "twoPass needs a target bitrate"),
    Case("encoder-codec-mismatch", _video(codec="hevc", encoder="libx264"),
         f"{V0}.encoder", "encoder must produce the requested codec"),
    Case("nvenc-preset-cpu-encoder", _video(encoder="libx264", preset="p4"),
         f"{V0}.preset", "presets p1..p7 are NVENC presets"),
    Case("cpu-preset-gpu-encoder", _video(encoder="hevc_nvenc", preset="cpu"),
         f"{V0}.preset", "preset cpu forces CPU encoding"),
    Case("resolution-and-width", _video(codec="h264", resolution="720p", width=1280),
         f"{V0}.resolution", "either resolution or width/height"),
    Case("odd-width", _video(codec="h264", width=1279, height=720),
         f"{V0}.width", "width must be an even number"),
    Case("odd-height", _video(codec="h264", width=1280, height=721),
         f"{V0}.height", "height must be an even number"),
    Case("max-bitrate-below-bitrate", _video(codec="h264", bitrate=3000000, maxBitrate=2000000),
         f"{V0}.maxBitrate", "maxBitrate must be at least bitrate"),
    Case("crf-with-gpu-encoder", _video(encoder="h264_nvenc", crf=23),
         f"{V0}.crf", "crf is a CPU-encoder setting"),
    Case("cq-with-cpu-encoder", _video(encoder="libx265", cq=23),
         f"{V0}.cq", "cq is an NVENC setting"),
    Case("audio-bitrate-with-copy", _set("outputs.0.audio", {"codec": "copy", "bitrate": 128000}),
         "spec.outputs[0].audio.bitrate", "bitrate applies only when audio is encoded"),
    Case("destination-not-s3", _set("outputs.0.destination", "https://media-out/720p.mp4"),
         "spec.outputs[0].destination", "destination must be an s3://bucket/key URL"),
    Case("webm-with-h264", _set("outputs.0.container", "webm"),
         "spec.outputs[0].container", "container webm needs video codec vp9 or av1"),
    Case("webm-with-aac", _both(_set("outputs.0.container", "webm"), _video(codec="vp9")),
         "spec.outputs[0].container", "container webm needs audio codec opus"),
    # --- URL hygiene (issue 11 items 4 and 5): credentials refused without echo ---
    Case("source-userinfo", _set("source", "https://viewer:Hunter2pw@cdn.example/in.mov"),
         "spec.source", "source must not carry credentials", secret="Hunter2pw"),
    Case("s3-source-userinfo", _set("source", "s3://AKIAX:Hunter2pw@media-in/in.mov"),
         "spec.source", "source must not carry credentials", secret="Hunter2pw"),
    Case("endpoint-userinfo", _set("storage.endpoint", "http://AKIAX:Hunter2pw@127.0.0.1:9000"),
         "spec.storage.endpoint", "endpoint must not carry credentials", secret="Hunter2pw"),
    Case("notify-userinfo", _set("notify", {"url": "https://hook:Hunter2pw@hooks.example.com/x"}),
         "spec.notify.url", "notify.url must not carry credentials", secret="Hunter2pw"),
    Case("notify-ftp", _set("notify", {"url": "ftp://hooks.example.com/x"}),
         "spec.notify.url", "notify.url must be an http:// or https:// URL"),
    Case("destination-query", _set("outputs.0.destination", "s3://media-out/trailer/720p.mp4?v=2"),
         "spec.outputs[0].destination", "destination must not contain '?', '#'"),
    Case("destination-fragment", _set("outputs.0.destination", "s3://media-out/720p.mp4#x"),
         "spec.outputs[0].destination", "destination must not contain '?', '#'"),
    Case("destination-empty-segment", _set("outputs.0.destination", "s3://media-out//720p.mp4"),
         "spec.outputs[0].destination", "an empty path segment"),
    Case("source-ftp", _set("source", "ftp://media-in/trailer.mov"),
         "spec.source", "source must be an s3://bucket/key or https:// URL"),
    Case("source-plain-http", _set("source", "http://example.com/trailer.mov"),
         "spec.source", "source must be an s3://bucket/key or https:// URL"),
    Case("duplicate-output-names", _set("outputs.1.name", "720p"),
         "spec.outputs", "output names must be unique"),
    Case("duplicate-destinations", _set("outputs.1.destination", "s3://media-out/trailer/720p.mp4"),
         "spec.outputs", "output destinations must be unique"),
    Case("gpu-encoder-with-mode-cpu", _both(CPU, _video(encoder="h264_nvenc")),
         "spec.acceleration.mode", "GPU-only encoder"),
    Case("nvenc-preset-with-mode-cpu", _both(CPU, _video(codec="h264", preset="p6")),
         "spec.acceleration.mode", "NVENC presets p1..p7"),
    Case("cpu-encoder-with-mode-gpu", _both(GPU, _video(encoder="libx264")),
         "spec.acceleration.mode", "acceleration.mode gpu cannot use a CPU encoder"),
    Case("cpu-preset-with-mode-gpu", _both(GPU, _video(codec="h264", preset="cpu")),
         "spec.acceleration.mode", "acceleration.mode gpu cannot use preset cpu"),
    Case("twopass-with-mode-gpu", _both(GPU, _video(codec="h264", twoPass=True, bitrate=3000000)),
         "spec.acceleration.mode", "twoPass is CPU-only and cannot run with acceleration.mode gpu"),
    Case("gpu-pending-timeout-too-long", _set("acceleration.gpuPendingTimeout", "25h"),
         "spec.acceleration.gpuPendingTimeout", "gpuPendingTimeout must be at most 24h"),
    Case("gpu-in-resources", _set("resources", {"limits": {"nvidia.com/gpu": 1}}),
         "spec.resources", "nvidia.com/gpu is set by the operator"),
    Case("bad-quantity-requests", _set("resources", {"requests": {"cpu": "two"}}),
         "spec.resources.requests", "requests values must be Kubernetes quantities"),
    Case("bad-quantity-limits", _set("resources", {"limits": {"memory": "4GB"}}),
         "spec.resources.limits", "limits values must be Kubernetes quantities"),
    Case("toleration-exists-with-value",
         _set("tolerations", [{"key": "dedicated", "operator": "Exists", "value": "video"}]),
         "spec.tolerations[0].value", "operator Exists must not set value"),
    # --- audio tracks and subtitles (issue 10 item 4) ---
    Case("audio-tracks-and-languages", _set("outputs.0.audio", {"tracks": "all", "languages": ["eng"]}),
         "spec.outputs[0].audio.languages", "set either tracks (default or all) or languages"),
    Case("audio-downmix-with-copy", _set("outputs.0.audio", {"codec": "copy", "channels": "stereo"}),
         "spec.outputs[0].audio.channels", "channels stereo or mono needs the audio encoded"),
    Case("subtitle-languages-with-mode-none",
         _set("outputs.0.subtitles", {"mode": "none", "languages": ["eng"]}),
         "spec.outputs[0].subtitles.languages", "subtitles.languages filters copied tracks"),
    # --- adaptive streaming packaging (issue 13 item 1) ---
    *[Case(f"packaging-{fmt}-{what}", _both(_pack(fmt), change), "spec.packaging.format", message)
      for fmt, what, change, message in (
          ("hls", "webm", _both(_set("outputs.0.container", "webm"), _video(codec="vp9"),
                                _set("outputs.0.audio", {"codec": "opus"})), "container mp4"),
          ("hls", "vp9", _video(codec="vp9"), "packaging format hls carries video codecs"),
          ("hls", "av1", _video(encoder="libsvtav1"), "packaging format hls carries video codecs"),
          ("cmaf", "vp9", _video(codec="vp9"), "packaging format cmaf carries video codecs"),
          ("dash", "copy", _set("outputs.0.audio", {"codec": "copy"}),
           "packaging format dash carries audio codecs"),
          ("hls", "opus", _set("outputs.0.audio", {"codec": "opus"}),
           "packaging format hls carries audio codecs"),
          ("cmaf", "copy", _set("outputs.0.audio", {"codec": "copy"}),
           "packaging format cmaf carries audio codecs"))],
    Case("packaging-prefix-without-slash", _both(_pack("cmaf"), _set("packaging.destination",
         "s3://media-out/hls")), "spec.packaging.destination", "ending in '/'"),
    Case("packaging-dot-segment", _both(_pack("cmaf"), _set("packaging.destination",
         "s3://media-out/a/../b/")), "spec.packaging.destination", "'.' or '..' path segments"),
    Case("packaging-empty-segment", _both(_pack("dash"), _set("packaging.destination",
         "s3://media-out/a//b/")), "spec.packaging.destination", "empty path segment"),
    Case("packaging-holds-an-output", _both(_pack("hls"), _set("packaging.destination",
         "s3://media-out/trailer/")), "spec.packaging.destination",
         "must not hold an output's destination"),
    # --- thumbnails, sprite storyboards and previews (issue 13 item 3) ---
    *[Case(f"thumbnails-destination-{what}", _both(_thumbs(), _set("thumbnails.destination", url)),
           f"{T}.destination", message) for what, url, message in (
          ("without-slash", "s3://media-out/pictures", "thumbnails.destination must be an s3://"),
          ("https", "https://cdn.example.com/pictures/", "thumbnails.destination must be an s3://"),
          ("dot-segment", "s3://media-out/a/../b/", "thumbnails.destination must not contain '.'"),
          ("empty-segment", "s3://media-out/a//b/", "empty path segment"),
          ("holds-an-output", "s3://media-out/trailer/",
           "thumbnails.destination must not hold an output's destination"))],
    Case("thumbnails-asks-for-nothing", _set("thumbnails", {"destination": "s3://media-out/p/"}),
         f"{T}.destination", "thumbnails needs at least one of poster, sprite and preview"),
    Case("thumbnails-preview-too-many-frames", _thumbs(preview={"seconds": 60, "fps": 30}),
         f"{T}.preview.seconds", "thumbnails.preview.seconds x fps must be at most 600 frames"),
    Case("thumbnails-preview-more-clips-than-frames",
         _thumbs(preview={"seconds": 1, "fps": 2, "clips": 5}), f"{T}.preview.clips",
         "thumbnails.preview.clips must be at most seconds x fps"),
]

SCHEMA_CASES = [
    Case("video-bitrate-too-low", _video(codec="h264", bitrate=1000), f"{V0}.bitrate",
         "greater than or equal to 64000", rule=False),
    Case("video-bitrate-too-high", _video(codec="h264", bitrate=300_000_000), f"{V0}.bitrate",
         "less than or equal to 200000000", rule=False),
    Case("audio-bitrate-too-high", _set("outputs.0.audio.bitrate", 600_000),
         "spec.outputs[0].audio.bitrate", "less than or equal to 512000", rule=False),
    Case("audio-bitrate-too-low", _set("outputs.0.audio.bitrate", 8000),
         "spec.outputs[0].audio.bitrate", "greater than or equal to 16000", rule=False),
    Case("width-too-large", _video(codec="h264", width=8000), f"{V0}.width",
         "less than or equal to 7680", rule=False),
    Case("frame-rate-too-high", _video(codec="h264", frameRate=500), f"{V0}.frameRate",
         "less than or equal to 240", rule=False),
    Case("unknown-hdr-mode", _video(codec="hevc", hdr="keep"), f"{V0}.hdr", "preserve",
         py_message="Input should be 'auto', 'preserve' or 'tonemap'",
         api_message='supported values: "auto", "preserve", "tonemap"', rule=False),
    Case("height-too-small", _video(codec="h264", height=8), f"{V0}.height",
         "greater than or equal to 16", rule=False),
    Case("output-name-not-dns-label", _set("outputs.0.name", "Bad_Name"), "spec.outputs[0].name",
         "should match", rule=False),
    Case("no-outputs", _set("outputs", []), "spec.outputs", "at least 1 item",
         api_message="should have at least 1 items", rule=False),
    Case("too-many-outputs",
         _set("outputs", [{"name": f"o{i}", "destination": f"s3://media-out/o{i}.mp4"} for i in range(17)]),
         "spec.outputs", "at most 16 items", rule=False),
    Case("unknown-codec", _video(codec="mpeg2"), f"{V0}.codec", "hevc",
         py_message="Input should be 'h264', 'hevc', 'av1' or 'vp9'",
         api_message='supported values: "h264", "hevc", "av1", "vp9"', rule=False),
    Case("unknown-mode", _set("acceleration.mode", "fast"), "spec.acceleration.mode", "cpu",
         py_message="Input should be 'auto', 'gpu' or 'cpu'",
         api_message='supported values: "auto", "gpu", "cpu"', rule=False),
    Case("unknown-field", _set("outputs.0.video.fps", 30), f"{V0}.fps", "",
         py_message="Extra inputs are not permitted", api_message="unknown field", rule=False),
    Case("bad-duration", _set("acceleration.gpuPendingTimeout", "2 minutes"),
         "spec.acceleration.gpuPendingTimeout", "should match", rule=False),
    Case("negative-backoff-limit", _set("backoffLimit", -1), "spec.backoffLimit",
         "greater than or equal to 0", rule=False),
    Case("bad-endpoint", _set("storage.endpoint", "s3.example.com"), "spec.storage.endpoint",
         "should match", rule=False),
    # --- audio tracks and subtitles (issue 10 item 4) ---
    Case("audio-language-uppercase", _set("outputs.0.audio.languages", ["EN"]),
         "spec.outputs[0].audio.languages[0]", "should match", rule=False),
    Case("audio-languages-empty", _set("outputs.0.audio.languages", []),
         "spec.outputs[0].audio.languages", "", py_message="at least 1 item",
         api_message="should have at least 1 items", rule=False),
    Case("unknown-audio-tracks", _set("outputs.0.audio.tracks", "first"),
         "spec.outputs[0].audio.tracks", "all", py_message="Input should be 'default' or 'all'",
         api_message='supported values: "default", "all"', rule=False),
    Case("unknown-audio-channels", _set("outputs.0.audio.channels", "5.1"),
         "spec.outputs[0].audio.channels", "stereo",
         py_message="Input should be 'keep', 'stereo' or 'mono'",
         api_message='supported values: "keep", "stereo", "mono"', rule=False),
    Case("unknown-subtitle-mode", _set("outputs.0.subtitles", {"mode": "burn"}),
         "spec.outputs[0].subtitles.mode", "copy", py_message="Input should be 'none' or 'copy'",
         api_message='supported values: "none", "copy"', rule=False),
]

SCHEMA_CASES += [
    Case(f"packaging-segment-{seconds}s", _pack("cmaf", seconds), "spec.packaging.segmentSeconds",
         bound, rule=False) for seconds, bound in ((0, "greater than or equal to 1"),
                                                   (31, "less than or equal to 30"))
] + [Case("packaging-unknown-format", _pack("smooth"), "spec.packaging.format", "cmaf",
          py_message="Input should be 'hls', 'dash' or 'cmaf'",
          api_message='supported values: "hls", "dash", "cmaf"', rule=False)]

SCHEMA_CASES += [
    Case(f"thumbnails-{part}-{field}-{value}", _thumbs(**{part: {field: value}}),
         f"{T}.{part}.{field}", bound, rule=False)
    for part, field, value, bound in (
        ("poster", "atSeconds", -1, "greater than or equal to 0"),
        ("poster", "width", 8000, "less than or equal to 3840"),
        ("sprite", "intervalSeconds", 0.1, "greater than or equal to 0.5"),
        ("sprite", "columns", 21, "less than or equal to 20"),
        ("sprite", "rows", 0, "greater than or equal to 1"),
        ("sprite", "tileWidth", 16, "greater than or equal to 32"),
        ("sprite", "tileWidth", 1000, "less than or equal to 640"),
        ("preview", "clips", 21, "less than or equal to 20"),
        ("preview", "fps", 60, "less than or equal to 30"),
        ("preview", "width", 1920, "less than or equal to 640"))
] + [Case("thumbnails-poster-png", _thumbs(poster={"format": "png"}), f"{T}.poster.format",
          "webp", py_message="Input should be 'jpeg' or 'webp'",
          api_message='supported values: "jpeg", "webp"', rule=False),
     Case("thumbnails-preview-mp4", _thumbs(preview={"format": "mp4"}), f"{T}.preview.format",
          "gif", py_message="Input should be 'webp' or 'gif'",
          api_message='supported values: "webp", "gif"', rule=False)]

ALL_CASES = RULE_CASES + SCHEMA_CASES
