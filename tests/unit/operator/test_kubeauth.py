"""Where the operator's credentials come from: service account, kubeconfig, and no
`kubernetes` package in the operator process."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from transcode_operator.adapters import kubeauth
from transcode_operator.domain import errors

REPO = Path(__file__).resolve().parents[3]


def _kubeconfig(tmp: Path, user: dict[str, object], name: str = "config") -> Path:
    path = tmp / name
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "dev",
        "contexts": [{"name": "dev", "context": {"cluster": "c", "user": "u",
                                                  "namespace": "media"}}],
        "clusters": [{"name": "c", "cluster": {
            "server": "https://127.0.0.1:6443/",
            "certificate-authority-data": base64.b64encode(b"CA PEM").decode()}}],
        "users": [{"name": "u", "user": user}]}))
    return path


def test_the_service_account_wins_and_names_the_service_host(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token\n")
    (tmp_path / "namespace").write_text("kube-transcoder")
    (tmp_path / "ca.crt").write_text("CA")
    creds = kubeauth.load(tmp_path, {"KUBERNETES_SERVICE_HOST": "fd00::1",
                                     "KUBERNETES_SERVICE_PORT": "6443",
                                     "KUBECONFIG": "/nonexistent"})
    assert creds.server == "https://[fd00::1]:6443"
    assert (creds.token, creds.namespace) == ("sa-token", "kube-transcoder")
    assert creds.ca_path == str(tmp_path / "ca.crt")


def test_a_kubeconfig_gives_server_ca_token_and_relative_cert_paths(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path, {"token": "t0k", "client-certificate": "pki/admin.crt",
                                  "client-key": "pki/admin.key"})
    creds = kubeauth.load(tmp_path / "no-sa", {"KUBECONFIG": str(path)})
    assert creds.server == "https://127.0.0.1:6443"
    assert creds.ca_data == "CA PEM" and creds.ca_path is None
    assert creds.token == "t0k" and creds.namespace == "media"
    assert creds.cert_path == str(tmp_path / "pki/admin.crt")
    assert creds.key_path == str(tmp_path / "pki/admin.key")


def test_of_several_kubeconfigs_the_first_value_wins(tmp_path: Path) -> None:
    first = _kubeconfig(tmp_path, {"token": "first"}, "a")
    second = _kubeconfig(tmp_path, {"token": "second"}, "b")
    creds = kubeauth.load(tmp_path / "no-sa", {"KUBECONFIG": f"{first}:{second}"})
    assert creds.token == "first"


def test_no_credentials_at_all_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                ) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(errors.ApiError, match="no service account token and no kubeconfig"):
        kubeauth.load(tmp_path / "no-sa", {})


def test_the_operator_process_runs_without_the_kubernetes_package() -> None:
    # what `python -m transcode_operator` imports before kopf starts: no model classes
    code = ("import sys; from transcode_operator import __main__ as m; m.keep_kubernetes_out(); "
            "import kopf; from transcode_operator.app import handlers, context; "
            "print(sorted(n for n in sys.modules if n.startswith('kubernetes') "
            "and sys.modules[n] is not None))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
