"""Certificates for the admission webhook: a private CA and a short-lived serving certificate.

The API server trusts only the ``caBundle`` of the webhook configuration, so a CA made for
this one purpose is enough, and no public CA is involved. Names go in the SAN only matter:
since Kubernetes 1.19 a name only in the CN is refused. ECDSA P-256 keeps keys small and
handshakes fast. A CA generated here is used once and its key thrown away, so nobody can
mint another certificate the API server would trust; keep a CA (``mamori admission ca``)
and pass it with ``--ca-cert/--ca-key`` to renew the serving certificate without changing
the caBundle.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mamori.util.files import read_bounded

DEFAULT_DAYS = 90
DEFAULT_CA_DAYS = 365
MAX_DAYS = 825  # serving certificate: the CA/Browser Forum's old ceiling, already far from short
MAX_CA_DAYS = 3650
MAX_PEM = 64 * 1024  # a certificate or key file; real ones are a few KiB
MAX_NAMES = 100
SKEW = dt.timedelta(minutes=5)  # not-before backdated: nodes' clocks differ
_DNS = re.compile(r"(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*")

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey


class CertError(ValueError):
    """Unusable input (a name, a lifetime, a CA file); the message says which and why."""


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


@dataclass(frozen=True, slots=True)
class ServingBundle:
    """What the webhook needs: the CA for ``caBundle``, the serving certificate and its key."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def service_names(service: str, namespace: str) -> list[str]:
    """The names the API server may use for ``clientConfig.service`` (it uses ``<svc>.<ns>.svc``)."""
    return [f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local", service,
            f"{service}.{namespace}"]


def check_names(dns: Sequence[str], ips: Sequence[str]) -> tuple[list[str], list[ipaddress.IPv4Address |
                                                                               ipaddress.IPv6Address]]:
    """Validated, de-duplicated SAN entries; at least one is required."""
    names: list[str] = []
    for raw in dns:
        name = raw.strip().lower().rstrip(".")
        if len(name) > 253 or not _DNS.fullmatch(name):
            raise CertError(f"{raw!r} is not a DNS name")
        if name not in names:
            names.append(name)
    addrs: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for raw in ips:
        try:
            addr = ipaddress.ip_address(raw.strip())
        except ValueError:
            raise CertError(f"{raw!r} is not an IP address") from None
        if addr not in addrs:
            addrs.append(addr)
    if not names and not addrs:
        raise CertError("a serving certificate needs at least one DNS name or IP address")
    if len(names) + len(addrs) > MAX_NAMES:
        raise CertError(f"more than {MAX_NAMES} names")
    return names, addrs


def check_days(days: int, limit: int = MAX_DAYS) -> int:
    if not 1 <= days <= limit:
        raise CertError(f"lifetime {days} days is outside 1..{limit}")
    return days


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _digest(key: SigningKey) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256()


def new_ca(common_name: str = "mamori admission CA", days: int = DEFAULT_CA_DAYS) -> Issued:
    """A self-signed CA that may sign end-entity certificates only (pathlen 0)."""
    check_days(days, MAX_CA_DAYS)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mamori")])
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - SKEW).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def serving_cert(ca: Issued, dns: Sequence[str], ips: Sequence[str] = (), days: int = DEFAULT_DAYS) -> Issued:
    """An ECDSA P-256 server certificate for ``dns``/``ips`` (SAN), signed by ``ca``."""
    check_days(days)
    names, addrs = check_names(dns, ips)
    ca_cert, ca_key = load_ca(ca.cert_pem, ca.key_pem)
    now = _now()
    not_after = now + dt.timedelta(days=days)
    if ca_cert.not_valid_after_utc < not_after:
        raise CertError(f"the CA expires on {ca_cert.not_valid_after_utc:%Y-%m-%d}, before a {days}-day "
                        "certificate would: use a shorter --days or a newer CA")
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(a) for a in addrs]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else str(addrs[0]))])
    try:
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - SKEW).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(aki, critical=False)
            .sign(ca_key, _digest(ca_key)))
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def load_ca(cert_pem: bytes, key_pem: bytes) -> tuple[x509.Certificate, SigningKey]:
    """Parse a CA certificate and its key; refuse a non-CA, an expired CA or a key that does not match."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise CertError("the CA certificate is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CertError(f"the CA key is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, SigningKey):
        raise CertError("the CA key type cannot sign certificates")
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise CertError("the CA certificate is not a CA (basicConstraints CA:TRUE missing)")
    if cert.not_valid_after_utc <= _now():
        raise CertError(f"the CA certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise CertError("the CA key does not belong to the CA certificate")
    return cert, key


def read_pem(path: str | Path, what: str) -> bytes:
    """A PEM file, bounded in size; errors name the file without printing its contents."""
    return read_bounded(path, MAX_PEM, what, CertError)


def serving_bundle(dns: Sequence[str], ips: Sequence[str] = (), days: int = DEFAULT_DAYS,
                   ca: Issued | None = None) -> ServingBundle:
    """A serving certificate from ``ca``, or from a CA made for it (lasting as long as the certificate)."""
    ca = ca or new_ca(days=check_days(days) + 1)
    issued = serving_cert(ca, dns, ips, days)
    return ServingBundle(x509.load_pem_x509_certificate(ca.cert_pem).public_bytes(serialization.Encoding.PEM),
                         issued.cert_pem, issued.key_pem)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only, from the first byte (no window at 0644)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def write_bundle(out: Path, bundle: ServingBundle) -> list[Path]:
    """``ca.crt``, ``tls.crt`` (0644) and ``tls.key`` (0600) in ``out``, created if missing."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "ca.crt", out / "tls.crt", out / "tls.key"]
        paths[0].write_bytes(bundle.ca_pem)
        paths[1].write_bytes(bundle.cert_pem)
        write_private(paths[2], bundle.key_pem)
    except OSError as exc:
        raise CertError(f"cannot write to {out}: {exc.strerror or exc}") from None
    return paths

