"""The sealed-file format, version 1 (docs/crypto.md has the byte-level table).

::

    magic "MAMSEAL" | version 0x01 | u32 N | bound header (N bytes JSON)
                                   | u32 M | recipients (M bytes JSON) | segments...

The *bound header* (algorithm, segment size, HKDF salt, nonce prefix, data-key id, kind,
context) is authenticated by every segment: its SHA-256 (with magic and version) is part of
each segment's AAD. The *recipients* (the data key wrapped by one or more key-encryption
keys) are not, so ``rewrap`` can replace them without touching the data; each wrap is
authenticated by its own KEK (and the keyring binds the header hash as AAD too); every
recipient field is either used to find the key or checked exactly, and both JSON blocks
must be in canonical form, so no byte of a sealed file can change without an error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from mamori.crypto.errors import FormatError

MAGIC = b"MAMSEAL"
VERSION = 1
ALG = "AES-256-GCM-HKDF-SHA256-STREAM"
SEGMENT = 64 * 1024
MIN_SEGMENT, MAX_SEGMENT = 1024, 16 << 20
TAG = 16
NONCE_PREFIX = 7
SALT = 32
MAX_BLOCK = 64 * 1024  # either JSON block
MAX_CONTEXT = 64  # context entries
KINDS = ("file", "tar")  # "tar": a directory bundle, a tar stream sealed the same way
_CTX_KEY = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")


def canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: object, what: str, size: int | None = None) -> bytes:
    if not isinstance(text, str):
        raise FormatError(f"header field {what} is not a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise FormatError(f"header field {what} is not valid base64") from None
    if size is not None and len(raw) != size:
        raise FormatError(f"header field {what} must be {size} bytes")
    if b64(raw) != text:
        raise FormatError(f"header field {what} is not canonical base64")  # unused padding bits would be malleable
    return raw


def check_context(ctx: Mapping[str, str]) -> dict[str, str]:
    if len(ctx) > MAX_CONTEXT:
        raise FormatError(f"more than {MAX_CONTEXT} context entries")
    out: dict[str, str] = {}
    for k, v in ctx.items():
        if not isinstance(k, str) or not _CTX_KEY.match(k) or not isinstance(v, str) or len(v) > 1024:
            raise FormatError(f"invalid context entry {str(k)[:40]!r} (keys: letters, digits, ._:/-; values <= 1 KiB)")
        out[k] = v
    return out


@dataclass(frozen=True, slots=True)
class Recipient:
    """The data key wrapped by one key-encryption key; ``params`` say how to find that key again."""

    provider: str
    key_id: str
    wrapped: bytes
    params: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"provider": self.provider, "key_id": self.key_id, "wrapped": b64(self.wrapped), "params": self.params}

    @classmethod
    def from_json(cls, obj: object) -> Recipient:
        if not isinstance(obj, dict) or set(obj) != {"provider", "key_id", "wrapped", "params"}:
            raise FormatError("recipient must be an object with exactly provider, key_id, wrapped, params")
        provider, key_id, params = obj.get("provider"), obj.get("key_id"), obj.get("params", {})
        if not isinstance(provider, str) or not isinstance(key_id, str) or not isinstance(params, dict) or any(
                not isinstance(k, str) or not isinstance(v, str) for k, v in params.items()):
            raise FormatError("recipient needs provider, key_id (strings) and params (string map)")
        return cls(provider, key_id, unb64(obj.get("wrapped"), "wrapped"), dict(params))


@dataclass(frozen=True, slots=True)
class Header:
    segment: int
    salt: bytes
    prefix: bytes
    dek_id: str
    context: dict[str, str]
    kind: str = "file"
    alg: str = ALG

    def bound(self) -> bytes:
        return canonical({"alg": self.alg, "seg": self.segment, "salt": b64(self.salt), "prefix": b64(self.prefix),
                          "dek": self.dek_id, "ctx": self.context, "kind": self.kind})

    def digest(self) -> bytes:
        """SHA-256 over magic, version and the bound header: the AAD prefix of every segment and of keyring wraps."""
        bound = self.bound()
        return hashlib.sha256(MAGIC + bytes([VERSION]) + struct.pack(">I", len(bound)) + bound).digest()

    @classmethod
    def parse(cls, raw: bytes) -> Header:
        try:
            obj = json.loads(raw)
        except ValueError:
            raise FormatError("bound header is not JSON") from None
        if not isinstance(obj, dict):
            raise FormatError("bound header is not an object")
        if obj.get("alg") != ALG:
            raise FormatError(f"unsupported algorithm {str(obj.get('alg'))[:60]!r}")
        seg = obj.get("seg")
        if not isinstance(seg, int) or not MIN_SEGMENT <= seg <= MAX_SEGMENT:
            raise FormatError("segment size out of range")
        kind, dek, ctx = obj.get("kind"), obj.get("dek"), obj.get("ctx")
        if kind not in KINDS or not isinstance(dek, str) or not re.fullmatch(r"[0-9a-f]{32}", dek):
            raise FormatError("bad kind or data-key id")
        if not isinstance(ctx, dict):
            raise FormatError("context is not an object")
        header = cls(seg, unb64(obj.get("salt"), "salt", SALT), unb64(obj.get("prefix"), "prefix", NONCE_PREFIX),
                     dek, check_context(ctx), str(kind))
        if header.bound() != raw:
            raise FormatError("bound header is not in canonical form")
        return header


@dataclass(frozen=True, slots=True)
class Envelope:
    header: Header
    recipients: tuple[Recipient, ...]

    def encode(self) -> bytes:
        bound = self.header.bound()
        rcpt = canonical([r.to_json() for r in self.recipients])
        if len(rcpt) > MAX_BLOCK:
            raise FormatError("too many recipients")
        return MAGIC + bytes([VERSION]) + struct.pack(">I", len(bound)) + bound + struct.pack(">I", len(rcpt)) + rcpt


def _read_exact(src: IO[bytes], n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = src.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def read_envelope(src: IO[bytes]) -> Envelope:
    """Parse the header; the stream is left at the first segment."""
    head = _read_exact(src, len(MAGIC) + 1 + 4)
    if len(head) < len(MAGIC) + 1 or head[: len(MAGIC)] != MAGIC:
        raise FormatError("not a mamori sealed file (bad magic)")
    if head[len(MAGIC)] != VERSION:
        raise FormatError(f"unsupported sealed-file version {head[len(MAGIC)]} (this mamori reads version {VERSION})")
    if len(head) < len(MAGIC) + 5:
        raise FormatError("truncated header")
    (n,) = struct.unpack(">I", head[-4:])
    if not 0 < n <= MAX_BLOCK:
        raise FormatError("bound header length out of range")
    bound = _read_exact(src, n)
    if len(bound) != n:
        raise FormatError("truncated header")
    header = Header.parse(bound)
    raw_m = _read_exact(src, 4)
    if len(raw_m) != 4:
        raise FormatError("truncated header")
    (m,) = struct.unpack(">I", raw_m)
    if not 0 < m <= MAX_BLOCK:
        raise FormatError("recipients length out of range")
    raw = _read_exact(src, m)
    if len(raw) != m:
        raise FormatError("truncated header")
    try:
        items = json.loads(raw)
    except ValueError:
        raise FormatError("recipients are not JSON") from None
    if not isinstance(items, list) or not items or len(items) > 16:
        raise FormatError("recipients must be a list of 1 to 16 entries")
    env = Envelope(header, tuple(Recipient.from_json(i) for i in items))
    if canonical([r.to_json() for r in env.recipients]) != raw:
        raise FormatError("recipients are not in canonical form")
    return env
