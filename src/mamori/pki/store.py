"""The PKI directory: CA certificates, encrypted CA keys, the index of issued serials, the CRL.

Layout under ``--dir`` (0700): ``root.crt``, ``root.key``, ``intermediate.crt``,
``intermediate.key``, ``chain.pem`` (intermediate then root), ``index.json``, ``crl.pem``,
``issued/<serial>.crt``. Writes go through a temporary file and a rename, so a crash never
leaves half an index.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from mamori.pki.errors import PkiError
from mamori.util.files import read_bounded

CaKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
MAX_FILE = 4 * 1024 * 1024
PASSPHRASE_ENV = "MAMORI_PKI_PASSPHRASE"


def default_dir() -> Path:
    home = os.environ.get("MAMORI_HOME") or os.path.join(os.path.expanduser("~"), ".mamori")
    return Path(home) / "pki"


def read_passphrase(path: str | None, env: str = PASSPHRASE_ENV) -> bytes:
    """From a file (first line) or the environment; never from a command-line value."""
    if path:
        from mamori.secrets.sources import SecretError, read_bounded

        try:
            raw = read_bounded(path)
        except SecretError as exc:
            raise PkiError(str(exc)) from None
        value = raw.splitlines()[0] if raw else b""
    else:
        env_value = os.environ.get(env)
        if env_value is None:
            raise PkiError(f"no passphrase: use --passphrase-file or set {env}")
        value = env_value.encode()
    if not value:
        raise PkiError("the passphrase is empty")
    return value


def read_small(path: Path | str, what: str) -> bytes:
    return read_bounded(path, MAX_FILE, what, PkiError)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_certs(data: bytes, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise PkiError(f"{what} holds no valid PEM certificate") from None
    return certs


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def encrypt_key(key: CaKey | Any, passphrase: bytes) -> bytes:
    return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.BestAvailableEncryption(passphrase)))


def decrypt_key(data: bytes, passphrase: bytes, what: str) -> CaKey:
    try:
        key = serialization.load_pem_private_key(data, passphrase)
    except (ValueError, TypeError):
        raise PkiError(f"cannot decrypt {what}: wrong passphrase or damaged key file") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise PkiError(f"{what}: unsupported key type {type(key).__name__}")
    return key


def token_uri(hsm: dict[str, str], name: str) -> str:
    uri = f"pkcs11:token={quote(hsm['token'])};object={quote(hsm[name])}"
    return uri + (f"?module-path={quote(hsm['module'])}" if hsm.get("module") else "")


@dataclass(frozen=True, slots=True)
class Issued:
    serial: str  # hex, lower case
    kind: str  # codesign | workload
    subject: str
    identities: tuple[str, ...]
    not_after: str
    revoked_at: str | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"serial": self.serial, "kind": self.kind, "subject": self.subject,
                "identities": list(self.identities), "not_after": self.not_after,
                "revoked_at": self.revoked_at, "reason": self.reason}


class PkiDir:
    """One PKI directory on disk."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else default_dir()

    def file(self, name: str) -> Path:
        return self.path / name

    def exists(self) -> bool:
        return self.file("root.crt").exists()

    def create(self) -> None:
        if self.exists():
            raise PkiError(f"{self.path} already holds a PKI (root.crt exists)")
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        (self.path / "issued").mkdir(mode=0o700, exist_ok=True)

    def require(self) -> None:
        if not self.exists():
            raise PkiError(f"no PKI in {self.path}: run `mamori pki init` first (or pass --dir)")
        mode = self.path.stat().st_mode & 0o777
        if mode & 0o077:
            raise PkiError(f"{self.path} is accessible by group or others (mode {mode:o}); chmod 700 it")

    def cert(self, name: str) -> x509.Certificate:
        return load_certs(read_small(self.file(f"{name}.crt"), f"{name} certificate"), f"{name}.crt")[0]

    def hsm(self) -> dict[str, str] | None:
        """The token holding the CA keys (``hsm.json``), or None when they are encrypted files."""
        path = self.file("hsm.json")
        if not path.exists():
            return None
        try:
            doc = json.loads(read_small(path, "hsm.json"))
            if not all(isinstance(doc.get(k), str) for k in ("token", "root", "intermediate")):
                raise ValueError
            return {k: v for k, v in doc.items() if isinstance(v, str)}
        except ValueError:
            raise PkiError(f"{path} is damaged") from None

    def key(self, name: str, passphrase: bytes) -> Any:
        """The CA key: an in-memory key from the encrypted file, or a signer on the token."""
        hsm = self.hsm()
        if hsm is not None:
            from mamori.sign.errors import SignError
            from mamori.sign.hsm import Pkcs11Signer

            try:
                return Pkcs11Signer(token_uri(hsm, name))
            except SignError as exc:
                raise PkiError(str(exc)) from None
        return decrypt_key(read_small(self.file(f"{name}.key"), f"{name} key"), passphrase, f"the {name} key")

    # --- index -----------------------------------------------------------------------------------
    def index(self) -> dict[str, Issued]:
        path = self.file("index.json")
        if not path.exists():
            return {}
        try:
            doc = json.loads(read_small(path, "index"))
            return {e["serial"]: Issued(e["serial"], e["kind"], e["subject"], tuple(e["identities"]),
                                        e["not_after"], e.get("revoked_at"), e.get("reason"))
                    for e in doc["issued"]}
        except (ValueError, KeyError, TypeError):
            raise PkiError(f"{path} is damaged") from None

    def save_index(self, entries: dict[str, Issued]) -> None:
        doc = {"version": 1, "issued": [e.to_json() for e in sorted(entries.values(), key=lambda e: e.serial)]}
        write_atomic(self.file("index.json"), json.dumps(doc, indent=1).encode())
