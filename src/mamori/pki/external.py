"""Certificates and CRLs signed by a key that never leaves its token (an HSM).

``cryptography``'s builders only sign with in-memory keys. The to-be-signed bytes do not depend
on the signing key (the issuer's public key enters only through the AKI, which the caller sets),
so the builder signs once with a throw-away key of the same algorithm (ECDSA P-256 / SHA-256),
the TBS bytes are signed by the token, and the DER is re-assembled with the token's signature:
``SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }``. The result is parsed back and its
signature checked against the token's public key before it is used.
"""

from __future__ import annotations

from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mamori.pki.errors import PkiError


class ExternalSigner(Protocol):
    """An ECDSA P-256 key held elsewhere: DER signature over SHA-256 of the data."""

    def public_key(self) -> Any: ...

    def sign(self, payload: bytes) -> bytes: ...


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(data: bytes, pos: int) -> tuple[int, int]:
    """(header length, content length) of the DER element at ``pos``."""
    first = data[pos + 1]
    if first < 0x80:
        return 2, first
    count = first & 0x7F
    if count == 0 or count > 4:
        raise PkiError("unexpected DER length encoding")
    return 2 + count, int.from_bytes(data[pos + 2:pos + 2 + count], "big")


def _resign(der: bytes, tbs: bytes, signer: ExternalSigner) -> bytes:
    hl, _ = _tlv(der, 0)
    if der[hl:hl + len(tbs)] != tbs:
        raise PkiError("cannot locate the to-be-signed bytes")
    pos = hl + len(tbs)
    ahl, alen = _tlv(der, pos)
    algid = der[pos:pos + ahl + alen]
    sig = signer.sign(tbs)
    bits = b"\x03" + _length(len(sig) + 1) + b"\x00" + sig
    body = tbs + algid + bits
    return b"\x30" + _length(len(body)) + body


def _check_signer(signer: ExternalSigner) -> ec.EllipticCurvePublicKey:
    pub = signer.public_key()
    if not isinstance(pub, ec.EllipticCurvePublicKey) or pub.curve.name != "secp256r1":
        raise PkiError("token CA keys must be ECDSA P-256")
    return pub


def sign_certificate(builder: x509.CertificateBuilder, signer: ExternalSigner) -> x509.Certificate:
    pub = _check_signer(signer)
    draft = builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    der = _resign(draft.public_bytes(serialization.Encoding.DER), draft.tbs_certificate_bytes, signer)
    cert = x509.load_der_x509_certificate(der)
    try:
        pub.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    except Exception:  # noqa: BLE001 - InvalidSignature or a malformed signature from the token
        raise PkiError("the token's signature over the certificate does not verify") from None
    return cert


def sign_crl(builder: x509.CertificateRevocationListBuilder, signer: ExternalSigner
             ) -> x509.CertificateRevocationList:
    pub = _check_signer(signer)
    draft = builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    der = _resign(draft.public_bytes(serialization.Encoding.DER), draft.tbs_certlist_bytes, signer)
    crl = x509.load_der_x509_crl(der)
    if not crl.is_signature_valid(pub):
        raise PkiError("the token's signature over the CRL does not verify")
    return crl
