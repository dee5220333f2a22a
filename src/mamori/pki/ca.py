"""Create the CAs, issue leaves, revoke them and publish the CRL.

Profiles: root (CA, pathlen 1, 10 years), intermediate (CA, pathlen 0, 3 years), code signing
(EKU codeSigning, an e-mail or URI SAN, 30 days), workload (SPIFFE URI SAN plus optional DNS
names, EKU serverAuth+clientAuth, 24 hours). Leaves carry no subject name beyond a CN for
humans; the identity is the SAN, as in Fulcio and SPIFFE.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mamori.pki.errors import PkiError
from mamori.pki.external import ExternalSigner, sign_certificate, sign_crl
from mamori.pki.store import (
    CaKey,
    Issued,
    PkiDir,
    cert_pem,
    encrypt_key,
    load_certs,
    read_small,
    token_uri,
    write_atomic,
)

ALGORITHMS = ("ecdsa-p256", "ed25519")
ROOT_DAYS, INTERMEDIATE_DAYS = 3650, 1095
CODESIGN_LIFETIME = dt.timedelta(days=30)
WORKLOAD_LIFETIME = dt.timedelta(hours=24)
CRL_LIFETIME = dt.timedelta(days=7)
_SPIFFE = re.compile(r"^spiffe://[a-z0-9.\-_]{1,255}(/[A-Za-z0-9.\-_]{1,255}){0,32}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.\-]{1,253}$")
_DNS = re.compile(r"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9\-]{0,61}"
                  r"[A-Za-z0-9])?$")
REASONS = {r.value: r for r in x509.ReasonFlags if r not in (x509.ReasonFlags.unspecified,
                                                              x509.ReasonFlags.remove_from_crl)}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_key(algorithm: str) -> CaKey:
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise PkiError(f"unknown algorithm {algorithm!r}: use one of {', '.join(ALGORITHMS)}")


def _hash(key: CaKey) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _name(cn: str, org: str | None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn[:64])]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org[:64]))
    return x509.Name(attrs)


def _sign(builder: x509.CertificateBuilder, key: CaKey | ExternalSigner) -> x509.Certificate:
    if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return builder.sign(key, _hash(key))
    return sign_certificate(builder, key)


def _ca_cert(subject: x509.Name, public_key: CertificatePublicKeyTypes, issuer: x509.Name,
             issuer_key: CaKey | ExternalSigner, days: int, path_length: int) -> x509.Certificate:
    now = _now()
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False))
    return _sign(builder, issuer_key)


def init(pki: PkiDir, passphrase: bytes, org: str, algorithm: str = "ecdsa-p256", hsm: str | None = None
         ) -> tuple[x509.Certificate, x509.Certificate]:
    """Create the root and the intermediate; the root key is used once here and then only for rotation.

    ``hsm`` = ``pkcs11:token=T;object=PREFIX[?module-path=...]``: both keys are generated inside
    the token as ``PREFIX-root`` and ``PREFIX-intermediate`` (ECDSA P-256) and never leave it.
    """
    root_key: CaKey | ExternalSigner
    inter_key: CaKey | ExternalSigner
    root_pub: CertificatePublicKeyTypes
    inter_pub: CertificatePublicKeyTypes
    spec: dict[str, str] | None = None
    if hsm is not None:
        spec = _hsm_spec(hsm, algorithm)
    pki.create()
    if spec is not None:
        from mamori.sign.errors import SignError
        from mamori.sign.hsm import Pkcs11Signer

        try:
            root_key, inter_key = (Pkcs11Signer(token_uri(spec, "root")), Pkcs11Signer(token_uri(spec, "intermediate")))
            root_pub, inter_pub = root_key.generate(), inter_key.generate()
        except SignError as exc:
            raise PkiError(str(exc)) from None
    else:
        root_mem, inter_mem = new_key(algorithm), new_key(algorithm)
        root_key, inter_key = root_mem, inter_mem
        root_pub, inter_pub = root_mem.public_key(), inter_mem.public_key()
    root_name = _name(f"{org} Root CA", org)
    root = _ca_cert(root_name, root_pub, root_name, root_key, ROOT_DAYS, 1)
    inter = _ca_cert(_name(f"{org} Intermediate CA", org), inter_pub, root_name, root_key, INTERMEDIATE_DAYS, 0)
    if spec is not None:
        write_atomic(pki.file("hsm.json"), json.dumps(spec, indent=1).encode(), 0o644)
    else:
        write_atomic(pki.file("root.key"), encrypt_key(root_key, passphrase))
        write_atomic(pki.file("intermediate.key"), encrypt_key(inter_key, passphrase))
    write_atomic(pki.file("root.crt"), cert_pem(root), 0o644)
    write_atomic(pki.file("intermediate.crt"), cert_pem(inter), 0o644)
    write_atomic(pki.file("chain.pem"), cert_pem(inter) + cert_pem(root), 0o644)
    pki.save_index({})
    return root, inter


def _hsm_spec(uri: str, algorithm: str) -> dict[str, str]:
    from mamori.crypto.errors import SealError
    from mamori.crypto.pkcs11 import parse_uri

    if algorithm != "ecdsa-p256":
        raise PkiError("CA keys in a PKCS#11 token are ECDSA P-256")
    try:
        attrs = parse_uri(uri)
    except SealError as exc:
        raise PkiError(str(exc)) from None
    spec = {"token": attrs["token"], "root": f"{attrs['object']}-root",
            "intermediate": f"{attrs['object']}-intermediate"}
    if attrs.get("module-path"):
        spec["module"] = attrs["module-path"]
    return spec


@dataclass(frozen=True, slots=True)
class LeafRequest:
    kind: str  # codesign | workload
    emails: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    lifetime: dt.timedelta | None = None
    not_before: dt.datetime | None = None  # tests build expired certificates with past validity


def _sans(req: LeafRequest) -> list[x509.GeneralName]:
    sans: list[x509.GeneralName] = []
    for e in req.emails:
        if not _EMAIL.match(e):
            raise PkiError(f"invalid e-mail identity {e[:80]!r}")
        sans.append(x509.RFC822Name(e))
    for u in req.uris:
        parts = urlsplit(u)
        if req.kind == "workload" and not _SPIFFE.match(u):
            raise PkiError(f"invalid SPIFFE ID {u[:100]!r}: expected spiffe://trust.domain/path")
        if not parts.scheme or len(u) > 2048 or any(c.isspace() for c in u):
            raise PkiError(f"invalid URI identity {u[:100]!r}")
        sans.append(x509.UniformResourceIdentifier(u))
    for d in req.dns:
        if not _DNS.match(d) or len(d) > 253:
            raise PkiError(f"invalid DNS name {d[:80]!r}")
        sans.append(x509.DNSName(d))
    for ip in req.ips:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise PkiError(f"invalid IP address {ip[:60]!r}") from None
    return sans


def issue(pki: PkiDir, passphrase: bytes, req: LeafRequest,
          public_key: CertificatePublicKeyTypes) -> x509.Certificate:
    """Sign a leaf for ``public_key`` with the intermediate and record its serial in the index."""
    pki.require()
    if req.kind == "codesign":
        if len(req.emails) + len(req.uris) != 1 or req.dns or req.ips:
            raise PkiError("a code-signing certificate needs exactly one identity: --email or --uri")
        eku = [ExtendedKeyUsageOID.CODE_SIGNING]
        lifetime = req.lifetime or CODESIGN_LIFETIME
    elif req.kind == "workload":
        if len(req.uris) != 1 or req.emails:
            raise PkiError("a workload certificate needs exactly one --spiffe ID")
        eku = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        lifetime = req.lifetime or WORKLOAD_LIFETIME
    else:
        raise PkiError(f"unknown certificate kind {req.kind!r}")
    if lifetime <= dt.timedelta(0) or lifetime > dt.timedelta(days=397):
        raise PkiError("lifetime must be positive and at most 397 days")
    sans = _sans(req)
    inter, inter_key = pki.cert("intermediate"), pki.key("intermediate", passphrase)
    start = req.not_before or (_now() - dt.timedelta(minutes=1))
    end = min(start + lifetime, inter.not_valid_after_utc)
    ident = [str(s.value) for s in sans]
    cert_b = (x509.CertificateBuilder().subject_name(_name(ident[0], None)).issuer_name(inter.subject)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         key_cert_sign=False, crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(inter_key.public_key()),
                           critical=False))
    cert = _sign(cert_b, inter_key)
    serial = format(cert.serial_number, "x")
    entries = pki.index()
    entries[serial] = Issued(serial, req.kind, cert.subject.rfc4514_string(), tuple(ident),
                             cert.not_valid_after_utc.isoformat())
    write_atomic(pki.file(f"issued/{serial}.crt"), cert_pem(cert), 0o644)
    pki.save_index(entries)
    return cert


def revoke(pki: PkiDir, passphrase: bytes, serial: str, reason: str | None = None) -> bytes:
    """Mark a serial revoked and re-publish the CRL (returned as PEM)."""
    pki.require()
    serial = serial.lower().removeprefix("0x").replace(":", "")
    entries = pki.index()
    entry = entries.get(serial)
    if entry is None:
        raise PkiError(f"serial {serial[:64]} was not issued by this PKI (see index.json)")
    if reason is not None:
        reason = next((k for k in REASONS if k.lower() == reason.replace("_", "").replace("-", "").lower()), reason)
    if reason is not None and reason not in REASONS:
        raise PkiError(f"unknown reason {reason!r}: one of {', '.join(sorted(REASONS))}")
    if entry.revoked_at is None:
        from dataclasses import replace

        entries[serial] = replace(entry, revoked_at=_now().isoformat(), reason=reason)
        pki.save_index(entries)
    return crl(pki, passphrase)


def crl(pki: PkiDir, passphrase: bytes) -> bytes:
    """A fresh CRL signed by the intermediate, written to ``crl.pem``."""
    pki.require()
    from cryptography.hazmat.primitives import serialization

    inter, inter_key = pki.cert("intermediate"), pki.key("intermediate", passphrase)
    now = _now()
    number = _next_crl_number(pki)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(inter.subject)
               .last_update(now - dt.timedelta(minutes=1)).next_update(now + CRL_LIFETIME)
               .add_extension(x509.CRLNumber(number), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(inter_key.public_key()),
                              critical=False))
    for e in pki.index().values():
        if e.revoked_at is None:
            continue
        rc = (x509.RevokedCertificateBuilder().serial_number(int(e.serial, 16))
              .revocation_date(dt.datetime.fromisoformat(e.revoked_at)))
        if e.reason:
            rc = rc.add_extension(x509.CRLReason(REASONS[e.reason]), critical=False)
        builder = builder.add_revoked_certificate(rc.build())
    if isinstance(inter_key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        signed = builder.sign(inter_key, _hash(inter_key))
    else:
        signed = sign_crl(builder, inter_key)
    data = signed.public_bytes(serialization.Encoding.PEM)
    write_atomic(pki.file("crl.pem"), data, 0o644)
    return data


def _next_crl_number(pki: PkiDir) -> int:
    path = pki.file("crl.pem")
    if not path.exists():
        return 1
    try:
        old = x509.load_pem_x509_crl(read_small(path, "CRL"))
        return int(old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number) + 1
    except (ValueError, x509.ExtensionNotFound):
        return 1


__all__ = ["ALGORITHMS", "LeafRequest", "crl", "init", "issue", "load_certs", "new_key", "revoke"]
