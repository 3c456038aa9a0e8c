"""Defaults, durations, the frozen-spec round trip and the immutability mirror."""

from __future__ import annotations

import json

import pytest

from tests.unit.api import cases
from transcode_api import constants, errors, spec


def _minimal() -> dict[str, object]:
    return {"source": "https://cdn.example.com/in.mov",
            "outputs": [{"name": "a", "destination": "s3://out-bucket/a.mp4"}]}


def test_defaults_are_filled_as_documented() -> None:
    parsed = spec.parse_spec(_minimal())
    assert parsed.acceleration.mode == constants.AccelerationMode.AUTO
    assert parsed.acceleration.allow_cpu_fallback is True
    assert parsed.acceleration.gpu_pending_timeout == "2m"
    assert parsed.acceleration.gpu_pending_timeout_seconds == 120
    assert parsed.acceleration.min_free_gpu_memory_mib == 500
    assert parsed.backoff_limit == 3
    assert parsed.suspend is False
    assert parsed.storage.path_style is False and parsed.storage.credentials_secret_ref is None
    out = parsed.outputs[0]
    assert out.container == "mp4"
    assert out.video.effective_codec == "h264" and out.video.two_pass is False
    assert out.audio.effective_codec(out.container) == "aac"


def test_credentials_key_names_default_to_aws_names() -> None:
    data = _minimal() | {"storage": {"credentialsSecretRef": {"name": "s3"}}}
    ref = spec.parse_spec(data).storage.credentials_secret_ref
    assert ref is not None
    assert (ref.access_key_id_key, ref.secret_access_key_key) == (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2m", 120), ("90s", 90), ("1h30m", 5400), ("1.5h", 5400), ("500ms", 0.5), ("0s", 0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert spec.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2", "2 m", "-1s", "1d", "m"])
def test_parse_duration_refuses_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        spec.parse_duration(text)


def test_frozen_spec_round_trips_through_json() -> None:
    parsed = spec.parse_spec(cases.valid_spec())
    text = parsed.to_json()
    assert spec.TranscodeJobSpec.from_json(text) == parsed
    data = json.loads(text)
    assert data["acceleration"]["minFreeGpuMemoryMiB"] == 500  # camelCase aliases
    assert data["outputs"][0]["video"]["twoPass"] is False
    assert "resources" not in data  # unset optionals are left out
    assert spec.TranscodeJobSpec.from_json(text.encode()) == parsed


def test_from_json_refuses_a_broken_spec_naming_the_field() -> None:
    data = cases.valid_spec()
    data["outputs"][0]["video"]["width"] = 3
    with pytest.raises(errors.SpecError, match=r"spec\.outputs\[0\]\.video\.width"):
        spec.TranscodeJobSpec.from_json(json.dumps(data))


def test_spec_models_are_frozen() -> None:
    parsed = spec.parse_spec(cases.valid_spec())
    with pytest.raises(ValueError, match="frozen"):
        parsed.suspend = True  # type: ignore[misc]


def test_snake_case_names_are_accepted_too() -> None:
    data = _minimal() | {"backoff_limit": 5}
    assert spec.parse_spec(data).backoff_limit == 5


def test_check_update_allows_only_suspend() -> None:
    old = spec.parse_spec(cases.valid_spec())
    spec.check_update(old, old.model_copy(update={"suspend": True}))
    changed = cases.valid_spec() | {"source": "s3://media-in/other.mov", "backoffLimit": 4}
    with pytest.raises(errors.SpecError) as info:
        spec.check_update(old, spec.parse_spec(changed))
    assert info.value.fields == ["spec"]
    assert "changed: backoffLimit, source" in str(info.value)
    assert "immutable after creation except suspend" in str(info.value)
