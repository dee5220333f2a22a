"""Checkpoint key files: an Ed25519 private key in PKCS#8 PEM, optionally passphrase-encrypted.

The key name (the signed-note key name) is a ``mamori-key-name:`` line before the PEM block;
``FILE.pub`` holds the verifier key string that auditors keep.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from mamori.audit.note import Ed25519Signer, Ed25519Verifier, NoteError, check_name, parse_verifier
from mamori.util.files import read_bounded

MAX_KEY_FILE = 16 * 1024
_PREFIX = "mamori-key-name:"


class KeyFileError(ValueError):
    """A key file that cannot be used; the message says why (never the passphrase)."""


def generate(path: Path, name: str, passphrase: bytes | None = None) -> Ed25519Signer:
    check_name(name)
    key = ed25519.Ed25519PrivateKey.generate()
    enc = BestAvailableEncryption(passphrase) if passphrase else NoEncryption()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, enc).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(f"{_PREFIX} {name}\n{pem}")
    signer = Ed25519Signer(name, key)
    Path(f"{path}.pub").write_text(signer.verifier().encode() + "\n", encoding="ascii")
    return signer


def load_signer(path: str | Path, passphrase: bytes | None = None) -> Ed25519Signer:
    raw = read_bounded(path, MAX_KEY_FILE, "key file", KeyFileError)
    text = raw.decode("ascii", "replace")
    head, sep, pem = text.partition("-----BEGIN")
    name = ""
    for line in head.splitlines():
        if line.startswith(_PREFIX):
            name = line[len(_PREFIX):].strip()
    if not sep:
        raise KeyFileError(f"{path} holds no PEM private key")
    if not name:
        raise KeyFileError(f"{path} has no '{_PREFIX} NAME' line before the key")
    try:
        check_name(name)
        key = load_pem_private_key((sep + pem).encode(), password=passphrase or None)
    except TypeError:
        raise KeyFileError(f"{path} is encrypted: give its passphrase" if not passphrase
                        else f"{path} is not encrypted: give no passphrase") from None
    except (ValueError, NoteError) as exc:
        msg = "wrong passphrase or damaged key" if passphrase else str(exc).splitlines()[0][:200]
        raise KeyFileError(f"cannot load {path}: {msg}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 key")
    return Ed25519Signer(name, key)


def load_verifier(value: str) -> Ed25519Verifier:
    """A verifier key string, or a file holding one."""
    text = value
    if "+" not in value or os.path.exists(value):
        try:
            with open(value, encoding="ascii") as fh:
                text = fh.read(4096)
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"cannot read public key {value}: {exc}") from None
    try:
        return parse_verifier(text)
    except NoteError as exc:
        raise KeyFileError(f"public key {value}: {exc}") from None
