"""Streaming AEAD: AES-256-GCM over fixed-size segments, like STREAM / age / Tink streaming AEAD.

The payload key is HKDF-SHA256(data key, salt, "mamori-seal/v1 payload"), fresh per file
because the data key is. Segment ``i`` is encrypted with nonce ``prefix(7) || i (u32) ||
last (u8)`` and AAD ``header digest (32) || i (u32) || last (u8)``, so a changed header,
a reordered, dropped, duplicated or appended segment and a truncation at a segment
boundary (the last present segment was not sealed as last) all fail authentication.
Memory stays at about two segments whatever the file size.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mamori.crypto.errors import ContextMismatch, FormatError, IntegrityError, KeyUnavailable, SealError
from mamori.crypto.format import (
    KINDS,
    NONCE_PREFIX,
    SALT,
    SEGMENT,
    TAG,
    Envelope,
    Header,
    Recipient,
    check_context,
    read_envelope,
)
from mamori.crypto.keys import KeyUnwrapper, KeyWrapper

MAX_SEGMENTS = 1 << 32
_INFO = b"mamori-seal/v1 payload"


def _payload_key(dek: bytes, header: Header) -> AESGCM:
    key = HKDF(hashes.SHA256(), 32, header.salt, _INFO).derive(dek)
    return AESGCM(key)


def _nonce_aad(header: Header, digest: bytes, index: int, last: bool) -> tuple[bytes, bytes]:
    if index >= MAX_SEGMENTS:
        raise SealError("file too large for one sealed stream (2^32 segments)")
    tail = struct.pack(">IB", index, 1 if last else 0)
    return header.prefix + tail, digest + tail


class SealWriter:
    """A write-only file object that seals what is written to ``dst``; ``close()`` writes the final segment."""

    def __init__(self, dst: IO[bytes], wrappers: Sequence[KeyWrapper], *, context: Mapping[str, str] | None = None,
                 kind: str = "file", segment: int = SEGMENT) -> None:
        if not wrappers:
            raise SealError("no key to seal with")
        if kind not in KINDS:
            raise SealError(f"unknown kind {kind!r}")
        dek = os.urandom(32)
        self.header = Header(segment, os.urandom(SALT), os.urandom(NONCE_PREFIX), os.urandom(16).hex(),
                             check_context(dict(context or {})), kind)
        self._digest = self.header.digest()
        recipients = tuple(w.wrap(dek, self._digest) for w in wrappers)
        self._aead = _payload_key(dek, self.header)
        self._dst = dst
        self._buf = bytearray()
        self._index = 0
        self._closed = False
        self.bytes_in = 0
        dst.write(Envelope(self.header, recipients).encode())

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError("write to a closed SealWriter")
        self._buf += data
        seg = self.header.segment
        while len(self._buf) > seg:  # strictly more: the segment is not the last one
            self._emit(bytes(self._buf[:seg]), last=False)
            del self._buf[:seg]
        self.bytes_in += len(data)
        return len(data)

    def _emit(self, plain: bytes, *, last: bool) -> None:
        nonce, aad = _nonce_aad(self.header, self._digest, self._index, last)
        self._dst.write(self._aead.encrypt(nonce, plain, aad))
        self._index += 1

    def close(self) -> None:
        if not self._closed:
            self._emit(bytes(self._buf), last=True)
            self._buf.clear()
            self._closed = True

    def __enter__(self) -> SealWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self._dst.flush()


def seal_stream(src: IO[bytes], dst: IO[bytes], wrappers: Sequence[KeyWrapper], *,
                context: Mapping[str, str] | None = None, kind: str = "file", segment: int = SEGMENT) -> Header:
    """Seal everything read from ``src`` into ``dst`` (whole segments read ahead by one: no re-buffering)."""
    w = SealWriter(dst, wrappers, context=context, kind=kind, segment=segment)
    cur = _read_exact(src, segment)
    while True:
        nxt = _read_exact(src, segment) if len(cur) == segment else b""
        w._emit(cur, last=not nxt)
        if not nxt:
            break
        w.bytes_in += len(cur)
        cur = nxt
    w.bytes_in += len(cur)
    w._closed = True
    return w.header


def unwrap_dek(env: Envelope, unwrappers: Sequence[KeyUnwrapper]) -> bytes:
    """The data key from the first recipient some unwrapper can open; KeyUnavailable lists why none could."""
    digest = env.header.digest()
    reasons: list[str] = []
    for r in env.recipients:
        for u in unwrappers:
            if not u.can_unwrap(r):
                continue
            try:
                dek = u.unwrap(r, digest)
            except KeyUnavailable as exc:
                reasons.append(str(exc))
                continue
            if len(dek) != 32:
                reasons.append(f"{r.provider} key {r.key_id}: unwrapped key has the wrong length")
                continue
            return dek
    wanted = ", ".join(f"{r.provider} key {r.key_id}" for r in env.recipients)
    detail = "; ".join(reasons) if reasons else "no configured key matches"
    raise KeyUnavailable(f"cannot unwrap the data key (sealed for: {wanted}): {detail}")


def _check_context(header: Header, expected: Mapping[str, str] | None) -> None:
    if expected is not None and dict(expected) != header.context:
        raise ContextMismatch("encryption context does not match: the file was sealed for a different context "
                              f"(file has keys {sorted(header.context)}, expected keys {sorted(expected)})")


def _read_exact(src: IO[bytes], n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = src.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def iter_unseal(src: IO[bytes], unwrappers: Sequence[KeyUnwrapper], *,
                context: Mapping[str, str] | None = None) -> Iterator[bytes]:
    """Authenticated plaintext, one segment at a time.

    Segments are yielded as they verify: a consumer must treat the output as untrusted until
    the generator finishes without error (the CLI writes to a temporary file and renames it).
    """
    env = read_envelope(src)
    _check_context(env.header, context)
    aead = _payload_key(unwrap_dek(env, unwrappers), env.header)
    header, digest = env.header, env.header.digest()
    size = header.segment + TAG
    cur = _read_exact(src, size)
    index = 0
    while True:
        if len(cur) < TAG:
            raise IntegrityError("sealed file is truncated: the final segment is missing" if not cur else
                                 f"sealed file is truncated inside segment {index}")
        nxt = _read_exact(src, size) if len(cur) == size else b""
        last = not nxt
        nonce, aad = _nonce_aad(header, digest, index, last)
        try:
            plain = aead.decrypt(nonce, cur, aad)
        except InvalidTag:
            where = "the last segment" if last else f"segment {index}"
            raise IntegrityError(f"sealed file is damaged or was tampered with: {where} failed authentication "
                                 "(modified, truncated, reordered or extended data, or a modified header)") from None
        yield plain
        if last:
            return
        cur, index = nxt, index + 1


def unseal_stream(src: IO[bytes], dst: IO[bytes], unwrappers: Sequence[KeyUnwrapper], *,
                  context: Mapping[str, str] | None = None) -> int:
    """Write the plaintext of ``src`` to ``dst``; the number of bytes. See :func:`iter_unseal` on partial output."""
    total = 0
    for chunk in iter_unseal(src, unwrappers, context=context):
        dst.write(chunk)
        total += len(chunk)
    return total


def rewrap_stream(src: IO[bytes], dst: IO[bytes], unwrappers: Sequence[KeyUnwrapper],
                  wrappers: Sequence[KeyWrapper]) -> Envelope:
    """Copy ``src`` to ``dst`` with the data key re-wrapped under ``wrappers``; the segments are copied unchanged.

    The first segment is authenticated with the unwrapped key before anything is written,
    so a rewrap cannot turn a file sealed under another data key into an unreadable one.
    """
    if not wrappers:
        raise SealError("no key to rewrap to")
    env = read_envelope(src)
    dek = unwrap_dek(env, unwrappers)
    header, digest = env.header, env.header.digest()
    aead = _payload_key(dek, header)
    first = _read_exact(src, header.segment + TAG)
    peek = _read_exact(src, 1) if len(first) == header.segment + TAG else b""
    nonce, aad = _nonce_aad(header, digest, 0, not peek)
    try:
        aead.decrypt(nonce, first, aad)
    except InvalidTag:
        raise IntegrityError("sealed file is damaged or was tampered with: the first segment failed "
                             "authentication, nothing was rewrapped") from None
    new = Envelope(header, tuple(w.wrap(dek, digest) for w in wrappers))
    dst.write(new.encode())
    dst.write(first)
    dst.write(peek)
    while chunk := src.read(1 << 20):
        dst.write(chunk)
    return new


def read_header(src: IO[bytes]) -> Envelope:
    """The header alone (for ``mamori seal inspect``): unauthenticated until a segment verifies."""
    return read_envelope(src)


__all__ = ["FormatError", "Recipient", "SealWriter", "iter_unseal", "read_header", "rewrap_stream", "seal_stream",
           "unseal_stream", "unwrap_dek"]
