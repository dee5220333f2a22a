"""Signing the manifest with a key file (optionally with its certificate) and checking that signature.

The key formats are the ones ``mamori sign`` reads (PKCS#8 PEM, encrypted or not, cosign's
encrypted keys, and ``mamori log keygen``'s Ed25519 files): ECDSA, Ed25519 or RSA. The signature
is detached (``manifest.sig``, base64) over the exact bytes of ``manifest.json``; ``signer.pem``
carries the certificate chain (leaf first) or the public key. ``signer.pem`` is a convenience:
trust comes only from the keys or CA roots the verifier names.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from mamori.forensics.errors import ForensicsError
from mamori.sign import algorithms
from mamori.sign.errors import SignError
from mamori.sign.keys import PrivateKey, PublicKey, key_id, load_private, load_public, public_pem
from mamori.util.files import read_bounded

MAX_PEM = 64 * 1024
MAX_SIG = 16 * 1024


def algorithm(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        bits = key.curve.key_size
        return f"ecdsa-{key.curve.name}-sha{384 if bits == 384 else 512 if bits > 384 else 256}"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519"
    return "rsa-pkcs1v15-sha256"


def _certs(data: bytes, what: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ForensicsError(f"{what} holds no valid PEM certificate") from None


def _spki(key: Any) -> bytes:
    der: bytes = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


@dataclass(frozen=True, slots=True)
class ManifestSigner:
    key: PrivateKey
    certs: tuple[x509.Certificate, ...] = ()  # leaf first; empty: a bare key

    def sign(self, data: bytes) -> bytes:
        return algorithms.sign(self.key, data)

    def signer_pem(self) -> bytes:
        if self.certs:
            return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.certs)
        return public_pem(self.key)

    def describe(self) -> dict[str, Any]:
        import hashlib

        d: dict[str, Any] = {"key_id": key_id(self.key.public_key()), "algorithm": algorithm(self.key),
                             "signer_pem_sha256": hashlib.sha256(self.signer_pem()).hexdigest()}
        if self.certs:
            leaf = self.certs[0]
            d["certificate"] = {"subject": leaf.subject.rfc4514_string(), "issuer": leaf.issuer.rfc4514_string(),
                                "serial": f"{leaf.serial_number:x}"}
        return d


def load_signer(key_path: str, passphrase: bytes | None, cert_path: str | None = None,
                chain_path: str | None = None) -> ManifestSigner:
    data = read_bounded(key_path, MAX_PEM, "signing key", ForensicsError)
    try:
        key = load_private(data, passphrase)
    except SignError as exc:
        raise ForensicsError(f"signing key {key_path}: {exc}") from None
    certs: list[x509.Certificate] = []
    if cert_path:
        certs = _certs(read_bounded(cert_path, MAX_PEM, "certificate", ForensicsError), f"certificate {cert_path}")
        if _spki(certs[0].public_key()) != _spki(key.public_key()):
            raise ForensicsError(f"certificate {cert_path} does not belong to the signing key {key_path}")
    if chain_path:
        if not cert_path:
            raise ForensicsError("--chain needs --cert")
        certs += _certs(read_bounded(chain_path, MAX_PEM, "chain", ForensicsError), f"chain {chain_path}")
    return ManifestSigner(key, tuple(certs))


@dataclass(frozen=True, slots=True)
class Trust:
    """Who may have signed: public keys (or certificates, taken for their key) and CA roots."""

    keys: tuple[PublicKey, ...] = ()
    roots: tuple[x509.Certificate, ...] = ()


def load_trust(key_paths: tuple[str, ...], ca_paths: tuple[str, ...]) -> Trust:
    keys: list[PublicKey] = []
    for p in key_paths:
        try:
            keys.append(load_public(read_bounded(p, MAX_PEM, "public key", ForensicsError)))
        except SignError as exc:
            raise ForensicsError(f"public key {p}: {exc}") from None
    roots: list[x509.Certificate] = []
    for p in ca_paths:
        roots += _certs(read_bounded(p, MAX_PEM, "CA file", ForensicsError), f"CA file {p}")
    if not keys and not roots:
        raise ForensicsError("give the trusted signer: --key PUBLIC.pem or --ca ROOTS.pem "
                             "(the bundle's own signer.pem proves nothing on its own)")
    return Trust(tuple(keys), tuple(roots))


def _signer_material(signer_pem: bytes | None) -> tuple[PublicKey | None, list[x509.Certificate], str | None]:
    """The key and certificates ``signer.pem`` offers, or why it cannot be read."""
    if signer_pem is None:
        return None, [], None
    if b"CERTIFICATE" in signer_pem:
        try:
            certs = x509.load_pem_x509_certificates(signer_pem)
        except ValueError:
            return None, [], "signer.pem holds no valid certificate"
        key = certs[0].public_key()
        if isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
            return key, certs, None
        return None, certs, "signer.pem: unsupported certificate key type"
    try:
        return load_public(signer_pem), [], None
    except SignError as exc:
        return None, [], f"signer.pem: {exc}"


def check_signature(manifest: bytes, sig_text: bytes | None, signer_pem: bytes | None,
                    declared: dict[str, Any] | None, trust: Trust, at: dt.datetime | None) -> list[str]:
    """Every reason the manifest signature is not good (empty: signed by a trusted key)."""
    from mamori.pki.verify import verify_chain

    if sig_text is None:
        return ["manifest.sig is missing"]
    try:
        sig = base64.b64decode(sig_text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return ["manifest.sig is not base64"]
    offered, certs, why = _signer_material(signer_pem)
    problems: list[str] = [why] if why else []
    good: PublicKey | None = None
    for k in trust.keys:
        if algorithms.verify(k, sig, manifest):
            good = k
            break
    chain_reason = None
    if good is None and trust.roots:
        if not certs or offered is None:
            chain_reason = "signer.pem holds no certificate to check against --ca"
        else:
            res = verify_chain(certs[0], certs[1:], list(trust.roots), at=at)
            if not res.ok:
                chain_reason = f"signer certificate: {res.reason}"
            elif algorithms.verify(offered, sig, manifest):
                good = offered
    if good is None:
        if chain_reason:
            problems.append(chain_reason)
        if offered is not None and algorithms.verify(offered, sig, manifest):
            problems.append(f"signature: made by key {key_id(offered)}, which is not trusted")
        else:
            problems.append("signature: does not verify over manifest.json with any trusted key")
        return problems
    if declared is not None and declared.get("key_id") != key_id(good):
        problems.append(f"signature: manifest names signer {str(declared.get('key_id'))[:40]!r} but key "
                        f"{key_id(good)} signed it")
    return problems
