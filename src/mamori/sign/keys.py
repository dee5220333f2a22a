"""cosign's key files: ``ENCRYPTED SIGSTORE PRIVATE KEY`` (and the v1 ``COSIGN`` label) and ``PUBLIC KEY``.

The PEM body is JSON from go-securesystemslib/go-tuf ``encrypted``: scrypt derives a 32-byte key
that seals the PKCS#8 DER private key with NaCl secretbox (XSalsa20-Poly1305). mamori writes
N=32768, r=8, p=1 because go-tuf (used by containers/image <= 5.2x) rejects anything else; it reads
the two stronger settings go-securesystemslib also writes (N=65536, N=131072).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from typing import Any

import nacl.exceptions
import nacl.secret
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from mamori.sign.errors import SignError

SIGSTORE_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_LABEL = "ENCRYPTED COSIGN PRIVATE KEY"
LABELS = (SIGSTORE_LABEL, COSIGN_LABEL)
WRITE_PARAMS = (32768, 8, 1)
READ_PARAMS = frozenset({(32768, 8, 1), (65536, 8, 1), (131072, 8, 1)})
MAX_KEY_FILE = 64 * 1024
SALT_LEN, NONCE_LEN, KEY_LEN = 32, 24, 32

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
PRIVATE_KEY_TYPES = (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or len(text) > MAX_KEY_FILE:
        raise SignError(f"encrypted key: {what} is not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SignError(f"encrypted key: {what} is not valid base64") from None


def _scrypt(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(passphrase, salt=salt, n=n, r=r, p=p, dklen=KEY_LEN, maxmem=256 * 1024 * 1024)


def encrypt(plaintext: bytes, passphrase: bytes) -> bytes:
    """go-securesystemslib ``encrypted.Encrypt`` with the legacy (go-tuf compatible) scrypt parameters."""
    n, r, p = WRITE_PARAMS
    salt, nonce = os.urandom(SALT_LEN), os.urandom(NONCE_LEN)
    box = nacl.secret.SecretBox(_scrypt(passphrase, salt, n, r, p))
    ciphertext = box.encrypt(plaintext, nonce).ciphertext
    doc = {"kdf": {"name": "scrypt", "params": {"N": n, "r": r, "p": p}, "salt": _b64(salt)},
           "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)}, "ciphertext": _b64(ciphertext)}
    return json.dumps(doc, separators=(",", ":")).encode()


def decrypt(blob: bytes, passphrase: bytes) -> bytes:
    """Open an ``encrypted`` JSON blob; refuses unknown KDFs, ciphers and scrypt parameters."""
    if len(blob) > MAX_KEY_FILE:
        raise SignError("encrypted key is too large")
    try:
        doc = json.loads(blob)
        kdf, cipher = doc["kdf"], doc["cipher"]
        params = kdf["params"]
        name, cname = kdf["name"], cipher["name"]
        n, r, p = params["N"], params["r"], params["p"]
    except (ValueError, KeyError, TypeError):
        raise SignError("encrypted key: not the cosign/go-tuf JSON format") from None
    if name != "scrypt" or cname != "nacl/secretbox":
        raise SignError(f"encrypted key: unsupported kdf/cipher {str(name)[:20]!r}/{str(cname)[:20]!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, r, p)) or (n, r, p) not in READ_PARAMS:
        raise SignError("encrypted key: unsupported scrypt parameters")
    salt = _unb64(kdf.get("salt"), "salt")
    nonce = _unb64(cipher.get("nonce"), "nonce")
    ciphertext = _unb64(doc.get("ciphertext"), "ciphertext")
    if len(nonce) != NONCE_LEN or not salt:
        raise SignError("encrypted key: bad nonce or salt length")
    box = nacl.secret.SecretBox(_scrypt(passphrase, salt, n, r, p))
    try:
        return box.decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise SignError("encrypted key: wrong passphrase or corrupted key file") from None


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """(label, DER/body) of every PEM block; bounded by the caller's file limit."""
    out: list[tuple[str, bytes]] = []
    label: str | None = None
    body: list[str] = []
    for raw in data.decode("ascii", "replace").splitlines():
        line = raw.strip()
        if line.startswith("-----BEGIN ") and line.endswith("-----"):
            label, body = line[11:-5], []
        elif line.startswith("-----END ") and label is not None:
            if line[9:-5] != label:
                raise SignError(f"PEM block {label!r} ends with a different label")
            try:
                out.append((label, base64.b64decode("".join(body), validate=True)))
            except (binascii.Error, ValueError):
                raise SignError(f"PEM block {label!r} is not valid base64") from None
            label = None
        elif label is not None and line and ":" not in line:
            body.append(line)
    return out


def encrypted_pem(key: PrivateKey, passphrase: bytes, label: str = SIGSTORE_LABEL) -> bytes:
    """The private key as cosign writes it (``cosign generate-key-pair``)."""
    if label not in LABELS:
        raise SignError(f"unknown PEM label {label!r}")
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    body = _b64(encrypt(der, passphrase))
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return (f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n").encode()


def public_pem(key: PrivateKey | PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey |
                                          rsa.RSAPrivateKey) else key
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _check_private(key: object) -> PrivateKey:
    if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        return key
    raise SignError(f"unsupported private key type {type(key).__name__} (ECDSA, Ed25519 or RSA)")


def load_private(data: bytes, passphrase: bytes | None) -> PrivateKey:
    """A cosign encrypted key, or a PKCS#8 ``PRIVATE KEY`` / ``ENCRYPTED PRIVATE KEY`` (e.g. from ``mamori pki``)."""
    if len(data) > MAX_KEY_FILE:
        raise SignError("key file is too large")
    blocks = _pem_blocks(data)
    if not blocks:
        raise SignError("key file holds no PEM block")
    label, body = blocks[0]
    if label in LABELS:
        der = decrypt(body, passphrase or b"")
        try:
            return _check_private(serialization.load_der_private_key(der, None))
        except ValueError:
            raise SignError("encrypted key: the decrypted content is not a PKCS#8 private key") from None
    if label in ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY"):
        try:
            return _check_private(serialization.load_pem_private_key(
                data, passphrase if label == "ENCRYPTED PRIVATE KEY" else None))
        except (ValueError, TypeError):
            raise SignError("cannot load the private key (wrong passphrase or not a key)") from None
    raise SignError(f"unsupported key PEM label {label!r}")


def load_public(data: bytes) -> PublicKey:
    """A ``PUBLIC KEY`` PEM (SubjectPublicKeyInfo) or the public key of a ``CERTIFICATE``."""
    if len(data) > MAX_KEY_FILE:
        raise SignError("public key file is too large")
    from cryptography import x509

    blocks = _pem_blocks(data)
    if not blocks:
        raise SignError("public key file holds no PEM block")
    label, der = blocks[0]
    try:
        if label == "PUBLIC KEY":
            key: object = serialization.load_der_public_key(der)
        elif label == "CERTIFICATE":
            key = x509.load_der_x509_certificate(der).public_key()
        else:
            raise SignError(f"unsupported public key PEM label {label!r}")
    except ValueError:
        raise SignError("cannot parse the public key") from None
    if isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        return key
    raise SignError(f"unsupported public key type {type(key).__name__}")


def key_id(key: PublicKey) -> str:
    """A short stable name for a public key: sha256 of its SubjectPublicKeyInfo DER."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()[:16]


def generate() -> ec.EllipticCurvePrivateKey:
    """cosign's default key type: ECDSA P-256."""
    return ec.generate_private_key(ec.SECP256R1())
