"""Progress keys name the job and the runner Pod's uid; anything else on the channel is no key."""

from __future__ import annotations

import pytest

from transcode_api import contract

UID = "5f0c7a6e-3b1d-4c2a-9e8f-0123456789ab"


def test_a_key_names_namespace_name_and_pod_uid_and_parses_back() -> None:
    key = contract.progress_key("media-team", "trailer.720p", UID)
    assert key == f"kt:progress:media-team:trailer.720p:{UID}"
    parsed = contract.parse_progress_key(key)
    assert parsed == ("media-team", "trailer.720p", UID)
    assert parsed is not None and parsed.pod_uid == UID


@pytest.mark.parametrize("key", [
    "kt:progress:media:trailer",  # the old key without a uid: no attempt to match
    f"kt:progress:media:trailer:{UID}:extra",
    f"kt:progress::trailer:{UID}",
    f"kt:progress:media::{UID}",
    "kt:progress:media:trailer:",
    f"kt:progress:Media:trailer:{UID}",  # not a namespace (upper case)
    f"kt:progress:media:trailer/x:{UID}",
    "kt:progress:media:trailer:uid with spaces",
    f"kt:progress:{'a' * 64}:trailer:{UID}",  # a namespace is at most 63 characters
    "kt:gpu:node-1",
    f"xkt:progress:media:trailer:{UID}",
    "",
])
def test_anything_else_is_not_a_progress_key(key: str) -> None:
    assert contract.parse_progress_key(key) is None


def test_building_a_key_from_bad_parts_is_refused_with_the_parts_named() -> None:
    with pytest.raises(ValueError, match="Pod uid ''"):
        contract.progress_key("media", "trailer", "")
    with pytest.raises(ValueError, match="name 'a:b'"):
        contract.progress_key("media", "a:b", UID)
