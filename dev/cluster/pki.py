"""Certificates and keys for the local control plane.

Called by `dev.cluster.controlplane` when it starts a cluster: makes a CA, the
API server's serving certificate (valid for 127.0.0.1 and the in-cluster names),
an admin client certificate in `system:masters`, and the service-account
signing key pair; `serving_pair` makes a CA and serving pair for a webhook
server on 127.0.0.1 (Kueue). Everything is written as PEM files into the cluster's temp
folder; nothing is reused between clusters.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

_VALIDITY = datetime.timedelta(days=2)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _sign(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool = False,
    sans: list[x509.GeneralName] | None = None,
    usage: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def generate(folder: Path) -> dict[str, Path]:
    """Write ca, apiserver serving, admin client and service-account keys into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        name: folder / name
        for name in (
            "ca.crt", "ca.key", "apiserver.crt", "apiserver.key",
            "admin.crt", "admin.key", "sa.key", "sa.pub",
        )
    }
    ca_key = _key()
    ca_name = _name("kube-transcoder-test-ca")
    ca = _sign(ca_name, ca_key, ca_name, ca_key, ca=True)
    _write_key(paths["ca.key"], ca_key)
    _write_cert(paths["ca.crt"], ca)

    srv_key = _key()
    sans: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default"),
        x509.DNSName("kubernetes.default.svc"),
        x509.DNSName("kubernetes.default.svc.cluster.local"),
    ]
    srv = _sign(
        _name("kube-apiserver"), srv_key, ca_name, ca_key,
        sans=sans, usage=[x509.oid.ExtendedKeyUsageOID.SERVER_AUTH],
    )
    _write_key(paths["apiserver.key"], srv_key)
    _write_cert(paths["apiserver.crt"], srv)

    admin_key = _key()
    admin = _sign(
        _name("kube-transcoder-admin", "system:masters"), admin_key, ca_name, ca_key,
        usage=[x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    _write_key(paths["admin.key"], admin_key)
    _write_cert(paths["admin.crt"], admin)

    sa_key = _key()
    _write_key(paths["sa.key"], sa_key)
    paths["sa.pub"].write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return paths


def serving_pair(folder: Path, cn: str) -> Path:
    """Write a fresh CA (ca.crt) and a 127.0.0.1 serving pair (tls.crt, tls.key) into `folder`.

    For webhook servers the API server calls by `url:` (Kueue's); returns the CA path.
    """
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = _name(f"{cn}-ca")
    ca = _sign(ca_name, ca_key, ca_name, ca_key, ca=True)
    _write_cert(folder / "ca.crt", ca)
    key = _key()
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                    x509.DNSName("localhost")]
    cert = _sign(_name(cn), key, ca_name, ca_key, sans=sans,
                 usage=[x509.oid.ExtendedKeyUsageOID.SERVER_AUTH])
    _write_key(folder / "tls.key", key)
    _write_cert(folder / "tls.crt", cert)
    return folder / "ca.crt"
