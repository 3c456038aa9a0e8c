"""Where the operator's Kubernetes credentials come from, without the `kubernetes` package.

`app.handlers.login` (kopf's watches) and `adapters.kubeclient.KubeClient` (every
other call) both use `load()`: the in-cluster service account when its token file
exists (the API server at $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, as
the official client finds it), else the current context of $KUBECONFIG (or
~/.kube/config; of several files the first value wins): server, CA, client
certificate and key, token, basic auth. A kubeconfig user with an `exec` or
`auth-provider` plugin is handed to the official client's loader, imported only
then; every other start keeps the ~40 MB of its model classes out of the process.
`ssl_context()` builds the TLS context of a `Credentials`; embedded certificate data
is written to a private temporary folder only while the context loads it.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from transcode_operator.domain import errors

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Credentials:
    """One API server and how to authenticate to it (paths, or PEM text)."""

    server: str
    ca_path: str | None = None
    ca_data: str | None = None
    insecure: bool = False
    token: str | None = None
    token_path: str | None = None
    """The service account token file: read again on each `load()` (kubelet rotates it)."""
    username: str | None = None
    password: str | None = None
    cert_path: str | None = None
    cert_data: str | None = None
    key_path: str | None = None
    key_data: str | None = None
    namespace: str | None = None


def load(sa_dir: Path = SA_DIR, env: dict[str, str] | None = None) -> Credentials:
    """The credentials of this process (see the module docstring)."""
    env = dict(os.environ) if env is None else env
    token_file = sa_dir / "token"
    if token_file.exists() and env.get("KUBERNETES_SERVICE_HOST"):
        host, port = env["KUBERNETES_SERVICE_HOST"], env.get("KUBERNETES_SERVICE_PORT", "443")
        host = f"[{host}]" if ":" in host else host
        ns_file, ca_file = sa_dir / "namespace", sa_dir / "ca.crt"
        return Credentials(
            server=f"https://{host}:{port}", token=token_file.read_text().strip(),
            token_path=str(token_file), ca_path=str(ca_file) if ca_file.exists() else None,
            namespace=ns_file.read_text().strip() if ns_file.exists() else None)
    paths = [p for p in (env.get("KUBECONFIG") or "").split(os.pathsep) if p.strip()]
    if not paths and Path("~/.kube/config").expanduser().exists():
        paths = ["~/.kube/config"]
    if not paths:
        raise errors.ApiError(0, "NoCredentials", "no service account token and no kubeconfig")
    return _from_kubeconfig([Path(p.strip()).expanduser() for p in paths])


def _first(docs: list[dict[str, Any]], section: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for doc in docs:
        for item in doc.get(section) or []:
            out.setdefault(item["name"], item.get(section[:-1]) or {})
    return out


def _from_kubeconfig(paths: list[Path]) -> Credentials:
    docs = [yaml.safe_load(p.read_text()) or {} for p in paths]
    current = next((d["current-context"] for d in docs if d.get("current-context")), None)
    if current is None:
        raise errors.ApiError(0, "NoCredentials", "the kubeconfig sets no current-context")
    context = _first(docs, "contexts")[current]
    cluster = _first(docs, "clusters")[context["cluster"]]
    user = _first(docs, "users").get(context.get("user", ""), {})
    if user.get("exec") or user.get("auth-provider"):
        return _via_official_client(paths, context.get("namespace"))
    base = paths[0].parent

    def path(value: str | None) -> str | None:  # relative paths are relative to the file
        return str(base / value) if value else None

    return Credentials(
        server=cluster["server"].rstrip("/"),
        ca_path=path(cluster.get("certificate-authority")),
        ca_data=_pem(cluster.get("certificate-authority-data")),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        token=user.get("token") or (Path(path(user["tokenFile"]) or "").read_text().strip()
                                    if user.get("tokenFile") else None),
        username=user.get("username"), password=user.get("password"),
        cert_path=path(user.get("client-certificate")),
        cert_data=_pem(user.get("client-certificate-data")),
        key_path=path(user.get("client-key")), key_data=_pem(user.get("client-key-data")),
        namespace=context.get("namespace"))


def _pem(data: str | None) -> str | None:
    return base64.b64decode(data).decode() if data else None


def _via_official_client(paths: list[Path], namespace: str | None) -> Credentials:
    """An exec/auth-provider user: the official client runs the plugin (imported only here)."""
    import sys
    if sys.modules.get("kubernetes", "") is None:
        del sys.modules["kubernetes"]  # __main__ kept it out of kopf; this user needs it
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(paths[0]), client_configuration=cfg)
    token = (cfg.api_key or {}).get("authorization", "").removeprefix("Bearer ").strip()
    return Credentials(server=cfg.host.rstrip("/"), ca_path=cfg.ssl_ca_cert,
                       insecure=not cfg.verify_ssl, token=token or None,
                       cert_path=cfg.cert_file, key_path=cfg.key_file, namespace=namespace)


def ssl_context(creds: Credentials) -> ssl.SSLContext:
    """The TLS context: the cluster's CA (or none checked when insecure) and client cert."""
    ctx = ssl.create_default_context(cafile=creds.ca_path, cadata=creds.ca_data)
    if creds.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if creds.cert_path or creds.cert_data:
        with tempfile.TemporaryDirectory(prefix="kt-auth-") as tmp:
            cert = creds.cert_path or _write(Path(tmp) / "tls.crt", creds.cert_data or "")
            key = creds.key_path or (_write(Path(tmp) / "tls.key", creds.key_data)
                                     if creds.key_data else None)
            ctx.load_cert_chain(cert, key)
    return ctx


def _write(path: Path, text: str) -> str:
    path.touch(mode=0o600)
    path.write_text(text)
    return str(path)
