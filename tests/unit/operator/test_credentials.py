"""The credentials opt-in: one reason and one message for every refused Secret."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.operator import helpers as h
from transcode_api import contract
from transcode_operator.domain import credentials

REF = h.spec(storage={"credentialsSecretRef": {"name": "media-s3"}}).storage.credentials_secret_ref
LABELLED = {contract.CREDENTIALS_LABEL: "true"}
BOTH = {"AWS_ACCESS_KEY_ID": "QUtJQQ==", "AWS_SECRET_ACCESS_KEY": "czNjcjN0LXZhbHVl"}
MESSAGE = ('Secret "media-s3" cannot be used as S3 credentials: it must exist in this namespace, '
           "carry the label kubetranscoder.io/credentials=true and hold the keys "
           "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")


def _secret(labels: dict[str, str] | None, data: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "media-s3"}
    if labels is not None:
        meta["labels"] = labels
    return {"metadata": meta, "data": data}


@pytest.mark.parametrize("raw", [
    None,  # missing
    _secret(None, BOTH),  # unlabelled
    _secret({}, BOTH),
    _secret({contract.CREDENTIALS_LABEL: "false"}, BOTH),
    _secret({contract.CREDENTIALS_LABEL: "True"}, BOTH),  # only the exact value opts in
    _secret({"other": "true"}, BOTH),
    _secret(LABELLED, {"AWS_ACCESS_KEY_ID": "QUtJQQ=="}),  # a key missing
    _secret(LABELLED, {"AWS_SECRET_ACCESS_KEY": "czNjcjN0LXZhbHVl"}),
    _secret(LABELLED, {}),
], ids=["missing", "unlabelled", "no-labels", "label-false", "label-True", "other-label",
        "no-secret-key", "no-key-id", "no-keys"])
def test_every_refusal_has_the_same_reason_and_message(raw: dict[str, Any] | None) -> None:
    assert REF is not None
    assert credentials.problem(credentials.view(raw), REF) == (
        credentials.REASON, MESSAGE)
    assert credentials.REASON == "CredentialsNotAllowed"


def test_a_labelled_secret_with_both_keys_is_allowed() -> None:
    assert REF is not None
    assert credentials.problem(credentials.view(_secret(LABELLED, BOTH)), REF) is None
    string_data = {"metadata": {"labels": LABELLED}, "stringData": {"AWS_ACCESS_KEY_ID": "a"},
                   "data": {"AWS_SECRET_ACCESS_KEY": "Yg=="}}
    assert credentials.problem(credentials.view(string_data), REF) is None


def test_custom_key_names_appear_in_the_message() -> None:
    ref = h.spec(storage={"credentialsSecretRef": {
        "name": "s3", "accessKeyIdKey": "id", "secretAccessKeyKey": "key"}}).storage \
        .credentials_secret_ref
    assert ref is not None
    assert credentials.problem(credentials.view(_secret(LABELLED, {"id": "eA==", "key": "eQ=="})),
                               ref) is None
    _, message = credentials.problem(credentials.view(_secret(LABELLED, BOTH)), ref) or ("", "")
    assert message.startswith('Secret "s3" cannot be used') and "keys id and key" in message


def test_the_view_keeps_labels_and_key_names_never_values() -> None:
    view = credentials.view(_secret(LABELLED, BOTH))
    assert view == credentials.SecretView(labels=LABELLED, keys=frozenset(BOTH))
    assert not any(v in repr(view) for v in BOTH.values())
    assert credentials.view({"metadata": None, "data": None}) == credentials.SecretView(
        labels={}, keys=frozenset())


def test_kubelet_secret_errors_get_the_same_message() -> None:
    assert credentials.kubelet_message(REF, 'secret "media-s3" not found') == MESSAGE
    assert credentials.kubelet_message(
        REF, "couldn't find key AWS_SECRET_ACCESS_KEY in Secret op/media-s3") == MESSAGE
    assert credentials.kubelet_message(REF, 'configmap "x" not found') is None
    assert credentials.kubelet_message(None, 'secret "x" not found') is None
    assert credentials.kubelet_message(REF, None) is None
