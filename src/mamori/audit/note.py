"""Signed notes (golang.org/x/mod/sumdb/note, C2SP signed-note) and tlog checkpoints.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <name> <base64(key id || signature)>``. The key id is the first four bytes of
SHA-256(name || 0x0A || 0x01 || Ed25519 public key). A checkpoint is a note whose text is
``<origin>\\n<size>\\n<base64 root>\\n`` (C2SP tlog-checkpoint). Signing sits behind the
:class:`Signer` protocol so certificate-backed keys can replace the key file later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = 0x01
DASH = "\u2014"
MAX_NOTE = 16 * 1024
MAX_SIGNATURES = 100
_NAME = re.compile(r"[^\s+\u2014]{1,128}")
_ORIGIN = re.compile(r"[^\n]{1,256}")


class NoteError(ValueError):
    """A malformed note or checkpoint, or one no trusted key signed."""


class Signer(Protocol):
    """What signs checkpoints: a key file today, a certificate-backed key after the PKI work."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...

    def verifier(self) -> Verifier: ...


class Verifier(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, message: bytes, signature: bytes) -> bool: ...

    def encode(self) -> str: ...


def key_id(name: str, alg: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public).digest()[:4]


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise NoteError(f"key name {name!r}: 1-128 characters, no spaces, '+' or em dash")
    return name


@dataclass(frozen=True, slots=True)
class Ed25519Verifier:
    name: str
    public: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, ALG_ED25519, self.public)

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def encode(self) -> str:
        """The sumdb verifier key string ``name+hex(key id)+base64(0x01 || public key)``."""
        blob = base64.b64encode(bytes([ALG_ED25519]) + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"


@dataclass(frozen=True, slots=True)
class Ed25519Signer:
    name: str
    key: ed25519.Ed25519PrivateKey

    @property
    def public(self) -> bytes:
        return self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, ALG_ED25519, self.public)

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)

    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(self.name, self.public)


def parse_verifier(text: str) -> Ed25519Verifier:
    """Read a verifier key string (as written by ``mamori log keygen`` into FILE.pub)."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError("a verifier key is name+keyid+base64(key)")
    name, kid, blob = parts
    check_name(name)
    try:
        raw = base64.b64decode(blob, validate=True)
    except binascii.Error:
        raise NoteError("the verifier key is not valid base64") from None
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise NoteError("only Ed25519 verifier keys (type 0x01, 32 bytes) are supported")
    v = Ed25519Verifier(name, raw[1:])
    if v.key_id.hex() != kid.lower():
        raise NoteError("the verifier key's id does not match its name and key")
    return v


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    signatures: tuple[Signature, ...]


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("note text must end in a newline and contain no blank line")
    lines = []
    for s in signers:
        sig = base64.b64encode(s.key_id + s.sign(text.encode())).decode()
        lines.append(f"{DASH} {check_name(s.name)} {sig}\n")
    return text + "\n" + "".join(lines)


def parse_note(note: str) -> Note:
    if len(note) > MAX_NOTE:
        raise NoteError(f"note longer than {MAX_NOTE} bytes")
    text, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise NoteError("not a signed note: no blank line before signature lines ending in a newline")
    out = []
    for line in sigs[:-1].split("\n"):
        m = re.fullmatch(DASH + r" (\S+) (\S+)", line)
        if not m:
            raise NoteError(f"malformed signature line {line[:80]!r}")
        try:
            raw = base64.b64decode(m.group(2), validate=True)
        except binascii.Error:
            raise NoteError("signature is not valid base64") from None
        if len(raw) < 5:
            raise NoteError("signature too short")
        out.append(Signature(m.group(1), raw[:4], raw[4:]))
    if len(out) > MAX_SIGNATURES:
        raise NoteError(f"more than {MAX_SIGNATURES} signatures")
    return Note(text + "\n", tuple(out))


def verify_note(note: str, verifiers: Sequence[Verifier]) -> tuple[Note, list[str]]:
    """The note and the names of trusted keys that signed it; unknown keys are ignored (C2SP)."""
    n = parse_note(note)
    good = []
    for s in n.signatures:
        for v in verifiers:
            if v.name == s.name and v.key_id == s.key_id:
                if not v.verify(n.text.encode(), s.signature):
                    raise NoteError(f"invalid signature by key {s.name}")
                good.append(s.name)
    if not good:
        raise NoteError("no trusted key signed this note" + (
            f" (signed by {', '.join(sorted({s.name for s in n.signatures}))})" if n.signatures else ""))
    return n, good


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint is origin, size and root hash lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not _ORIGIN.fullmatch(origin):
        raise NoteError("bad checkpoint origin line")
    if not re.fullmatch(r"0|[1-9][0-9]{0,18}", size):
        raise NoteError(f"bad checkpoint size {size[:30]!r}")
    try:
        raw = base64.b64decode(root, validate=True)
    except binascii.Error:
        raise NoteError("checkpoint root is not valid base64") from None
    if len(raw) != 32:
        raise NoteError("checkpoint root is not 32 bytes")
    return Checkpoint(origin, int(size), raw)


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> str:
    return sign_note(cp.text(), [signer])


def open_checkpoint(note: str, verifiers: Sequence[Verifier]) -> Checkpoint:
    """Verify the signature, then parse the body: never trust a checkpoint before its signature."""
    n, _ = verify_note(note, verifiers)
    return parse_checkpoint(n.text)


def split_notes(text: str) -> list[str]:
    """Notes written one after another, each followed by a blank line (a witness file)."""
    parts = text.split("\n\n")
    notes = []
    for i in range(0, len(parts) - 1, 2):
        notes.append(parts[i] + "\n\n" + parts[i + 1] + "\n")
    rest = "".join(parts[len(notes) * 2:]).strip()
    if rest:
        raise NoteError("trailing text after the last checkpoint")
    return notes
