"""Sign and verify the exact payload bytes the way cosign does: ECDSA-SHA256 (DER), RSA PKCS#1 v1.5, Ed25519."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from mamori.sign.keys import PrivateKey, PublicKey


def _hash(key: PrivateKey | PublicKey) -> hashes.HashAlgorithm:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        size = key.curve.key_size
        return hashes.SHA384() if size == 384 else hashes.SHA512() if size > 384 else hashes.SHA256()
    return hashes.SHA256()


def sign(key: PrivateKey, payload: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(payload, ec.ECDSA(_hash(key)))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(payload)
    return key.sign(payload, padding.PKCS1v15(), hashes.SHA256())


def verify(key: PublicKey, signature: bytes, payload: bytes) -> bool:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, payload, ec.ECDSA(_hash(key)))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, payload)
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True
