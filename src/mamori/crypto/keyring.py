"""A passphrase-protected local keyring of AES-256 key-encryption keys.

The file (JSON, mode 0600) records its KDF and parameters (scrypt N, r, p, salt), so they
can be raised later without breaking old files. Each KEK is stored AES-256-GCM-encrypted
under the scrypt-derived key with its id as AAD; a wrong passphrase fails authentication.
``rotate`` adds a new active KEK; old ones stay to unwrap older files until they are
rewrapped (``mamori seal rewrap``) and ``retire``d.
"""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from mamori.crypto.errors import KeyUnavailable, SealError
from mamori.crypto.format import Recipient, b64, unb64
from mamori.secrets.value import Secret
from mamori.util.files import read_bounded

PROVIDER = "keyring"
FORMAT = "mamori-keyring"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 17, 8, 1  # 128 MiB, about 0.3 s: the interactive-login recommendation
MAX_KEYRING = 1 << 20
_WRAP_AAD = b"mamori-seal/v1 keyring wrap\x00"
_PARAMS = {"alg": "A256GCM", "kdf": "scrypt"}


class KeyringError(SealError):
    pass


@dataclass(frozen=True, slots=True)
class KdfParams:
    n: int
    r: int
    p: int
    salt: bytes

    def derive(self, passphrase: Secret) -> bytes:
        if not (1 << 10 <= self.n <= 1 << 22 and self.n & (self.n - 1) == 0 and 1 <= self.r <= 32 and
                1 <= self.p <= 16):
            raise KeyringError("keyring scrypt parameters out of range")
        return Scrypt(self.salt, 32, self.n, self.r, self.p).derive(passphrase.reveal_bytes())

    def to_json(self) -> dict[str, Any]:
        return {"name": "scrypt", "n": self.n, "r": self.r, "p": self.p, "salt": b64(self.salt)}


def default_path() -> str:
    env = os.environ.get("MAMORI_KEYRING")
    if env:
        return env
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "mamori", "keyring.json")


