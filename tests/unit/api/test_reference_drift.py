"""The README's TranscodeJob field reference is generated (`make crds`) and must not drift."""

from __future__ import annotations

from pathlib import Path

from transcode_api import docgen

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_reference_matches_the_model() -> None:
    current = README.read_text()
    assert docgen.splice(current) == current, "README field reference is stale: run `make crds`"


def test_reference_lists_every_top_level_spec_field() -> None:
    ref = docgen.render_reference()
    for field in ["source", "storage", "outputs", "acceleration", "backoffLimit",
                  "activeDeadlineSeconds", "ttlSecondsAfterFinished", "suspend"]:
        assert f"`spec.{field}`" in ref
    assert "`spec.outputs[].video.twoPass`" in ref
