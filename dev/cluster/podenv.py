"""Resolves what a kubelet resolves before it starts a container: env and volumes.

Called by `dev.cluster.nodeagent` for every Pod it runs. Env comes from
`value` (with `$(VAR)` expansion), `secretKeyRef`, `configMapKeyRef`, `fieldRef`
and `envFrom`; volumes `emptyDir`, `secret`, `configMap` and `projected` (the
service-account token the ServiceAccount admission plugin adds, through the real
TokenRequest API) become per-Pod folders. A missing Secret or key raises
`ConfigError`, which the agent reports as `CreateContainerConfigError`, as a
kubelet does.
"""

from __future__ import annotations

import base64
import datetime
import re
from pathlib import Path
from typing import Any

from kubernetes import client

SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def ts() -> str:
    """Now, as a Pod status timestamp (RFC 3339, seconds, UTC)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ConfigError(Exception):
    """The Pod references configuration that does not exist (yet)."""


def _field(pod: Any, path: str) -> str:
    meta = pod.metadata
    simple = {
        "metadata.name": meta.name,
        "metadata.namespace": meta.namespace,
        "metadata.uid": meta.uid,
        "spec.nodeName": pod.spec.node_name,
        "spec.serviceAccountName": pod.spec.service_account_name,
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    if path in simple:
        return str(simple[path] or "")
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return str((getattr(meta, m.group(1)) or {}).get(m.group(2), ""))
    raise ConfigError(f"unsupported fieldRef {path!r}")


def _secret_data(core: client.CoreV1Api, ns: str, name: str, optional: bool) -> dict[str, str]:
    try:
        sec = core.read_namespaced_secret(name, ns)
    except client.ApiException as exc:
        if exc.status == 404:
            if optional:
                return {}
            raise ConfigError(f'secret "{name}" not found') from None
        raise
    return {k: base64.b64decode(v).decode() for k, v in (sec.data or {}).items()}


def _configmap_data(core: client.CoreV1Api, ns: str, name: str, optional: bool) -> dict[str, str]:
    try:
        cm = core.read_namespaced_config_map(name, ns)
    except client.ApiException as exc:
        if exc.status == 404:
            if optional:
                return {}
            raise ConfigError(f'configmap "{name}" not found') from None
        raise
    return dict(cm.data or {})


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)


def resolve_env(core: client.CoreV1Api, pod: Any, container: Any) -> dict[str, str]:
    ns = pod.metadata.namespace
    env: dict[str, str] = {}
    for src in container.env_from or []:
        prefix = src.prefix or ""
        if src.secret_ref:
            data = _secret_data(core, ns, src.secret_ref.name, bool(src.secret_ref.optional))
        else:
            data = _configmap_data(core, ns, src.config_map_ref.name,
                                   bool(src.config_map_ref.optional))
        env.update({prefix + k: v for k, v in data.items()})
    for var in container.env or []:
        if var.value_from is None:
            env[var.name] = _expand(var.value or "", env)
            continue
        vf = var.value_from
        if vf.secret_key_ref:
            ref = vf.secret_key_ref
            data = _secret_data(core, ns, ref.name, bool(ref.optional))
            if ref.key not in data:
                if ref.optional:
                    continue
                raise ConfigError(f"couldn't find key {ref.key} in Secret {ns}/{ref.name}")
            env[var.name] = data[ref.key]
        elif vf.config_map_key_ref:
            ref = vf.config_map_key_ref
            data = _configmap_data(core, ns, ref.name, bool(ref.optional))
            if ref.key not in data:
                if ref.optional:
                    continue
                raise ConfigError(f"couldn't find key {ref.key} in ConfigMap {ns}/{ref.name}")
            env[var.name] = data[ref.key]
        elif vf.field_ref:
            env[var.name] = _field(pod, vf.field_ref.field_path)
        elif vf.resource_field_ref:
            env[var.name] = "0"
    return env


def _write(folder: Path, files: dict[str, str | bytes], mode: int = 0o644) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for key, val in files.items():
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(val.encode() if isinstance(val, str) else val)
        path.chmod(mode)


def _items(data: dict[str, str], items: Any) -> dict[str, str]:
    if not items:
        return data
    return {it.path: data[it.key] for it in items if it.key in data}


def _token(core: client.CoreV1Api, pod: Any, audience: str | None, seconds: int | None) -> str:
    req = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
        audiences=[audience] if audience else [],
        expiration_seconds=seconds or 3607,
        bound_object_ref=client.V1BoundObjectReference(
            api_version="v1", kind="Pod", name=pod.metadata.name, uid=pod.metadata.uid),
    ))
    sa = pod.spec.service_account_name or "default"
    out = core.create_namespaced_service_account_token(sa, pod.metadata.namespace, req)
    return str(out.status.token)


def prepare_volumes(core: client.CoreV1Api, pod: Any, root: Path, ca_pem: bytes) -> dict[str, Path]:
    """Materialise every volume of `pod` under `root`; return volume name -> folder."""
    ns = pod.metadata.namespace
    out: dict[str, Path] = {}
    for vol in pod.spec.volumes or []:
        folder = root / "volumes" / vol.name
        folder.mkdir(parents=True, exist_ok=True)
        if vol.secret:
            data = _secret_data(core, ns, vol.secret.secret_name, bool(vol.secret.optional))
            _write(folder, dict(_items(data, vol.secret.items)), 0o600)
        elif vol.config_map:
            data = _configmap_data(core, ns, vol.config_map.name, bool(vol.config_map.optional))
            _write(folder, dict(_items(data, vol.config_map.items)))
        elif vol.projected:
            for src in vol.projected.sources or []:
                if src.service_account_token:
                    sat = src.service_account_token
                    tok = _token(core, pod, sat.audience, sat.expiration_seconds)
                    _write(folder, {sat.path: tok}, 0o600)
                elif src.config_map:
                    if src.config_map.name == "kube-root-ca.crt":
                        data = {"ca.crt": ca_pem.decode()}
                    else:
                        data = _configmap_data(core, ns, src.config_map.name,
                                               bool(src.config_map.optional))
                    _write(folder, dict(_items(data, src.config_map.items)))
                elif src.secret:
                    data = _secret_data(core, ns, src.secret.name, bool(src.secret.optional))
                    _write(folder, dict(_items(data, src.secret.items)), 0o600)
                elif src.downward_api:
                    _write(folder, {it.path: _field(pod, it.field_ref.field_path)
                                    for it in src.downward_api.items or [] if it.field_ref})
        # emptyDir (and anything else) stays an empty per-Pod folder
        out[vol.name] = folder
    return out
