"""Content digests: every manifest, config and layer is checked against the digest that named it."""

from __future__ import annotations

import hashlib
import io
import re
from typing import IO

from mamori.image.errors import ImageError

_DIGEST = re.compile(r"^(sha256|sha512):([a-f0-9]+)$")
_LENGTH = {"sha256": 64, "sha512": 128}


def parse(digest: str) -> tuple[str, str]:
    """Split ``alg:hex``; refuse anything else (a digest is also used as a file name)."""
    m = _DIGEST.match(digest)
    if not m or len(m.group(2)) != _LENGTH[m.group(1)]:
        raise ImageError(f"invalid digest {digest[:100]!r}")
    return m.group(1), m.group(2)


def of(data: bytes, alg: str = "sha256") -> str:
    return f"{alg}:{hashlib.new(alg, data).hexdigest()}"


def verify(data: bytes, expected: str, what: str) -> None:
    alg, _ = parse(expected)
    got = of(data, alg)
    if got != expected:
        raise ImageError(f"digest mismatch for {what}: expected {expected}, got {got}")


class VerifyingReader(io.RawIOBase):
    """A read-only stream that hashes what passes through and checks digest and size at EOF.

    Layers are streamed, so the check happens when the last byte is read; ``finish`` drains the
    rest so a reader that stops early still gets a verdict.
    """

    def __init__(self, raw: IO[bytes], expected: str, size: int | None, what: str) -> None:
        super().__init__()
        alg, _ = parse(expected)
        self._raw, self._expected, self._size, self._what = raw, expected, size, what
        self._hash = hashlib.new(alg)
        self._alg = alg
        self.count = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._take(len(buf))
        buf[:len(data)] = data
        return len(data)

    def read(self, n: int | None = -1) -> bytes:
        return self._take(n if n is not None and n >= 0 else -1)

    def _take(self, n: int) -> bytes:
        data = self._raw.read(n)
        if data:
            self._hash.update(data)
            self.count += len(data)
            if self._size is not None and self.count > self._size:
                raise ImageError(f"{self._what} is larger than its descriptor says ({self._size} bytes)")
        elif n != 0:
            self._check()
        return data

    def _check(self) -> None:
        if self._done:
            return
        self._done = True
        if self._size is not None and self.count != self._size:
            raise ImageError(f"{self._what}: size {self.count} does not match the descriptor's {self._size}")
        got = f"{self._alg}:{self._hash.hexdigest()}"
        if got != self._expected:
            raise ImageError(f"digest mismatch for {self._what}: expected {self._expected}, got {got}")

    def finish(self) -> None:
        while self.read(1 << 20):
            pass
        self._check()
