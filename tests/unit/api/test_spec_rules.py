"""Every admission rule, checked on the Python side: the error names the field.

The same cases (tests/unit/api/cases.py) go through the real API server in
tests/e2e/test_api_admission.py; here `spec.parse_spec` must refuse each one
with the same field path, and every paired rule of every model must be hit.
"""

from __future__ import annotations

import pytest

from tests.unit.api import cases
from transcode_api import base, errors, output, packaging, placement, spec, thumbnails


def test_valid_spec_is_accepted() -> None:
    parsed = spec.parse_spec(cases.valid_spec())
    assert [o.name for o in parsed.outputs] == ["720p", "480p"]


@pytest.mark.parametrize("case", cases.ALL_CASES, ids=lambda c: c.id)
def test_case_is_refused_naming_the_field(case: cases.Case) -> None:
    with pytest.raises(errors.SpecError) as info:
        spec.parse_spec(case.spec())
    fields = info.value.fields
    assert case.field in fields, f"{case.field} not named in {info.value}"
    wanted = case.py_message or case.message
    message = dict(info.value.problems)[case.field]
    assert wanted in message
    assert case.field in str(info.value)
    if case.secret:  # credentials in a URL are refused without being echoed
        assert case.secret not in str(info.value) and case.secret not in repr(info.value.problems)


def _all_rules() -> list[base.Rule]:
    models = [
        spec.TranscodeJobSpec, spec.Acceleration, spec.Storage, spec.CredentialsSecretRef,
        output.OutputSpec, output.VideoSpec, output.AudioSpec, output.SubtitleSpec,
        placement.ResourceRequirements, placement.Toleration, packaging.PackagingSpec,
        thumbnails.ThumbnailsSpec, thumbnails.PreviewSpec,
    ]
    return [r for m in models for r in m.__rules__]


def test_every_rule_has_a_case() -> None:
    messages = {c.message for c in cases.RULE_CASES}
    missing = [r.message for r in _all_rules() if not any(m in r.message for m in messages)]
    assert not missing, f"rules without a bad-input case: {missing}"


def test_rule_cel_has_no_backslash_escapes() -> None:
    # CEL string literals reject escapes such as \. ; patterns use [.] instead.
    assert all("\\" not in r.cel for r in _all_rules())


@pytest.mark.parametrize(
    "video",
    [
        {"encoder": "h264_nvenc", "preset": "p5", "cq": 23},
        {"encoder": "libx264", "preset": "slow", "crf": 20, "twoPass": True, "bitrate": 2000000},
        {"codec": "hevc", "encoder": "libx265", "width": 1920, "height": 1080},
        {"codec": "av1", "preset": "cpu"},
        {"encoder": "libvpx-vp9", "maxBitrate": 5000000, "bitrate": 4000000},
    ],
)
def test_sensible_videos_are_accepted(video: dict[str, object]) -> None:
    data = cases.valid_spec()
    data["outputs"][0]["video"] = video
    spec.parse_spec(data)


def test_webm_with_vp9_and_default_audio_is_accepted() -> None:
    data = cases.valid_spec()
    data["outputs"][0].update(container="webm", video={"codec": "vp9"}, audio={})
    parsed = spec.parse_spec(data)
    out = parsed.outputs[0]
    assert out.audio.effective_codec(out.container) == "opus"


def test_gpu_encoder_with_mode_gpu_and_cpu_encoder_with_mode_cpu_are_accepted() -> None:
    for mode, encoder in (("gpu", "hevc_nvenc"), ("cpu", "libx265")):
        data = cases.valid_spec()
        data["acceleration"]["mode"] = mode
        data["outputs"][0]["video"] = {"encoder": encoder}
        assert spec.parse_spec(data).outputs[0].video.effective_codec == "hevc"


def test_error_lists_problems_in_nested_outputs() -> None:
    data = cases.valid_spec()
    data["outputs"][1]["video"] = {"codec": "h264", "width": 641}
    with pytest.raises(errors.SpecError) as info:
        spec.parse_spec(data)
    assert info.value.fields == ["spec.outputs[1].video.width"]
    assert str(info.value).startswith("invalid TranscodeJob spec: spec.outputs[1].video.width: ")
