"""URL hygiene: `redact` drops userinfo, query and fragment; canonical object names are one per object."""

from __future__ import annotations

import pytest

from transcode_api import urls


@pytest.mark.parametrize(("url", "shown"), [
    ("https://viewer:Hunter2pw@cdn.example/a/v.mp4?X-Amz-Signature=abc#t=1", "https://cdn.example/a/v.mp4"),
    ("https://cdn.example:8443/v.mp4", "https://cdn.example:8443/v.mp4"),
    ("s3://AKIA:Hunter2pw@bucket/key?versionId=1", "s3://bucket/key"),
    ("http://AKIA:Hunter2pw@[::1]:9000", "http://[::1]:9000"),
    ("/local/path.mp4", "/local/path.mp4"),
    ("https://[::1", "<unparseable URL>"),
])
def test_redact(url: str, shown: str) -> None:
    assert urls.redact(url) == shown
    assert "Hunter2pw" not in urls.redact(url)


@pytest.mark.parametrize("destination", [
    "s3://b/k", "s3://b/k#x", "s3://b/k?v", "s3://b//k", " s3://b/k ", "s3://B/k", "s3://b/k/",
])
def test_destination_spellings_share_one_name(destination: str) -> None:
    assert urls.canonical_destination(None, destination) == "s3.amazonaws.com:443/b/k"


@pytest.mark.parametrize("endpoint", [
    "http://127.0.0.1:9000", "HTTP://127.0.0.1:9000/", "http://u:p@127.0.0.1:9000",
])
def test_endpoint_spellings_share_one_name(endpoint: str) -> None:
    assert urls.canonical_object(endpoint, "media", "a//b.mp4") == "127.0.0.1:9000/media/a/b.mp4"


def test_different_objects_keep_different_names() -> None:
    assert urls.canonical_object("https://s3.example", "b", "k") == "s3.example:443/b/k"
    assert urls.canonical_object("http://s3.example", "b", "k") == "s3.example:80/b/k"
    assert urls.canonical_object(None, "b", "K") != urls.canonical_object(None, "b", "k")
    assert urls.canonical_object("http://[::1]:9000", "b", "k") == "[::1]:9000/b/k"