class Keyring:
    """KEKs kept in a file, decrypted in memory with the passphrase."""

    def __init__(self, path: str, kdf: KdfParams, keys: dict[str, bytes], created: dict[str, str], active: str,
                 master: bytes) -> None:
        self.path = path
        self.kdf = kdf
        self._keys = keys
        self._created = created
        self.active = active
        self._master = master

    # --- files ------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str, passphrase: Secret, *, n: int = SCRYPT_N, r: int = SCRYPT_R,
               p: int = SCRYPT_P) -> Keyring:
        if os.path.lexists(path):
            raise KeyringError(f"keyring {path} already exists")
        if len(passphrase) < 8:
            raise KeyringError("keyring passphrase must be at least 8 characters")
        kdf = KdfParams(n, r, p, os.urandom(16))
        ring = cls(path, kdf, {}, {}, "", kdf.derive(passphrase))
        ring.rotate()
        return ring

    @classmethod
    def open(cls, path: str, passphrase: Secret) -> Keyring:
        raw = read_bounded(path, MAX_KEYRING, "keyring", KeyringError)
        try:
            doc = json.loads(raw)
            if doc.get("format") != FORMAT or doc.get("version") != 1:
                raise KeyringError(f"{path} is not a version-1 mamori keyring")
            kdf_doc = doc["kdf"]
            if kdf_doc.get("name") != "scrypt":
                raise KeyringError(f"keyring {path}: unsupported KDF {str(kdf_doc.get('name'))[:40]!r}")
            kdf = KdfParams(int(kdf_doc["n"]), int(kdf_doc["r"]), int(kdf_doc["p"]), unb64(kdf_doc["salt"], "salt"))
            entries = [(str(k["id"]), str(k["created"]), unb64(k["key"], "key")) for k in doc["keys"]]
            active = str(doc["active"])
        except KeyringError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, SealError):
            raise KeyringError(f"keyring {path} is malformed") from None
        master = kdf.derive(passphrase)
        keys: dict[str, bytes] = {}
        created: dict[str, str] = {}
        for kid, when, blob in entries:
            try:
                keys[kid] = AESGCM(master).decrypt(blob[:12], blob[12:], _key_aad(kid))
            except (InvalidTag, ValueError):
                raise KeyringError(f"wrong passphrase for keyring {path} (or the keyring was modified)") from None
            created[kid] = when
        if active not in keys:
            raise KeyringError(f"keyring {path} has no active key")
        return cls(path, kdf, keys, created, active, master)

    def save(self) -> None:
        doc = {"format": FORMAT, "version": 1, "kdf": self.kdf.to_json(), "active": self.active, "keys": [
            {"id": kid, "created": self._created[kid], "key": b64(self._seal_key(kid))} for kid in self._keys]}
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".keyring-", dir=directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=2)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _seal_key(self, kid: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self._master).encrypt(nonce, self._keys[kid], _key_aad(kid))

    # --- keys -------------------------------------------------------------------------------
    def rotate(self) -> str:
        """Add a new KEK, make it active and save; the old ones still unwrap."""
        kid = f"kr-{datetime.now(UTC):%Y%m%d}-{pysecrets.token_hex(4)}"
        self._keys[kid] = os.urandom(32)
        self._created[kid] = datetime.now(UTC).isoformat(timespec="seconds")
        self.active = kid
        self.save()
        return kid

    def retire(self, kid: str) -> None:
        """Remove a KEK; files still wrapped under it cannot be unsealed any more."""
        if kid == self.active:
            raise KeyringError("cannot retire the active key: rotate first")
        if kid not in self._keys:
            raise KeyringError(f"no key {kid!r} in keyring {self.path}")
        del self._keys[kid]
        del self._created[kid]
        self.save()

    def key_ids(self) -> list[tuple[str, str, bool]]:
        return [(kid, self._created[kid], kid == self.active) for kid in self._keys]

    def wrapper(self, kid: str | None = None) -> KeyringKey:
        kid = kid or self.active
        if kid not in self._keys:
            raise KeyringError(f"no key {kid!r} in keyring {self.path}")
        return KeyringKey(self, kid)

    def _kek(self, kid: str) -> bytes | None:
        return self._keys.get(kid)


def _key_aad(kid: str) -> bytes:
    return b"mamori-keyring/v1 key\x00" + kid.encode()


class KeyringKey:
    """Wraps with one keyring KEK (AES-256-GCM, AAD = key id and header digest); unwraps with any KEK of the ring."""

    provider = PROVIDER

    def __init__(self, ring: Keyring, kid: str) -> None:
        self.ring = ring
        self.key_id = kid

    def wrap(self, dek: bytes, aad: bytes) -> Recipient:
        kek = self.ring._kek(self.key_id)
        if kek is None:
            raise KeyringError(f"no key {self.key_id!r} in keyring {self.ring.path}")
        nonce = os.urandom(12)
        ct = AESGCM(kek).encrypt(nonce, dek, _WRAP_AAD + self.key_id.encode() + b"\x00" + aad)
        return Recipient(PROVIDER, self.key_id, nonce + ct, dict(_PARAMS))

    def can_unwrap(self, recipient: Recipient) -> bool:
        return recipient.provider == PROVIDER

    def unwrap(self, recipient: Recipient, aad: bytes) -> bytes:
        if recipient.params != _PARAMS:
            raise KeyUnavailable(f"keyring recipient {recipient.key_id!r} has unexpected parameters (modified?)")
        kek = self.ring._kek(recipient.key_id)
        if kek is None:
            raise KeyUnavailable(f"keyring {self.ring.path} has no key {recipient.key_id!r} (retired or another "
                                 "keyring)")
        blob = recipient.wrapped
        try:
            return AESGCM(kek).decrypt(blob[:12], blob[12:], _WRAP_AAD + recipient.key_id.encode() + b"\x00" + aad)
        except (InvalidTag, ValueError):
            raise KeyUnavailable(f"keyring key {recipient.key_id!r} does not open this file's data key (wrong key, "
                                 "or the header or wrapped key was modified)") from None
